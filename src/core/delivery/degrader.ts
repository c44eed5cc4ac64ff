/**
 * Degrade before disconnect: a client whose queue passes WEBSOCKET_DEGRADE_BYTES gets its
 * conflated channels less often instead of being starved and then cut off. Once a second the
 * gateway looks at every client's queued bytes: above the threshold its conflated intervals are
 * doubled (up to WEBSOCKET_DEGRADE_MAX_FACTOR times the interval in force); below half of it they
 * are halved back, step by step. Each change is announced with a `delivery_status` frame.
 * Lossless channels are never thinned; only lossless data over WEBSOCKET_MAX_BUFFERED_BYTES still
 * disconnects a client (4001).
 */
import type { ClientSession } from "../client-session.js";
import { encodeFrame } from "../frame-encoder.js";
import { isoNow } from "../protocol.js";
import type { ConflatedDelivery } from "./conflated-delivery.js";

/** How often queues are looked at: intervals double (or halve) at most this often. */
const CHECK_MS = 1000;

export interface DegraderOptions {
  clients(): Iterable<ClientSession>;
  conflated: readonly ConflatedDelivery[];
  /** WEBSOCKET_DEGRADE_BYTES */
  degradeBytes: number;
  /** WEBSOCKET_DEGRADE_MAX_FACTOR */
  maxFactor: number;
}

export class Degrader {
  /** Clients degraded now (for /metrics), and changes of factor so far. */
  readonly counters = { degraded: 0, changes: 0 };
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly options: DegraderOptions) {}

  start(): void {
    this.timer ??= setInterval(() => this.check(), CHECK_MS);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  check(): void {
    const { degradeBytes, maxFactor } = this.options;
    let degraded = 0;
    for (const session of this.options.clients()) {
      if (session.closing) continue;
      const queued = session.socket.bufferedAmount + session.pendingBytes;
      const factor = session.degradeFactor;
      let next = factor;
      if (queued > degradeBytes && factor < maxFactor) next = Math.min(maxFactor, factor * 2);
      // Whole factors only (a maxFactor of 3 halves back to 1, not 1.5): intervals stay integers.
      else if (queued < degradeBytes / 2 && factor > 1) next = Math.max(1, Math.floor(factor / 2));
      if (next !== factor) this.set(session, next);
      if (session.degradeFactor > 1) degraded++;
    }
    this.counters.degraded = degraded;
  }

  private set(session: ClientSession, factor: number): void {
    const { conflated } = this.options;
    const before = conflated.map((delivery) => delivery.intervalOf(session));
    session.degradeFactor = factor;
    for (const [position, delivery] of conflated.entries())
      delivery.moveFrom(session, before[position] as number);
    this.counters.changes++;
    const intervals = Object.fromEntries(
      conflated
        .filter((delivery) => session.subscriptions.has(delivery.name))
        .map((delivery) => [delivery.name, delivery.intervalOf(session)]),
    );
    session.send(
      encodeFrame({
        type: "delivery_status",
        degraded: factor > 1,
        intervals_ms: intervals,
        timestamp: isoNow(),
      }),
      true,
    );
  }
}
