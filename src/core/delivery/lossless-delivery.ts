/**
 * Delivery of a channel whose plugin delivers immediately (events such as executions): every valid message
 * becomes one frame at once, stamped with its position (`seq`, `epoch`), serialised once, kept in
 * the channel's history for resumes, and queued losslessly to every recipient.
 *
 * Positions come from JetStream (the stream sequence) when the channel has a stream, else from a
 * counter of this process. A connection with a resume under way gets its live frames through its
 * ResumeGate, which holds them until the replay is out.
 */
import type { ClientSession } from "../client-session.js";
import { encodeTextFrame } from "../frame-encoder.js";
import type { ChannelHistory, HistoryEntry, StoredPosition } from "../history/channel-history.js";
import type { ResumeGates } from "../history/resume-gate.js";
import type { ChannelLatency } from "../latency/channel-latency.js";
import type { StageStamp } from "../latency/stage-stamp.js";
import type { LosslessChannel } from "../plugin.js";
import type { SubscriptionIndex } from "../subscription-index.js";
import { audienceOfAccount } from "./audience.js";
import type { Delivery, DeliveryCounters } from "./delivery.js";

export class LosslessDelivery implements Delivery {
  readonly counters: DeliveryCounters = { framesOut: 0, keysEvicted: 0, framesFailed: 0 };
  /** `"epoch":"..."` as it goes into every frame, rebuilt when the epoch changes. */
  private epochField = "";
  private epochOfField: string | undefined;

  constructor(
    readonly channel: LosslessChannel,
    private readonly index: SubscriptionIndex,
    readonly history: ChannelHistory,
    /** The resumes under way (their gates hold this channel's live frames for a connection). */
    private readonly gates: ResumeGates,
    /** Per-stage timing (undefined with GATEWAY_TIMING=off). */
    private readonly timing?: ChannelLatency,
  ) {}

  get name(): string {
    return this.channel.plugin.name;
  }

  /**
   * A validated message: stamped, kept, and sent to its recipients. While the history is not
   * ready (JetStream warm-up of the ring after a start) messages are kept only: nobody is owed
   * them live. A stored position at or below the head was taken in already and is ignored.
   */
  accept(message: unknown, position?: StoredPosition, stamp?: StageStamp): void {
    const { history, name } = this;
    if (position !== undefined && position.seq <= history.head) return;
    const entry = this.entryFor(message, position?.seq ?? history.head + 1, position?.timeMs ?? Date.now());
    const previousHead = history.head;
    history.append(entry);
    if (!history.ready) return;
    const mayReceive = audienceOfAccount(this.channel.plugin, entry.account);
    const { frame } = entry;
    const queuedAt = stamp === undefined ? 0 : (this.timing?.now() ?? 0);
    let queued = false;
    this.index.forEachRecipient(name, entry.key, (session) => {
      if (!mayReceive(session)) return;
      const gate = session.gates?.get(name);
      if (gate !== undefined && !this.gates.admit(session, name, gate, entry.seq, frame, previousHead))
        return;
      if (
        stamp !== undefined && session.timing?.has(name)
          ? session.sendTimed(frame, true, stamp.rx)
          : session.send(frame, true)
      )
        queued = true;
      this.counters.framesOut++;
    });
    // One observation per frame, however many clients it went to (latency-recorder.ts).
    if (queued && stamp !== undefined) this.timing?.queued(stamp, queuedAt, false);
  }

  skip(position: StoredPosition): void {
    this.history.advance(position.seq);
  }

  /**
   * The history entry of a message at a position: the frame the plugin builds, with `seq` and
   * `epoch` spliced in, so that a replay from JetStream yields the bytes live delivery sent.
   * The frame's time is the message's storage time, the same on every gateway instance.
   */
  entryFor(message: unknown, seq: number, timeMs: number): HistoryEntry {
    const { plugin } = this.channel;
    const { settings } = this.channel;
    const body = JSON.stringify(plugin.toFrame(message, new Date(timeMs), settings));
    // The loader guarantees a frame is a JSON object with a `type`, so it ends with "}".
    const frame = encodeTextFrame(`${body.slice(0, -1)},"seq":${seq},${this.epochJson()}}`);
    return { seq, key: plugin.key(message, settings), account: plugin.account?.(message, settings), frame };
  }

  /** Is a connection entitled to an entry by its current subscription and token? */
  entitled(session: ClientSession, entry: HistoryEntry): boolean {
    const subscription = session.subscriptions.get(this.name);
    if (subscription === undefined) return false;
    if (entry.key !== undefined && subscription !== "*" && !subscription.has(entry.key)) return false;
    return audienceOfAccount(this.channel.plugin, entry.account)(session);
  }

  private epochJson(): string {
    if (this.epochOfField !== this.history.epoch) {
      this.epochOfField = this.history.epoch;
      this.epochField = `"epoch":${JSON.stringify(this.history.epoch ?? "")}`;
    }
    return this.epochField;
  }
}
