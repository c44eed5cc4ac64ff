/**
 * Every error the gateway reports to a client, in one table.
 *
 * Error frames keep the seed's shape `{ type: "error", error, timestamp }` and add the `code`
 * column below. A recoverable error never closes the connection; the close codes further down are
 * for what does. Both tables are documented in docs/errors.md, and a test keeps them in step.
 */

export const ErrorCodes = {
  INVALID_MESSAGE: {
    message: "Invalid message format",
    meaning:
      "The frame is not JSON, not an object, or breaks a rule of its type; the text goes on to name the field and the rule, e.g. `Invalid message format: interval_ms must be an integer from 100 to 60000`.",
  },
  UNKNOWN_MESSAGE_TYPE: {
    message: "Invalid message format",
    meaning:
      "`type` is not one of ping, subscribe, unsubscribe, auth; the text goes on to quote it (at most 64 characters).",
  },
  UNKNOWN_CHANNEL: {
    message: "Unknown channel",
    meaning: "`channel` names no loaded channel; the welcome frame lists the valid ones.",
  },
  INVALID_SYMBOLS: {
    message: "Invalid symbols",
    meaning:
      'A symbol breaks the syntax (1 to 32 of A-Z a-z 0-9 . _ : / -), or `symbols` is empty; use "*" for all.',
  },
  TOO_MANY_SYMBOLS: {
    message: "Too many symbols",
    meaning:
      "The request lists more than WEBSOCKET_MAX_SYMBOLS_PER_SUBSCRIBE symbols, or would take the connection past WEBSOCKET_MAX_SYMBOLS_PER_CLIENT. Nothing changed.",
  },
  RATE_LIMITED: {
    message: "Rate limit exceeded",
    meaning:
      "The connection sent frames faster than WEBSOCKET_RATE_LIMIT_PER_SECOND (bursts up to WEBSOCKET_RATE_LIMIT_BURST); the frame was not processed. Slow down; sustained abuse closes the connection with 1008.",
  },
  SUBSCRIPTION_CONFLICT: {
    message: "Cannot unsubscribe single symbols from a '*' subscription",
    meaning:
      'The channel is subscribed to "*"; unsubscribe the channel, then subscribe to the symbols wanted.',
  },
  FORBIDDEN: {
    message: "Channel not allowed by your token",
    meaning:
      "With WEBSOCKET_AUTH=jwt, the token's `channels` claim does not include this channel. Nothing changed.",
  },
  INVALID_TOKEN: {
    message: "Invalid token",
    meaning:
      "An `auth` frame on an authenticated connection carried a token that failed verification (signature, expiry, issuer, audience, or another subject). The connection keeps its current token until that expires.",
  },
  AUTH_DISABLED: {
    message: "Authentication is not enabled on this gateway",
    meaning: "An `auth` frame was sent to a gateway running with WEBSOCKET_AUTH=none; nothing changed.",
  },
} as const;

export type ErrorCode = keyof typeof ErrorCodes;

/**
 * WebSocket close codes the gateway sends, with whether a client should reconnect.
 * 1000-2999 are the RFC 6455 codes; 4000-4999 are ours.
 */
export const CloseCodes = {
  GOING_AWAY: {
    code: 1001,
    reconnect: true,
    meaning: "The gateway is shutting down; reconnect (another instance).",
  },
  POLICY_VIOLATION: {
    code: 1008,
    reconnect: false,
    meaning:
      "The client kept sending past the rate limit (WEBSOCKET_RATE_LIMIT_STRIKES refused frames in a row), or sent more than WEBSOCKET_RATE_LIMIT_BURST frames while its token was being verified; fix the client.",
  },
  MESSAGE_TOO_BIG: {
    code: 1009,
    reconnect: false,
    meaning:
      "A client frame exceeded WEBSOCKET_MAX_MESSAGE_BYTES; reconnecting would repeat it: fix the client.",
  },
  TRY_AGAIN_LATER: {
    code: 1013,
    reconnect: true,
    meaning:
      "WEBSOCKET_MAX_CONNECTIONS, WEBSOCKET_MAX_CONNECTIONS_PER_IP for this address, or WEBSOCKET_MAX_CONNECTIONS_PER_SUBJECT for this token's sub reached; reconnect with backoff.",
  },
  REPLACED: {
    code: 4000,
    reconnect: false,
    meaning: "A newer connection with the same client_id took over; do not reconnect (the two would fight).",
  },
  SLOW_CONSUMER: {
    code: 4001,
    reconnect: true,
    meaning: "The client read too slowly and lossless data could not be queued; reconnect and read faster.",
  },
  REPLAY_INTERRUPTED: {
    code: 4002,
    reconnect: true,
    meaning:
      "A replay that had started (recovered: true) could not be finished: JetStream became unreachable mid-way. Everything received so far is in order; reconnect and resume with since from the last seq received.",
  },
  AUTH_FAILED: {
    code: 4401,
    reconnect: false,
    meaning:
      "WEBSOCKET_AUTH=jwt: the token (header, query or first `auth` frame) is missing, malformed, badly signed, expired, for another issuer or audience, or the first frame was not `auth`. Get a valid token before reconnecting.",
  },
  TOKEN_EXPIRED: {
    code: 4402,
    reconnect: true,
    meaning:
      "The connection's token expired and no `auth` frame with a fresh one arrived in time; reconnect with a fresh token.",
  },
  AUTH_TIMEOUT: {
    code: 4408,
    reconnect: false,
    meaning:
      "WEBSOCKET_AUTH=jwt and the connection brought no token and sent no `auth` frame within WEBSOCKET_AUTH_TIMEOUT_MS; send the token at once.",
  },
} as const;

export type CloseCodeName = keyof typeof CloseCodes;
