/**
 * One client frame, from the socket to the message handler: a connection being closed no longer
 * acts, every frame proves the peer alive, the inbound rate limit applies (RATE_LIMITED, then a
 * 1008 after WEBSOCKET_RATE_LIMIT_STRIKES in a row), and binary frames are refused.
 */
import type { RawData } from "ws";
import type { ClientSession } from "./client-session.js";
import type { EndpointState } from "./endpoint-state.js";
import type { CloseCodeName } from "./errors.js";
import { BINARY_FRAME, invalidMessage } from "./invalid-message.js";
import { type RateLimit, TokenBucket } from "./rate-limiter.js";

export class MessageDispatch {
  private readonly rateLimit: RateLimit;

  constructor(
    private readonly state: EndpointState,
    private readonly disconnect: (session: ClientSession, name: CloseCodeName, reason: string) => void,
  ) {
    const { config } = state.options;
    this.rateLimit = {
      ratePerSecond: config.WEBSOCKET_RATE_LIMIT_PER_SECOND,
      burst: config.WEBSOCKET_RATE_LIMIT_BURST,
    };
  }

  /** One client frame: rate limit, then the message handler. */
  receive(session: ClientSession, data: RawData, isBinary: boolean): void {
    const { config, logger, handler } = this.state.options;
    const { counters } = this.state;
    // A connection being closed (replaced, slow consumer) no longer acts: it could otherwise
    // subscribe itself back into the index during its close grace period.
    if (session.closing) return;
    session.alive = true;
    counters.messagesIn++;
    session.bucket ??= new TokenBucket(this.rateLimit);
    if (!session.bucket.take()) {
      counters.rateLimited++;
      if (++session.rateStrikes >= config.WEBSOCKET_RATE_LIMIT_STRIKES) {
        logger.warn(
          { clientId: session.clientId },
          "closing a client that keeps sending past its rate limit",
        );
        this.disconnect(session, "POLICY_VIOLATION", "Rate limit exceeded repeatedly");
        return;
      }
      handler.sendError(session, "RATE_LIMITED", undefined);
      return;
    }
    session.rateStrikes = 0;
    if (isBinary) {
      handler.sendError(session, "INVALID_MESSAGE", undefined, invalidMessage(BINARY_FRAME));
      return;
    }
    // Never throws: a bug (ours or a plugin's) on one message is logged and answered there.
    handler.handle(session, data.toString());
  }
}
