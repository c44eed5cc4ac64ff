/**
 * Chooses where the lossless channels' histories come from, and holds each channel's source
 * (history-source.ts), by NATS_JETSTREAM:
 *
 * - `off`, or demo mode: memory, with one epoch for the process.
 * - `required`: JetStream only. On the first NATS connection, before the gateway reports ready,
 *   every channel's stream is set up; until that succeeds the gateway is not ready and the status
 *   document says why (`history: "waiting"`, `history_reason`), asking again every RETRY_MIN_MS,
 *   doubling up to RETRY_MAX_MS. It never falls back to memory.
 * - `auto`: the same, except that a definite "JetStream is not enabled" from the server (see
 *   isJetStreamAbsent) selects memory. A timeout or any other error is no such answer: it is asked
 *   again, and the gateway stays not ready meanwhile, as during warm-up. In memory, the gateway asks
 *   again every NATS_JETSTREAM_POLL_MS, and when JetStream answers the channels move to it.
 *
 * Moving from memory to JetStream is a new epoch (decided here, documented in
 * docs/delivery-guarantees.md): positions counted by this process mean nothing in the stream, so the
 * memory epoch ends, frames carry the stream's epoch from then on, and a resume from a memory
 * position is answered epoch_mismatch (the client starts over). What was published while the
 * channel moves is in the stream; connected clients are not sent it live, they see the new epoch.
 */
