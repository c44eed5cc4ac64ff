/**
 * The live feed of one lossless channel: an ordered JetStream consumer that delivers every message
 * of the stream, in order, exactly once, from a start position, for as long as the gateway runs.
 *
 * The client library recreates an ordered consumer after an ordinary reconnect, but not in every
 * case: when the cluster node that held the consumer dies, its own recovery asks that node about
 * the consumer and waits forever, and the feed goes quiet while clients stay connected. So the
 * feed watches itself: every LIVE_CHECK_MS without a message it asks the stream for its last
 * sequence, and when the stream is ahead it replaces the consumer with a new one that starts after
 * the last message delivered. Overlap between the old and the new consumer is dropped by sequence.
 *
 * When the consumer or its stream is deleted, the library would recreate the consumer itself, on
 * whatever stream has that name by then. On nats-server 2.9 that recreation, racing a stream
 * recreated at the same moment, left the new stream's consumers delivering nothing, even ones made
 * much later (5 of 30 runs of test/integration/stream-replaced.test.ts under CPU load; 0 of 60
 * since). So the feed asks the library to give up instead (abort_on_missing_resource) and ends;
 * its owner sets the channel up again, in a new epoch.
 */
import type { ConsumerMessages, JetStreamClient, JetStreamManager, JsMsg } from "@nats-io/jetstream";
import type { Logger } from "pino";

/** How long the feed may be quiet before it checks the stream for messages it should have had. */
const LIVE_CHECK_MS = 3000;
/** How long that check may take (a dead node must not stall the watchdog). */
const CHECK_TIMEOUT_MS = 2000;
/** How the client library says the consumer or its stream is gone. */
const MISSING_RESOURCE = /consumer deleted|stream not found|consumer not found/i;

export class JetStreamLiveFeed {
  /** The stream sequence of the last message delivered (valid or not). */
  private delivered: number;
  private lastActivity = Date.now();
  private messages: ConsumerMessages | undefined;
  private replacing = false;
  private stopped = false;
  private readonly watchdog: NodeJS.Timeout;

  constructor(
    private readonly js: JetStreamClient,
    private readonly jsm: JetStreamManager,
    private readonly stream: string,
    private readonly subject: string,
    fromSeq: number,
    private readonly onMessage: (message: JsMsg) => void,
    /** The consumer was deleted by the server (its stream was deleted): the caller starts over. */
    private readonly onEnd: () => void,
    private readonly logger: Logger,
  ) {
    this.delivered = Math.max(1, fromSeq) - 1;
    this.watchdog = setInterval(() => void this.check(), LIVE_CHECK_MS);
    this.watchdog.unref();
  }

  async start(): Promise<void> {
    const consumer = await this.js.consumers.get(this.stream, {
      filter_subjects: this.subject,
      opt_start_seq: this.delivered + 1,
    });
    if (this.stopped) return;
    const messages = await consumer.consume({
      abort_on_missing_resource: true,
      callback: (message) => {
        if (this.messages !== messages || message.seq <= this.delivered) return;
        this.delivered = message.seq;
        this.lastActivity = Date.now();
        this.onMessage(message);
      },
    });
    this.messages = messages;
    this.lastActivity = Date.now();
    void messages.closed().then((reason) => {
      if (this.messages !== messages || this.stopped) return;
      if (reason instanceof Error && MISSING_RESOURCE.test(reason.message)) {
        this.stop();
        this.onEnd();
      } else void this.replace("consumer closed");
    });
    void this.watchStatus(messages);
  }

  stop(): void {
    this.stopped = true;
    clearInterval(this.watchdog);
    const messages = this.messages;
    this.messages = undefined;
    messages?.stop();
  }

  private async watchStatus(messages: ConsumerMessages): Promise<void> {
    for await (const status of messages.status()) {
      if (this.messages !== messages) return;
      if (status.type === "consumer_deleted") {
        // Deleted on the server (its stream was deleted, or someone deleted it).
        this.stop();
        this.onEnd();
        return;
      }
      if (status.type === "ordered_consumer_recreated" || status.type === "reset")
        this.logger.info({ stream: this.stream, status: status.type }, "live JetStream consumer recreated");
      else this.logger.debug({ stream: this.stream, status: status.type }, "live JetStream consumer status");
    }
  }

  /** Quiet for a while: does the stream hold messages the feed has not delivered? */
  private async check(): Promise<void> {
    if (this.stopped || this.replacing || Date.now() - this.lastActivity < LIVE_CHECK_MS) return;
    if (this.messages === undefined) {
      await this.replace("no consumer");
      return;
    }
    try {
      const info = await withTimeout(this.jsm.streams.info(this.stream), CHECK_TIMEOUT_MS);
      // Only a stream of this subject alone says, by its last sequence, that the feed is behind.
      const ownStream = info.config.subjects.length === 1 && info.config.subjects[0] === this.subject;
      if (ownStream && info.state.last_seq > this.delivered) await this.replace("stalled behind the stream");
      else this.lastActivity = Date.now();
    } catch {
      // No answer (no NATS link, or no stream leader yet): look again at the next check.
    }
  }

  /** A new ordered consumer from the message after the last one delivered. */
  private async replace(reason: string): Promise<void> {
    if (this.stopped || this.replacing) return;
    this.replacing = true;
    this.logger.warn(
      { stream: this.stream, reason, after: this.delivered },
      "replacing the live JetStream consumer",
    );
    const old = this.messages;
    this.messages = undefined;
    old?.stop();
    try {
      await this.start();
    } catch (error) {
      this.logger.warn(
        { err: error, stream: this.stream },
        "live JetStream consumer not replaced yet; retrying",
      );
    } finally {
      this.replacing = false;
    }
  }
}

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
    promise.then(
      (value) => {
        clearTimeout(timer);
        resolve(value);
      },
      (error) => {
        clearTimeout(timer);
        reject(error);
      },
    );
  });
}
