/**
 * Longer than 250 lines: one resume, from the `since` check through the paged replay to the
 * hand-over to live frames, is one sequence whose steps share its state.
 *
 * Resume on subscribe: a `since` position on a lossless channel is answered with `recovered` and,
 * when true, every frame after it that the subscription entitles the client to and this connection
 * was not already sent, in seq order, exactly once; then `replayed`, then live frames.
 *
 * The connection is registered for live frames first, with a ResumeGate holding them; the replay
 * comes from the in-memory ring when it still holds the position, else from JetStream; then the
 * held frames after the last replayed position go out. A replay is paged: a page is queued only
 * once the client has drained the last one, so no client ever has its whole history in memory.
 */
import type { Logger } from "pino";
import type { ClientSession } from "../client-session.js";
import { encodeFrame } from "../frame-encoder.js";
import type { JetStreamLog } from "../ingest/jetstream-log.js";
import type { ResumeFailure, SincePosition } from "../positions.js";
import { isoNow } from "../protocol.js";
import type { ChannelHistory, HistoryEntry, ReportedPosition } from "./channel-history.js";
import type { ResumeGate, ResumeGates } from "./resume-gate.js";
import { type EntryRun, StreamCache } from "./stream-cache.js";

/** Frames queued per replay page from the ring. */
const RING_PAGE = 256;
/** How often a paused replay looks again whether the client has drained its queue. */
const DRAIN_POLL_MS = 5;

/** What a resume needs of a lossless channel's delivery (LosslessDelivery). */
export interface ReplayChannel {
  readonly name: string;
  readonly history: ChannelHistory;
  readonly counters: { framesOut: number };
  /** Is a connection entitled to an entry by its current subscription and token? */
  entitled(session: ClientSession, entry: HistoryEntry): boolean;
  /** The history entry (the frame as live delivery sends it) of a message at a position. */
  entryFor(message: unknown, seq: number, timeMs: number): HistoryEntry;
}

export interface ResumeOptions {
  /** Every connection's resume gates: opened and removed only through a Resumer. */
  gates: ResumeGates;
  /** WEBSOCKET_MAX_REPLAY: the most positions (before filtering) a resume may span. */
  maxReplay: number;
  /** NATS_REPLAY_WAIT_MS: how long to wait for history that needs the NATS link. */
  waitMs: number;
  /** Queued bytes below which the next replay page may go (WEBSOCKET_CONFLATED_DROP_BYTES). */
  drainedBytes: number;
  /** Entries read back from JetStream kept for other replays, per channel (see app.ts). */
  cacheSize: number;
  logger: Logger;
  /** Parse a stored upstream payload as live ingest does; undefined when it is invalid. */
  parse(channel: string, data: Uint8Array): unknown;
  /** The channel's JetStream history, when it has one. */
  logOf(channel: string): JetStreamLog | undefined;
  /** Close a connection whose replay could not be finished (REPLAY_INTERRUPTED). */
  interrupt(session: ClientSession): void;
}

/** Fields the `subscribed` ack gets from the resume. */
export interface ResumeAnswer {
  position?: ReportedPosition;
  recovered: boolean;
  reason?: ResumeFailure;
}

export type ResumeOutcome = "recovered" | ResumeFailure | "interrupted";

export class Resumer {
  /** Resumes by outcome, and frames replayed (for /metrics). */
  readonly counters = { outcomes: {} as Record<ResumeOutcome, number>, framesReplayed: 0 };

  /** Per lossless channel: entries read back from JetStream, shared by its replays. */
  private readonly caches = new Map<string, StreamCache>();

  constructor(private readonly options: ResumeOptions) {}

  private count(outcome: ResumeOutcome): void {
    this.counters.outcomes[outcome] = (this.counters.outcomes[outcome] ?? 0) + 1;
  }

  /** The resume under way on this channel, if any (a second `since` waits for it). */
  running(session: ClientSession, channel: string): ResumeGate | undefined {
    return this.options.gates.running(session, channel);
  }

