/**
 * The clients of one conflated channel that share a flush interval, and what changed for them
 * since their last flush. A channel has one group per distinct interval in force: the channel's
 * own, the ones clients chose with `interval_ms`, and the widened ones of degraded clients. Each
 * group flushes on its own timer, and clients in a group that want the same keys share bytes.
 */
import type { ClientSession } from "../client-session.js";

export class FlushGroup {
  /** Keys changed since this group's last flush. */
  readonly changed = new Set<string>();
  /**
   * Pending values a subscribe snapshot already gave a client of this group, so that the next
   * flush does not repeat them. Compared by message identity; cleared at every flush.
   */
  readonly snapshotted = new Map<ClientSession, Map<string, unknown>>();
  private timer: NodeJS.Timeout | undefined;

  constructor(readonly intervalMs: number) {}

  /**
   * Flush every interval, on fixed deadlines: a flush that runs late (a busy event loop) is
   * followed by one that much sooner, so lateness does not pile up as it would with setInterval,
   * which counts each interval from when the previous callback ran.
   */
  start(flush: () => void): void {
    if (this.timer) return;
    let deadline = Date.now() + this.intervalMs;
    const tick = () => {
      flush();
      const now = Date.now();
      deadline += this.intervalMs;
      // Behind by more than an interval (a stalled loop): start counting again from now.
      if (deadline <= now) deadline = now + this.intervalMs;
      if (this.timer) this.timer = setTimeout(tick, deadline - now);
    };
    this.timer = setTimeout(tick, this.intervalMs);
  }

  stop(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
  }

  /** Remember that a snapshot gave `session` this value of `slot` (when it was still to flush). */
  recordSnapshot(session: ClientSession, slot: string, message: unknown): void {
    let sent = this.snapshotted.get(session);
    if (!sent) {
      sent = new Map();
      this.snapshotted.set(session, sent);
    }
    sent.set(slot, message);
  }

  /** Did this client's subscribe snapshot already carry `message`, the slot's current value? */
  alreadySent(session: ClientSession, slot: string, message: unknown): boolean {
    if (this.snapshotted.size === 0) return false;
    const sent = this.snapshotted.get(session);
    return sent?.has(slot) === true && sent.get(slot) === message;
  }
}
