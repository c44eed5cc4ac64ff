/**
 * A lossless channel's history in memory (demo mode, NATS_JETSTREAM=off, or a NATS server without
 * JetStream): a plain subscription, positions counted by this process, and an epoch of this
 * process, so a resume works within it and is refused (epoch_mismatch) by any other.
 *
 * Closed when JetStream appears later (history-sources.ts): the broker has no unsubscribe, so the
 * subscription stays and what it still brings is dropped here.
 */
import type { Broker } from "../ingest/broker.js";
import type { HistoryFeed, HistorySource } from "./history-source.js";

export class MemoryHistory implements HistorySource {
  readonly mode = "memory";
  readonly log = undefined;
  private open = true;

  /** Begin counting in `epoch` (one per process, shared by its channels) and subscribe. */
  constructor(feed: HistoryFeed, broker: Broker, epoch: string) {
    feed.history.begin(epoch, 0);
    feed.history.markReady();
    const { handle } = feed.stream;
    broker.subscribe(feed.channel.subject, (subject, data) => {
      if (this.open) handle(subject, data);
    });
  }

  async close(): Promise<void> {
    this.open = false;
  }
}
