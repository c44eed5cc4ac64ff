/**
 * What lagging clients are owed on a conflated channel. When a conflated frame is skipped for a
 * client that reads too slowly, the keys it carried are remembered here; the next flush that
 * client can take carries the latest value of every owed key, whether or not it changed again, so
 * a quiet symbol does not stay stale on that client.
 *
 * Bounded by subscriptions, not by time: a client is owed only keys it is subscribed to (the flush
 * drops the rest), and each key once.
 */
import type { ClientSession } from "../client-session.js";

export class OwedKeys {
  private owed = new Map<ClientSession, Set<string>>();

  get size(): number {
    return this.owed.size;
  }

  owe(session: ClientSession, keys: Iterable<string>): void {
    let owed = this.owed.get(session);
    if (!owed) {
      owed = new Set();
      this.owed.set(session, owed);
    }
    for (const key of keys) owed.add(key);
  }

  /** Everything owed so far, for the flush that settles it; what it cannot send is owed anew. */
  takeAll(): Map<ClientSession, Set<string>> {
    const owed = this.owed;
    this.owed = new Map();
    return owed;
  }

  forget(session: ClientSession): void {
    this.owed.delete(session);
  }
}
