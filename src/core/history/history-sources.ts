/**
 * Where each lossless channel's positions and history come from, decided once at start:
 *
 * - JetStream (NATS_JETSTREAM=auto and the NATS server has it): the channel's stream. The ring is
 *   warmed with the stream's last WEBSOCKET_HISTORY_SIZE messages before the gateway reports ready,
 *   then one ordered consumer per channel feeds live delivery and continues from its last sequence
 *   after any reconnect. The epoch is the stream's identity, the same on every gateway instance.
 * - Memory (demo mode, NATS_JETSTREAM=off, or a NATS server without JetStream): a plain
 *   subscription, positions counted by this process, and an epoch of this process.
 */
import { randomUUID } from "node:crypto";
import type { NatsConnection } from "@nats-io/transport-node";
import type { Logger } from "pino";
import type { GatewayConfig } from "../../config.js";
import type { ChannelStream } from "../channel-stream.js";
import type { LosslessDelivery } from "../delivery/lossless-delivery.js";
import type { Broker } from "../ingest/broker.js";
import { JetStreamLog, jetStreamOf } from "../ingest/jetstream-log.js";
import { ReplaySlots } from "../ingest/replay-slots.js";

/** Pause between attempts to set up the streams when JetStream answers with an error. */
const RETRY_MS = 1000;

export interface LosslessChannel {
  delivery: LosslessDelivery;
  stream: ChannelStream;
}

export class HistorySources {
  /** The JetStream history of each lossless channel that has one. */
  readonly logs = new Map<string, JetStreamLog>();
  readonly slots: ReplaySlots;
  /** "jetstream" or "memory" once decided. */
  mode: "jetstream" | "memory" | undefined;
  private closed = false;
  private connection: NatsConnection | undefined;

  constructor(
    private readonly channels: readonly LosslessChannel[],
    private readonly broker: Broker,
    private readonly config: GatewayConfig,
    private readonly logger: Logger,
  ) {
    this.slots = new ReplaySlots(config.NATS_REPLAY_CONSUMERS_MAX);
  }

  /** Will the histories come from JetStream if the server has it (set up by `onFirstConnect`)? */
  get wantsJetStream(): boolean {
    return this.broker.kind === "nats" && this.config.NATS_JETSTREAM === "auto";
  }

  /** Without JetStream: histories in memory, fed by plain subscriptions. */
  startInMemory(): void {
    this.mode = "memory";
    const epoch = `memory-${randomUUID()}`;
    for (const { delivery, stream } of this.channels) {
      delivery.history.begin(epoch, 0);
      delivery.history.markReady();
      this.broker.subscribe(delivery.channel.subject, stream.handle);
    }
  }

  /** On the first NATS connection: JetStream histories, or memory when the server has none. */
  readonly onFirstConnect = async (connection: NatsConnection): Promise<void> => {
    this.connection = connection;
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
        for (const channel of this.channels) await this.openStream(connection, jsm, channel);
        this.mode = "jetstream";
        return;
      } catch (error) {
        if (this.closed) return;
        this.logger.error({ err: error }, "setting up JetStream streams failed; retrying");
        await this.close();
        this.closed = false;
        await new Promise((resolve) => setTimeout(resolve, RETRY_MS));
      }
    }
  };

  /** Feed the channel from the stream, from `fromSeq`; messages up to `warmThrough` only fill the ring. */
  private consume(
    log: JetStreamLog,
    channel: LosslessChannel,
    fromSeq: number,
    warmThrough: number,
  ): Promise<void> {
    const { delivery, stream } = channel;
    const { history } = delivery;
    return log.consumeLive(
      fromSeq,
      (message) => {
        const position = { seq: message.seq, timeMs: message.timeMs };
        if (history.ready) {
          stream.handle(message.subject, message.data, position);
          return;
        }
        stream.warm(message.data, position);
        if (message.seq >= warmThrough || message.pending === 0) history.markReady();
      },
      () => void this.reopen(log, channel),
    );
  }

  /**
   * The live consumer ended: its stream (or the consumer) was deleted. Set the stream up again: the
   * same stream continues from the head; a new one (recreated, or created by us now) is a new
   * epoch, and positions in the old one can no longer be resumed (epoch_mismatch).
   */
  private async reopen(previous: JetStreamLog, channel: LosslessChannel): Promise<void> {
    const { history } = channel.delivery;
    const name = channel.delivery.name;
    this.logger.warn(
      { stream: previous.stream, channel: name },
      "live JetStream consumer ended; setting up again",
    );
    while (!this.closed && this.logs.get(name) === previous) {
      try {
        const jsm = await jetStreamOf(this.connection as NatsConnection);
        if (!jsm) throw new Error("JetStream is not available");
        const { log, state } = await JetStreamLog.open(
          this.connection as NatsConnection,
          jsm,
          channel.delivery.channel,
          this.config,
          this.slots,
          this.logger,
        );
        let fromSeq = history.head + 1;
        if (log.epoch !== history.epoch) {
          this.logger.warn(
            { channel: name, from: history.epoch, to: log.epoch },
            "lossless channel history changed epoch",
          );
          history.begin(log.epoch, Math.max(0, state.firstSeq - 1));
          history.markReady();
          fromSeq = Math.max(1, state.firstSeq);
        }
        if (this.closed) return;
        this.logs.set(name, log);
        await this.consume(log, channel, fromSeq, 0);
        return;
      } catch (error) {
        this.logger.error(
          { err: error, channel: name },
          "setting up the live JetStream consumer failed; retrying",
        );
        await new Promise((resolve) => setTimeout(resolve, RETRY_MS));
      }
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const log of this.logs.values()) await log.close();
    this.logs.clear();
  }

  private async openStream(
    connection: NatsConnection,
    jsm: Parameters<typeof JetStreamLog.open>[1],
    { delivery, stream }: LosslessChannel,
  ): Promise<void> {
    const { history, channel } = delivery;
    const { log, state } = await JetStreamLog.open(
      connection,
      jsm,
      channel,
      this.config,
      this.slots,
      this.logger,
    );
    // Warm the ring with the stream's most recent messages, so that resumes after a gateway
    // restart are served from memory; those messages are kept, never sent live.
    const startSeq = Math.max(state.firstSeq, state.lastSeq - history.capacity + 1, 1);
    history.begin(log.epoch, startSeq - 1);
    const warmThrough = state.lastSeq;
    if (warmThrough < startSeq) history.markReady();
    await this.consume(log, { delivery, stream }, startSeq, warmThrough);
    this.logs.set(channel.plugin.name, log);
    if (!(await history.whenReady(this.config.NATS_REPLAY_WAIT_MS))) {
      // Only messages of other subjects (a shared stream) can leave the warm-up short of the head.
      this.logger.warn({ stream: log.stream }, "history warm-up did not reach the stream's head in time");
      history.markReady();
    }
    this.logger.info(
      { channel: channel.plugin.name, stream: log.stream, epoch: log.epoch, head: history.head },
      "lossless channel history in JetStream",
    );
  }
}
