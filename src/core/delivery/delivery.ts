/**
 * What the rest of the core needs from a channel's delivery, whichever policy it follows:
 * conflation (ChannelDelivery) or immediate, lossless delivery with positions (LosslessDelivery).
 */
import type { ClientSession } from "../client-session.js";
import type { SubscriptionStateView } from "../protocol.js";

export interface DeliveryCounters {
  /** Frames handed to clients' outbound queues (one per recipient). */
  framesOut: number;
  /** Conflation keys forgotten because the channel held WEBSOCKET_MAX_CONFLATED_KEYS already. */
  keysEvicted: number;
  /** Frames a plugin could not build, or that JSON could not hold (snapshot or flush): skipped. */
  framesFailed: number;
}

/** Where a message sits in a durable history (JetStream): its stream sequence and storage time. */
export interface StoredPosition {
  seq: number;
  timeMs: number;
}

export interface Delivery {
  readonly name: string;
  readonly conflated: boolean;
  readonly counters: DeliveryCounters;
  /** A validated inbound message, with its stored position when it came from JetStream. */
  accept(message: unknown, position?: StoredPosition): void;
  /** An invalid message at a stored position: dropped, but the channel's head moves past it. */
  skip(position: StoredPosition): void;
  /** Send a newly subscribed client the latest known values (conflated channels). */
  snapshot(session: ClientSession, symbols: SubscriptionStateView | "*"): void;
  start(): void;
  stop(): void;
  /** Flush conflated keys now (tests and shutdown); nothing to do on lossless channels. */
  flush(): void;
}
