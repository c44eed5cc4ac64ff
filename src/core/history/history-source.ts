/**
 * Where one lossless channel's positions and history come from, behind one interface (as
 * centrifuge puts History on its broker): memory (memory-history.ts) or a JetStream stream
 * (jetstream-history.ts). history-sources.ts chooses which for every lossless channel
 * (and moves them from memory to JetStream, a new epoch, when JetStream appears later).
 *
 * A source feeds the channel's pipeline (what it takes in goes through the channel's own ingest,
 * `handle`) and its ring (`history`); the pipeline never asks where its messages came from.
 */
import type { JetStreamLog } from "../ingest/jetstream-log.js";
import type { LosslessChannel } from "../plugin.js";
import type { ChannelHistory, StoredPosition } from "./channel-history.js";

export type HistoryMode = "memory" | "jetstream";

export interface HistorySource {
  readonly mode: HistoryMode;
  /** The channel's stream, for replays of what the ring no longer holds (JetStream only). */
  readonly log: JetStreamLog | undefined;
  close(): Promise<void>;
}

/** What a source feeds: one lossless pipeline's ingest and ring, as history sees them. */
export interface HistoryFeed {
  readonly channel: LosslessChannel;
  readonly history: ChannelHistory;
  /** The channel's ingest (ChannelStream). */
  readonly stream: {
    /** Live ingest of one upstream message, with its stored position when it has one. */
    readonly handle: (subject: string, data: Uint8Array, position?: StoredPosition) => void;
    /** A stored message that only fills the ring after a start (never sent live). */
    readonly warm: (data: Uint8Array, position: StoredPosition) => void;
  };
}
