/**
 * The authenticated life of a connection (WEBSOCKET_AUTH=jwt): its grant, the timer that closes
 * it when the token expires, and token refresh by an `auth` frame on the open connection.
 */
import type { Logger } from "pino";
import type { ClientSession } from "../client-session.js";
import type { CloseCodeName, ErrorCode } from "../errors.js";
import { encodeFrame } from "../frame-encoder.js";
import { isoNow } from "../protocol.js";
import type { SubscriptionIndex } from "../subscription-index.js";
import { type Grant, mayUseChannel } from "./grant.js";
import { TokenRejected, type TokenVerifier } from "./token-verifier.js";

/** setTimeout's ceiling (about 24.8 days); a later expiry is reached in several steps. */
const MAX_TIMER_MS = 2 ** 31 - 1;

type MessageId = string | number | undefined;

export interface SessionAuthOptions {
  verifier: TokenVerifier;
  index: SubscriptionIndex;
  logger: Logger;
  sendError(session: ClientSession, code: ErrorCode, id: MessageId, message?: string): void;
  disconnect(session: ClientSession, name: CloseCodeName, reason: string): void;
}

export class SessionAuth {
  constructor(private readonly options: SessionAuthOptions) {}

  /** Give a new session its grant and arm its expiry. */
  begin(session: ClientSession, grant: Grant): void {
    session.grant = grant;
    this.armExpiry(session);
  }

  /** The connection went away: its expiry timer must not outlive it. */
  end(session: ClientSession): void {
    clearTimeout(session.expiryTimer);
    session.expiryTimer = undefined;
  }

  /**
   * An `auth` frame on an open connection: a valid token of the same subject replaces the grant
   * (answered by `authenticated`); anything else is an INVALID_TOKEN error and the old token
   * stays in force until it expires.
   *
   * Verification is asynchronous, so two refreshes can finish out of order. They are numbered as
   * they arrive; one that finishes after a later one has been applied is stale: it changes
   * nothing, and its `authenticated` reply reports the expiry actually in force (the later one's).
   */
  refresh(session: ClientSession, token: string, id: MessageId): void {
    session.refreshes ??= { started: 0, applied: 0 };
    const refreshes = session.refreshes;
    const number = ++refreshes.started;
    this.options.verifier
      .verify(token)
      .then(
        (grant) => {
          if (session.closing) return;
          if (grant.subject !== session.subject) {
            this.options.sendError(
              session,
              "INVALID_TOKEN",
              id,
              "Invalid token: its subject is not this connection's",
            );
            return;
          }
          if (number > refreshes.applied) {
            refreshes.applied = number;
            this.end(session);
            this.begin(session, grant);
            this.dropForbiddenChannels(session);
          } else {
            this.options.logger.debug(
              { clientId: session.clientId, refresh: number, applied: refreshes.applied },
              "stale token refresh ignored: a later one is in force",
            );
          }
          session.send(
            encodeFrame({
              type: "authenticated",
              client_id: session.clientId,
              expires_at: new Date((session.grant as Grant).expiresAt).toISOString(),
              id,
              timestamp: isoNow(),
            }),
            true,
          );
        },
        (error: unknown) => {
          if (session.closing) return;
          const reason = error instanceof TokenRejected ? error.message : "Token rejected";
          this.options.sendError(session, "INVALID_TOKEN", id, `Invalid token: ${reason}`);
        },
      )
      .catch((error: unknown) => {
        // A bug here must cost this connection, never the process (an unhandled rejection).
        this.options.logger.error({ err: error, clientId: session.clientId }, "token refresh failed");
        session.socket.terminate();
      });
  }

  /**
   * Not unref'd: the connection's close handler clears it (end), so a leaked one is visible as an
   * active handle (the churn test counts them) rather than silently kept.
   */
  private armExpiry(session: ClientSession): void {
    const remaining = (session.grant as Grant).expiresAt - Date.now();
    session.expiryTimer = setTimeout(
      () => {
        if ((session.grant as Grant).expiresAt > Date.now()) {
          this.armExpiry(session);
          return;
        }
        this.options.logger.info({ clientId: session.clientId }, "closing a connection whose token expired");
        this.options.disconnect(session, "TOKEN_EXPIRED", "Token expired");
      },
      Math.min(Math.max(remaining, 0), MAX_TIMER_MS),
    );
  }

  /** A refreshed token may allow fewer channels: leave those, and tell the client so. */
  private dropForbiddenChannels(session: ClientSession): void {
    for (const channel of [...session.subscriptions.keys()]) {
      if (mayUseChannel(session.grant, channel)) continue;
      const result = this.options.index.unsubscribe(session, channel, "*");
      if (!result.ok) continue;
      session.send(
        encodeFrame({ type: "unsubscribed", channel, symbols: result.state, timestamp: isoNow() }),
        true,
      );
    }
  }
}