  /**
   * Resume a connection that has just subscribed with `since`: hold its live frames from now on,
   * decide, answer with `ack`, replay, hand over to live. Call it in the same synchronous step as
   * the subscription, so that no live frame falls between them. Never throws.
   */
  async resume(
    session: ClientSession,
    delivery: ReplayChannel,
    since: SincePosition,
    ack: (answer: ResumeAnswer) => void,
  ): Promise<void> {
    const { history, name } = delivery;
    const gate = this.options.gates.open(session, name);
    const refuse = (reason: ResumeFailure, through: number) => {
      this.count(reason);
      ack({ position: this.position(delivery, through), recovered: false, reason });
      this.release(session, delivery, gate, 0);
    };
    try {
      if (!(await history.whenReady(this.options.waitMs))) return refuse("upstream_unavailable", 0);
      if (session.closing) return this.release(session, delivery, gate, 0);
      const through = gate.replayThrough(history.head);
      if (!history.names(since.epoch)) return refuse("epoch_mismatch", through);
      const log = this.options.logOf(name);
      if (since.seq > through) {
        // Another gateway instance may be a little ahead of this one: the stream says.
        const last = log ? (await this.streamState(log, true))?.lastSeq : through;
        if (last === undefined) return refuse("upstream_unavailable", through);
        if (since.seq > last) {
          // A position no history holds: a client bug, or a stream that lost messages. Worth a line.
          this.options.logger.warn(
            { clientId: session.clientId, channel: name, since: since.seq, head: through, streamLast: last },
            "resume refused: since is beyond the stream's last message",
          );
          return refuse("ahead_of_head", through);
        }
        this.count("recovered");
        ack({ position: this.position(delivery, since.seq), recovered: true });
        this.sendReplayed(session, delivery, 0, since.seq);
        return this.release(session, delivery, gate, since.seq);
      }
      if (through - since.seq > this.options.maxReplay) return refuse("replay_limit", through);
      let count: number;
      if (history.covers(since.seq)) {
        const entries = history
          .entriesBetween(since.seq, through)
          .filter((entry) => this.owed(session, delivery, entry));
        this.count("recovered");
        ack({ position: this.position(delivery, through), recovered: true });
        count = await this.sendPaged(session, delivery, entries);
      } else if (log) {
        const state = await this.streamState(log);
        if (state === undefined) return refuse("upstream_unavailable", through);
        if (since.seq + 1 < state.firstSeq) return refuse("too_old", through);
        this.count("recovered");
        ack({ position: this.position(delivery, through), recovered: true });
        count = await this.replayFromStream(session, delivery, log, since.seq, through);
      } else {
        return refuse("too_old", through);
      }
      if (session.closing) return;
      this.counters.framesReplayed += count;
      this.sendReplayed(session, delivery, count, through);
      this.release(session, delivery, gate, through);
    } catch (error) {
      this.count("interrupted");
      this.options.logger.warn(
        { err: error, clientId: session.clientId, channel: name },
        "replay interrupted; closing the connection so that the client resumes again",
      );
      this.options.interrupt(session);
      this.release(session, delivery, gate, Number.MAX_SAFE_INTEGER);
    }
  }

  /** Is an entry owed to the session: entitled now, and not already sent on this connection? */
  private owed(session: ClientSession, delivery: ReplayChannel, entry: HistoryEntry): boolean {
    if (!delivery.entitled(session, entry)) return false;
    return session.coverage?.get(delivery.name)?.sent(entry.key, entry.seq) !== true;
  }

  private async sendPaged(
    session: ClientSession,
    delivery: ReplayChannel,
    entries: HistoryEntry[],
  ): Promise<number> {
    let sent = 0;
    for (let start = 0; start < entries.length; start += RING_PAGE) {
      if (!(await this.drained(session))) return sent;
      for (const entry of entries.slice(start, start + RING_PAGE))
        sent += this.send(session, delivery, entry.frame);
    }
    return sent;
  }

