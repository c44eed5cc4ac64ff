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

  /**
   * What the clients of one flush are owed, for that flush to settle (what it cannot send is owed
   * anew). Debts of clients that have gone are dropped here.
   */
  takeWhere(belongs: (session: ClientSession) => boolean): Map<ClientSession, Set<string>> {
    const taken = new Map<ClientSession, Set<string>>();
    for (const [session, keys] of this.owed) {
      if (session.closing) this.owed.delete(session);
      else if (belongs(session)) {
        taken.set(session, keys);
        this.owed.delete(session);
      }
    }
    return taken;
  }

  forget(session: ClientSession): void {
    this.owed.delete(session);
  }

  /** The client was just sent the latest values of `keys` (a snapshot): it is owed them no more. */
  settle(session: ClientSession, keys: readonly string[]): void {
    const owed = this.owed.get(session);
    if (!owed) return;
    for (const key of keys) owed.delete(key);
    if (owed.size === 0) this.owed.delete(session);
  }
}