import type { JetStreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import type { Logger } from "pino";
import type { GatewayConfig } from "../../config.js";
import { memoryEpoch } from "../epochs.js";
import type { Broker } from "../ingest/broker.js";
import { probeJetStream } from "../ingest/jetstream-log.js";
import { natsEndpoint } from "../ingest/nats-options.js";
import { ReplaySlots } from "../ingest/replay-slots.js";
import type { HistoryFeed, HistoryMode, HistorySource } from "./history-source.js";
import { JetStreamHistory } from "./jetstream-history.js";
import { MemoryHistory } from "./memory-history.js";

/** First pause between attempts to reach JetStream; it doubles on each failure up to RETRY_MAX_MS. */
export const RETRY_MIN_MS = 500;
/** Longest pause between attempts to reach JetStream (the retry interval is bounded). */
export const RETRY_MAX_MS = 5000;

/** A channel's history: in memory, in JetStream, or waiting for JetStream (the gateway is quiet on it). */
export type HistoryState = HistoryMode | "waiting";

export class HistorySources {
  /** Each lossless channel's source, by channel name, once chosen. */
  readonly sources = new Map<string, HistorySource>();
  /** Short-lived replay consumers, shared by every channel's stream. */
  readonly slots: ReplaySlots;
  /** How the histories are kept: undefined until the first NATS connection when JetStream is wanted. */
  mode: HistoryState | undefined;
  /** Why the histories are not in JetStream (yet): the JetStream API's last answer, when it said no. */
  reason: string | undefined;
  private broker: Broker | undefined;
  private closed = false;
  private pollTimer: NodeJS.Timeout | undefined;
  private readonly wakers = new Set<() => void>();

  constructor(
    private readonly feeds: readonly HistoryFeed[],
    private readonly config: GatewayConfig,
    private readonly logger: Logger,
  ) {
    this.slots = new ReplaySlots(config.NATS_REPLAY_CONSUMERS_MAX);
  }

  /** Will the histories come from JetStream if the server has it (decided by `onFirstConnect`)? */
  get wantsJetStream(): boolean {
    return natsEndpoint(this.config) !== undefined && this.config.NATS_JETSTREAM !== "off";
  }

  /** The channel's stream, when its history is in JetStream. */
  logOf(channel: string) {
    return this.sources.get(channel)?.log;
  }

  /** Each lossless channel's history now, by channel name (status document and metrics). */
  channelStates(): Record<string, HistoryState> {
    return Object.fromEntries(
      this.feeds.map((feed) => {
        const name = feed.channel.plugin.name;
        // A stream still being read back (warm-up) is not serving yet: waiting, as /readyz says.
        const source = feed.history.ready ? this.sources.get(name) : undefined;
        return [name, source?.mode ?? "waiting"];
      }),
    );
  }

  /** Start: in memory at once, or wait for the first NATS connection to look for JetStream. */
  start(broker: Broker): void {
    this.broker = broker;
    if (!this.wantsJetStream) this.startInMemory();
  }

  private startInMemory(): void {
    this.mode = "memory";
    const epoch = memoryEpoch();
    for (const feed of this.feeds)
      this.sources.set(feed.channel.plugin.name, new MemoryHistory(feed, this.broker as Broker, epoch));
  }

  /**
   * On the first NATS connection, before the gateway reports ready: JetStream histories, or memory
   * when NATS_JETSTREAM=auto and the server definitely has no JetStream; resolves only then.
   */
  readonly onFirstConnect = async (connection: NatsConnection): Promise<void> => {
    if (!this.wantsJetStream) return;
    await this.untilSettled(connection);
  };

  /** Ask for JetStream until the streams are open, or (auto) memory is chosen, or the gateway closes. */
  private async untilSettled(connection: NatsConnection): Promise<void> {
    const memoryAllowed = this.config.NATS_JETSTREAM === "auto";
    this.mode = "waiting";
    for (let attempt = 0; !this.closed; attempt++) {
      const probe = await probeJetStream(connection);
      if (this.closed) return;
      if (probe.kind === "available") {
        try {
          await this.openStreams(connection, probe.jsm);
          if (this.closed) return;
          this.mode = "jetstream";
          this.reason = undefined;
          return;
        } catch (error) {
          if (this.closed) return;
          const text = error instanceof Error ? error.message : String(error);
          this.waiting(`setting up the JetStream streams failed: ${text}`, error);
          await this.closeSources();
        }
      } else if (probe.kind === "absent" && memoryAllowed) {
        this.logger.warn(
          { reason: probe.reason, pollMs: this.config.NATS_JETSTREAM_POLL_MS },
          "the NATS server has no JetStream: lossless channels keep their history in memory only (resume works within this process); asking again periodically",
        );
        this.reason = probe.reason;
        this.startInMemory();
        this.schedulePoll(connection);
        return;
      } else if (probe.kind === "absent") {
        this.waiting(`NATS_JETSTREAM=required and the NATS server has no JetStream (${probe.reason})`);
      } else {
        this.waiting(`JetStream did not answer (${probe.reason})`);
      }
      await this.pause(Math.min(RETRY_MAX_MS, RETRY_MIN_MS * 2 ** attempt));
    }
  }

  /** Not (yet) in JetStream for `reason`: told in the status document, logged when it changes. */
  private waiting(reason: string, error?: unknown): void {
    if (reason !== this.reason)
      this.logger.error(
        { err: error, reason },
        "lossless channels wait for JetStream: not ready until it answers; retrying",
      );
    this.reason = reason;
  }

  /** In memory (auto): ask for JetStream again in NATS_JETSTREAM_POLL_MS, and move to it once it answers. */
  private schedulePoll(connection: NatsConnection): void {
    if (this.closed) return;
    this.pollTimer = setTimeout(() => void this.poll(connection), this.config.NATS_JETSTREAM_POLL_MS);
    this.pollTimer.unref();
  }

  private async poll(connection: NatsConnection): Promise<void> {
    this.pollTimer = undefined;
    if (this.closed || connection.isClosed()) return;
    const probe = await probeJetStream(connection);
    if (this.closed) return;
    if (probe.kind !== "available") {
      this.schedulePoll(connection);
      return;
    }
    // A new epoch: see the header. The memory sources stop taking messages in before any stream
    // begins, so no frame is stamped with a memory position after the stream's epoch began.
    this.logger.warn(
      { epochEnds: this.feeds[0]?.history.epoch },
      "JetStream answered: lossless channels move from memory to JetStream, a new epoch (resumes from memory positions get epoch_mismatch)",
    );
    await this.closeSources();
    await this.untilSettled(connection);
  }

  private async openStreams(connection: NatsConnection, jsm: JetStreamManager): Promise<void> {
    const context = { connection, config: this.config, slots: this.slots, logger: this.logger };
    // Every channel's stream is opened and registered first, then all warm up together: a resume
    // waiting for one channel's warm-up must find its stream (logOf), and no channel's warm-up
    // waits for another's.
    const opened: JetStreamHistory[] = [];
    for (const feed of this.feeds) {
      if (this.closed) return;
      const source = await JetStreamHistory.open(feed, jsm, context);
      if (this.closed) return source.close();
      this.sources.set(feed.channel.plugin.name, source);
      opened.push(source);
    }
    await Promise.all(opened.map((source) => source.warm()));
  }

  /** A sleep that close() cuts short. */
  private pause(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const wake = () => {
        clearTimeout(timer);
        this.wakers.delete(wake);
        resolve();
      };
      const timer = setTimeout(wake, ms);
      this.wakers.add(wake);
    });
  }

  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.pollTimer);
    for (const wake of [...this.wakers]) wake();
    await this.closeSources();
  }

  private async closeSources(): Promise<void> {
    for (const source of this.sources.values()) await source.close();
    this.sources.clear();
  }
}
