/**
 * Closing a connection with a documented code (errors.ts), as every part of the core that ends a
 * connection does it (slow consumer, replay interrupted, auth, replacement): it leaves the
 * subscription index at once, so no more frames are built for it, and the registry once its
 * socket has closed (session-lifecycle.ts).
 */
import type { ClientSession } from "./client-session.js";
import type { CloseCodeName } from "./errors.js";
import type { SubscriptionIndex } from "./subscription-index.js";

export type Disconnect = (session: ClientSession, name: CloseCodeName, reason: string) => void;

/** `closeGraceMs`: WEBSOCKET_CLOSE_GRACE_MS, how long a closing peer has before it is cut off. */
export function disconnector(index: SubscriptionIndex, closeGraceMs: number): Disconnect {
  return (session, name, reason) => {
    index.removeSession(session);
    session.close(name, reason, closeGraceMs);
  };
}