  /**
   * Positions (after, through] from the stream, through the channel's StreamCache: what another
   * replay has read already (or is reading) is served from memory, what is missing is read a page
   * at a time. Once the ring holds the rest (it keeps the newest positions), the rest comes from
   * the ring: the stream is read only for what the ring no longer has, so the cache holds the same
   * old range for every client of a storm rather than being churned by positions the ring has.
   */
  private async replayFromStream(
    session: ClientSession,
    delivery: ReplayChannel,
    log: JetStreamLog,
    after: number,
    through: number,
  ): Promise<number> {
    const { history } = delivery;
    const cache = this.cacheOf(delivery.name);
    let sent = 0;
    let sinceDrain = 0;
    const deliver = async (entries: Iterable<HistoryEntry | null>) => {
      for (const entry of entries) {
        if (entry === null || !this.owed(session, delivery, entry)) continue;
        if (sinceDrain++ >= RING_PAGE) {
          sinceDrain = 0;
          if (!(await this.drained(session))) throw new Error("client went away during replay");
        }
        sent += this.send(session, delivery, entry.frame);
      }
    };
    for (let next = after + 1; next <= through; ) {
      if (history.covers(next - 1)) {
        // Taken in one synchronous step: the ring's floor cannot move between the check and this.
        await deliver(history.entriesBetween(next - 1, through));
        break;
      }
      // The entries of the consecutive positions from `next` on: one from the cache, or a page.
      let run: EntryRun | undefined;
      if (cache.has(next)) {
        run = [cache.get(next)];
      } else {
        const from = next;
        // Up to the ring's floor only: the positions after it come from the ring.
        const last = Math.min(through, history.floor);
        run = await cache.read(from, () => this.readRun(delivery, log, cache, from, last));
        if (run === undefined) continue; // another replay read it meanwhile: the cache has it
        if (run.length === 0) {
          // Nothing for this channel up to `last` (expired meanwhile, or other subjects only).
          if (last >= through) break;
          next = last + 1;
          continue;
        }
        // A read another replay started may reach past this replay's end: the rest is live.
        run = run.slice(0, through - next + 1);
      }
      await deliver(run);
      next += run.length;
    }
    return sent;
  }

  /** One page of the stream from `from`, as entries; undefined when the cache got it meanwhile. */
  private async readRun(
    delivery: ReplayChannel,
    log: JetStreamLog,
    cache: StreamCache,
    from: number,
    last: number,
  ): Promise<EntryRun | undefined> {
    const page = await log.readPage(from, last, () => !cache.has(from));
    if (page === undefined) return undefined;
    const run: EntryRun = [];
    for (const stored of page) {
      // Positions the consumer skipped hold nothing for this channel.
      while (from + run.length < stored.seq) run.push(null);
      const message = this.options.parse(delivery.name, stored.data);
      run.push(message === undefined ? null : delivery.entryFor(message, stored.seq, stored.timeMs));
    }
    return run;
  }

  private cacheOf(channel: string): StreamCache {
    let cache = this.caches.get(channel);
    if (!cache) {
      cache = new StreamCache(this.options.cacheSize);
      this.caches.set(channel, cache);
    }
    return cache;
  }

  private send(session: ClientSession, delivery: ReplayChannel, frame: Buffer): number {
    session.send(frame, true);
    delivery.counters.framesOut++;
    return 1;
  }

  /** Wait until the client has taken what it was sent; false if it went away. */
  private async drained(session: ClientSession): Promise<boolean> {
    while (
      !session.closing &&
      session.socket.bufferedAmount + session.pendingBytes > this.options.drainedBytes
    ) {
      await new Promise((resolve) => setTimeout(resolve, DRAIN_POLL_MS));
    }
    return !session.closing;
  }

  /** The stream's state, waiting up to NATS_REPLAY_WAIT_MS for the NATS link; undefined if none. */
  private async streamState(
    log: JetStreamLog,
    fresh = false,
  ): Promise<{ firstSeq: number; lastSeq: number } | undefined> {
    const deadline = Date.now() + this.options.waitMs;
    for (;;) {
      try {
        return await log.state(fresh);
      } catch {
        if (Date.now() >= deadline) return undefined;
        await new Promise((resolve) => setTimeout(resolve, 250));
      }
    }
  }

  private sendReplayed(
    session: ClientSession,
    delivery: ReplayChannel,
    count: number,
    through: number,
  ): void {
    session.send(
      encodeFrame({
        type: "replayed",
        channel: delivery.name,
        count,
        position: this.position(delivery, through),
        timestamp: isoNow(),
      }),
      true,
    );
  }

  /** Hand over to live delivery: the held frames after `skipThrough`, then live frames after it. */
  private release(
    session: ClientSession,
    delivery: ReplayChannel,
    gate: ResumeGate,
    skipThrough: number,
  ): void {
    const frames = this.options.gates.release(
      session,
      delivery.name,
      gate,
      skipThrough,
      delivery.history.head,
    );
    if (session.closing) return;
    for (const frame of frames) this.send(session, delivery, frame);
  }

  private position(delivery: ReplayChannel, seq: number): ReportedPosition | undefined {
    return delivery.history.position(seq);
  }
}
