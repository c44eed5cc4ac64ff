/**
 * Chooses, once, where the lossless channels' histories come from, and holds each channel's
 * source (history-source.ts):
 *
 * - JetStream when the gateway runs on NATS with NATS_JETSTREAM=auto and the server has it: on
 *   the first NATS connection, before the gateway reports ready, every channel's stream is set up
 *   (retried while JetStream answers with errors);
 * - memory otherwise (demo mode, NATS_JETSTREAM=off, a server without JetStream), with one epoch
 *   for the process.
 */
import { randomUUID } from "node:crypto";
import type { JetStreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import type { Logger } from "pino";
import type { GatewayConfig } from "../../config.js";
import type { Broker } from "../ingest/broker.js";
import { jetStreamOf } from "../ingest/jetstream-log.js";
import { natsEndpoint } from "../ingest/nats-options.js";
import { ReplaySlots } from "../ingest/replay-slots.js";
import type { HistoryFeed, HistoryMode, HistorySource } from "./history-source.js";
import { JetStreamHistory } from "./jetstream-history.js";
import { MemoryHistory } from "./memory-history.js";

/** Pause between attempts to set up the streams when JetStream answers with an error. */
const RETRY_MS = 1000;

export class HistorySources {
  /** Each lossless channel's source, by channel name, once chosen. */
  readonly sources = new Map<string, HistorySource>();
  /** Short-lived replay consumers, shared by every channel's stream. */
  readonly slots: ReplaySlots;
  /** How the histories are kept, once decided. */
  mode: HistoryMode | undefined;
  private broker: Broker | undefined;
  private closed = false;

  constructor(
    private readonly feeds: readonly HistoryFeed[],
    private readonly config: GatewayConfig,
    private readonly logger: Logger,
  ) {
    this.slots = new ReplaySlots(config.NATS_REPLAY_CONSUMERS_MAX);
  }

  /** Will the histories come from JetStream if the server has it (decided by `onFirstConnect`)? */
  get wantsJetStream(): boolean {
    return natsEndpoint(this.config) !== undefined && this.config.NATS_JETSTREAM === "auto";
  }

  /** The channel's stream, when its history is in JetStream. */
  logOf(channel: string) {
    return this.sources.get(channel)?.log;
  }

  /** Start: in memory at once, or wait for the first NATS connection to look for JetStream. */
  start(broker: Broker): void {
    this.broker = broker;
    if (!this.wantsJetStream) this.startInMemory();
  }

  private startInMemory(): void {
    this.mode = "memory";
    const epoch = `memory-${randomUUID()}`;
    for (const feed of this.feeds)
      this.sources.set(feed.channel.plugin.name, new MemoryHistory(feed, this.broker as Broker, epoch));
  }

  /** On the first NATS connection: JetStream histories, or memory when the server has none. */
  readonly onFirstConnect = async (connection: NatsConnection): Promise<void> => {
    if (!this.wantsJetStream) return;
    for (;;) {
      const jsm = await jetStreamOf(connection);
      if (!jsm) {
        this.logger.warn(
          "the NATS server has no JetStream: lossless channels keep their history in memory only (resume works within this process)",
        );
        this.startInMemory();
        return;
      }
      try {
        await this.openStreams(connection, jsm);
        this.mode = "jetstream";
        return;
      } catch (error) {
        if (this.closed) return;
        this.logger.error({ err: error }, "setting up JetStream streams failed; retrying");
        await this.closeSources();
        await new Promise((resolve) => setTimeout(resolve, RETRY_MS));
      }
    }
  };

  private async openStreams(connection: NatsConnection, jsm: JetStreamManager): Promise<void> {
    const context = { connection, config: this.config, slots: this.slots, logger: this.logger };
    for (const feed of this.feeds) {
      const source = await JetStreamHistory.open(feed, jsm, context);
      this.sources.set(feed.channel.plugin.name, source);
      if (this.closed) await source.close();
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.closeSources();
  }

  private async closeSources(): Promise<void> {
    for (const source of this.sources.values()) await source.close();
    this.sources.clear();
  }
}
