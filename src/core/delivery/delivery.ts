/**
 * What ingest (ChannelStream) hands a channel's validated messages to, whatever its kind: the
 * conflated delivery (ConflatedDelivery) or the lossless one with positions (LosslessDelivery).
 * Everything else a kind does is its own: pipeline.ts says which kind has which parts.
 */
import type { StoredPosition } from "../history/channel-history.js";
import type { StageStamp } from "../latency/stage-stamp.js";

export interface DeliveryCounters {
  /** Frames handed to clients' outbound queues (one per recipient). */
  framesOut: number;
  /** Conflation keys forgotten because the channel held WEBSOCKET_MAX_CONFLATED_KEYS already. */
  keysEvicted: number;
  /** Frames a plugin could not build, or that JSON could not hold (snapshot or flush): skipped. */
  framesFailed: number;
}

export interface Delivery {
  readonly name: string;
  readonly counters: DeliveryCounters;
  /**
   * A validated inbound message, with its stored position when it came from JetStream, and when
   * it was received and validated (timing on; none for a message only warming the history).
   */
  accept(message: unknown, position?: StoredPosition, stamp?: StageStamp): void;
  /**
   * An invalid message at a stored position: dropped, but the channel's head moves past it. Only
   * channels with positions (lossless) are ever handed one.
   */
  skip?(position: StoredPosition): void;
}
