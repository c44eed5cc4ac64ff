/**
 * The connected clients, by identity. Without authentication a connection is its `client_id`:
 * whoever names a connected one takes it over. With WEBSOCKET_AUTH=jwt a connection is the pair
 * (token subject, `client_id`): takeover happens only within one subject, so another user naming
 * the same `client_id` gets a connection of its own instead of closing someone else's; and the
 * connections of each subject are counted for WEBSOCKET_MAX_CONNECTIONS_PER_SUBJECT.
 */
import type { ClientSession } from "./client-session.js";

/**
 * Registry key: the client_id alone without auth, else subject and client_id. The space cannot
 * occur in either (both follow CLIENT_ID_PATTERN), so no two pairs share a key.
 */
export function connectionKey(clientId: string, subject: string | undefined): string {
  return subject === undefined ? clientId : `${subject} ${clientId}`;
}

export class ClientRegistry {
  private readonly byKey = new Map<string, ClientSession>();
  private readonly bySubject = new Map<string, Set<ClientSession>>();

  /** Registered connections. */
  get size(): number {
    return this.byKey.size;
  }

  values(): IterableIterator<ClientSession> {
    return this.byKey.values();
  }

  /** Registry keys (see connectionKey): the client_ids, without auth. */
  keys(): IterableIterator<string> {
    return this.byKey.keys();
  }

  /** The connection registered as `clientId` (of `subject`, with authentication on). */
  get(clientId: string, subject?: string): ClientSession | undefined {
    return this.byKey.get(connectionKey(clientId, subject));
  }

  /** How many registered connections the subject has. */
  countOf(subject: string): number {
    return this.bySubject.get(subject)?.size ?? 0;
  }

  /** Register a session; the one it replaces (same identity) must have been removed first. */
  add(session: ClientSession): void {
    this.byKey.set(connectionKey(session.clientId, session.subject), session);
    if (session.subject === undefined) return;
    let sessions = this.bySubject.get(session.subject);
    if (!sessions) {
      sessions = new Set();
      this.bySubject.set(session.subject, sessions);
    }
    sessions.add(session);
  }

  /** Remove a session if it is still the one registered under its identity; true when it was. */
  remove(session: ClientSession): boolean {
    const key = connectionKey(session.clientId, session.subject);
    if (this.byKey.get(key) !== session) return false;
    this.byKey.delete(key);
    if (session.subject !== undefined) {
      const sessions = this.bySubject.get(session.subject);
      sessions?.delete(session);
      if (sessions?.size === 0) this.bySubject.delete(session.subject);
    }
    return true;
  }
}
