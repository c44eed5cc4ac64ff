/**
 * A lossless channel's history in its JetStream stream (NATS_JETSTREAM=required, or auto and the
 * server has JetStream). The ring is warmed with the stream's last WEBSOCKET_HISTORY_SIZE messages before the
 * gateway reports ready, then one ordered consumer per channel feeds live delivery and continues
 * from its last sequence after any reconnect. The epoch is derived from the stream's identity (a
 * short hash of its name and creation time, epochs.ts), so it is the same on every gateway instance.
 *
 * When the live consumer ends (its stream or consumer was deleted), the stream is set up again:
 * the same stream continues from the head; a new one (recreated, or created by us now) is a new
 * epoch, and positions in the old one can no longer be resumed (epoch_mismatch).
 */
import type { JetStreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import type { Logger } from "pino";
import type { GatewayConfig } from "../../config.js";
import { JetStreamLog, jetStreamOf } from "../ingest/jetstream-log.js";
import type { ReplaySlots } from "../ingest/replay-slots.js";
import type { HistoryFeed, HistorySource } from "./history-source.js";

/** Pause between attempts to set the stream up again after its live consumer ended. */
const RETRY_MS = 1000;

export interface JetStreamContext {
  connection: NatsConnection;
  config: GatewayConfig;
  slots: ReplaySlots;
  logger: Logger;
}

export class JetStreamHistory implements HistorySource {
  readonly mode = "jetstream";
  private closed = false;
  /** Resolves when close() is called: a warm-up under way stops waiting then. */
  private readonly closing: Promise<false>;
  private markClosed: () => void = () => {};
  /** The warm-up: the ring's worth of messages from `startSeq` through the head when opened. */
  private startSeq = 1;
  private warmThrough = 0;

  private constructor(
    private readonly feed: HistoryFeed,
    private readonly context: JetStreamContext,
    private current: JetStreamLog,
  ) {
    this.closing = new Promise((resolve) => {
      this.markClosed = () => resolve(false);
    });
  }

  get log(): JetStreamLog {
    return this.current;
  }

  /**
   * Open the channel's stream and begin its history at the ring's worth of messages before the
   * head. Nothing is read yet: the caller registers the source (resumes that arrive during the
   * warm-up ask it for the stream, logOf) and then calls warm().
   */
  static async open(
    feed: HistoryFeed,
    jsm: JetStreamManager,
    context: JetStreamContext,
  ): Promise<JetStreamHistory> {
    const { history, channel } = feed;
    const { connection, config, slots, logger } = context;
    const { log, state } = await JetStreamLog.open(connection, jsm, channel, config, slots, logger);
    const source = new JetStreamHistory(feed, context, log);
    source.startSeq = Math.max(state.firstSeq, state.lastSeq - history.capacity + 1, 1);
    source.warmThrough = state.lastSeq;
    history.begin(log.epoch, source.startSeq - 1, log.identity);
    return source;
  }

  /**
   * Warm the ring with the stream's most recent messages (kept, never sent live, so that resumes
   * after a gateway restart are served from memory) and start feeding; resolves once ready.
   */
  async warm(): Promise<void> {
    const { history, channel } = this.feed;
    const { config, logger } = this.context;
    const log = this.current;
    if (this.warmThrough < this.startSeq) history.markReady();
    await this.consume(log, this.startSeq, this.warmThrough);
    // Waited for as long as the warm-up makes progress (whenReady): only a stream whose last
    // messages are of other subjects (a shared stream) leaves it quiet short of the head.
    const ready = await Promise.race([history.whenReady(config.NATS_REPLAY_WAIT_MS), this.closing]);
    if (this.closed) return;
    if (!ready) {
      logger.warn({ stream: log.stream }, "history warm-up did not reach the stream's head in time");
      history.markReady();
    }
    logger.info(
      {
        channel: channel.plugin.name,
        stream: log.stream,
        epoch: log.epoch,
        identity: log.identity,
        head: history.head,
      },
      "lossless channel history in JetStream",
    );
  }

  async close(): Promise<void> {
    this.closed = true;
    this.markClosed();
    await this.current.close();
  }

  /** Feed the channel from the stream, from `fromSeq`; messages up to `warmThrough` only fill the ring. */
  private consume(log: JetStreamLog, fromSeq: number, warmThrough: number): Promise<void> {
    const { history, stream } = this.feed;
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
      () => void this.reopen(log),
    );
  }

  /** The live consumer of `previous` ended: set the stream up again (see the header). */
  private async reopen(previous: JetStreamLog): Promise<void> {
    const { history, channel } = this.feed;
    const { connection, config, slots, logger } = this.context;
    const name = channel.plugin.name;
    logger.warn(
      { stream: previous.stream, channel: name },
      "live JetStream consumer ended; setting up again",
    );
    while (!this.closed && this.current === previous) {
      try {
        const jsm = await jetStreamOf(connection);
        if (!jsm) throw new Error("JetStream is not available");
        const { log, state } = await JetStreamLog.open(connection, jsm, channel, config, slots, logger);
        let fromSeq = history.head + 1;
        if (log.epoch !== history.epoch) {
          logger.warn(
            { channel: name, from: history.epoch, to: log.epoch, identity: log.identity },
            "lossless channel history changed epoch",
          );
          history.begin(log.epoch, Math.max(0, state.firstSeq - 1), log.identity);
          history.markReady();
          fromSeq = Math.max(1, state.firstSeq);
        }
        if (this.closed) return;
        this.current = log;
        await this.consume(log, fromSeq, 0);
        return;
      } catch (error) {
        logger.error(
          { err: error, channel: name },
          "setting up the live JetStream consumer failed; retrying",
        );
        await new Promise((resolve) => setTimeout(resolve, RETRY_MS));
      }
    }
  }
}
