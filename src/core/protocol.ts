/**
 * Longer than 250 lines: one catalogue of the protocol's frames, each schema next to its examples.
 *
 * The WebSocket protocol's own frames: what clients send, and the control frames the server
 * answers with. Channel data frames belong to their plugins.
 *
 * These zod schemas are the single source for validation, TypeScript types and the published
 * contract.
 */
import { z } from "zod";
import { channelInfo } from "./channel-info.js";
import { type ErrorCode, ErrorCodes } from "./errors.js";
import {
  channelPosition,
  EXAMPLE_EPOCH,
  EXAMPLE_STREAM_IDENTITY,
  resumeFailure,
  sincePosition,
} from "./positions.js";
import { deliveryStatusFrame, stateStatusFrame, streamState, streamStatusFrame } from "./quality.js";
import {
  EXAMPLE_CHANNEL_LIST,
  EXAMPLE_CHANNELS,
  EXAMPLE_SEED_INTERVALS,
  seedIntervalFields,
} from "./seed-channels.js";

/** A symbol (or, on an account-keyed channel, an account id) as clients may name it. */
export const SYMBOL_PATTERN = /^[A-Za-z0-9._:/-]{1,32}$/;

/** `client_id` query parameter syntax: what may appear in logs and metrics labels unescaped. */
export const CLIENT_ID_PATTERN = /^[A-Za-z0-9._:-]{1,64}$/;

/** Optional correlation id a client may put on any message; echoed in the reply. */
const messageId = z
  .union([z.string().max(64), z.number().int().finite()])
  .meta({ title: "Message id" })
  .optional()
  .describe("Optional correlation id, echoed in the reply to this message");

const channelName = z
  .string()
  .min(1)
  .max(64)
  .meta({ title: "Channel name", description: `Channel name, e.g. ${EXAMPLE_CHANNELS.conflated}` });

/**
 * `"*"` (or `["*"]`, or no `symbols` at all) means every symbol; otherwise the listed ones.
 * Symbol syntax is checked after shape validation so that the client gets INVALID_SYMBOLS,
 * not the generic "Invalid message format".
 */
const symbolsField = z
  .union([z.literal("*"), z.array(z.string())])
  .meta({ title: "Symbol selection" })
  .optional()
  .describe('Symbols to (un)subscribe; "*" or absent means all');

export const pingFrame = z.object({ type: z.literal("ping"), id: messageId }).meta({
  title: "Ping",
  description: "Keep-alive; answered by pong",
  examples: [{ type: "ping" }],
});

export const subscribeFrame = z
  .object({
    type: z.literal("subscribe"),
    channel: channelName,
    symbols: symbolsField,
    interval_ms: z
      .number()
      .int()
      .positive()
      .optional()
      .describe(
        "Conflated channels only: this connection's flush interval for the channel, from WEBSOCKET_MIN_INTERVAL_MS to 60000 (default: the channel's)",
      ),
    since: sincePosition
      .optional()
      .describe(
        "Resume: on a lossless channel, replay every frame after this position first (answered with recovered); on a conflated channel, accepted and answered with the snapshot",
      ),
    timing: z
      .boolean()
      .optional()
      .describe(
        "true: every live data frame of this subscription carries gw_rx and gw_tx, wall-clock microseconds since the epoch at NATS receive and at the socket write (docs/latency.md); false: no more; absent: unchanged",
      ),
    id: messageId,
  })
  .meta({
    title: "Subscribe",
    description:
      'Subscribe to a channel, or add symbols to a subscription. The first explicit subscribe to a channel replaces the auto-subscribe default; "*" or no symbols means all. Answered by subscribed (and, on conflated channels, a snapshot of the latest values). With since on a lossless channel, the frames missed since that position follow the ack, then replayed, then live frames.',
    examples: [
      { type: "subscribe", channel: EXAMPLE_CHANNELS.conflated, symbols: ["AAPL", "MSFT"] },
      {
        type: "subscribe",
        channel: EXAMPLE_CHANNELS.lossless,
        since: { seq: 1041, epoch: EXAMPLE_EPOCH },
      },
    ],
  });

export const unsubscribeFrame = z
  .object({ type: z.literal("unsubscribe"), channel: channelName, symbols: symbolsField, id: messageId })
  .meta({
    title: "Unsubscribe",
    description:
      "Remove symbols from a subscription, or leave the channel when symbols is absent. Answered by unsubscribed.",
    examples: [{ type: "unsubscribe", channel: EXAMPLE_CHANNELS.conflated, symbols: ["AAPL"] }],
  });

/** Longest token an `auth` frame may carry (a JWT with generous claims stays far below). */
export const MAX_TOKEN_LENGTH = 3072;

export const authFrame = z
  .object({
    type: z.literal("auth"),
    token: z.string().min(1).max(MAX_TOKEN_LENGTH).describe("A JWT (compact serialisation)"),
    id: messageId,
  })
  .meta({
    title: "Auth",
    description:
      "Only with WEBSOCKET_AUTH=jwt. Sent first (within WEBSOCKET_AUTH_TIMEOUT_MS) by a client that brought no token in the Authorization header or the token query parameter: answered by welcome, or close 4401. Sent later with a fresh token before the current one expires: answered by authenticated, or an INVALID_TOKEN error.",
    examples: [{ type: "auth", token: "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJl" }],
  });

export const clientFrame = z.discriminatedUnion("type", [
  pingFrame,
  subscribeFrame,
  unsubscribeFrame,
  authFrame,
]);
export type ClientFrame = z.output<typeof clientFrame>;
export const CLIENT_FRAME_TYPES = ["ping", "subscribe", "unsubscribe", "auth"] as const;

// --- Server -> client control frames ----------------------------------------------------------

const timestamp = z.iso.datetime().describe("ISO-8601 UTC timestamp");

/** The resulting subscription state of one channel: "*" for all, else the symbols (empty: none). */
export const subscriptionState = z
  .union([z.literal("*"), z.array(z.string())])
  .meta({ title: "Subscription state" });
export type SubscriptionStateView = z.output<typeof subscriptionState>;

export const pongFrame = z.object({ type: z.literal("pong"), id: messageId }).meta({
  title: "Pong",
  description: "Reply to ping, echoing its id when it had one",
  examples: [{ type: "pong" }],
});

export const errorFrame = z
  .object({
    type: z.literal("error"),
    error: z
      .string()
      .describe(
        'Human-readable message (match on code, not on this). INVALID_MESSAGE and UNKNOWN_MESSAGE_TYPE: the seed\'s "Invalid message format", then the field and the rule it broke',
      ),
    code: z
      .enum(Object.keys(ErrorCodes) as [ErrorCode, ...ErrorCode[]])
      .meta({ title: "Error code", description: "Machine-readable code (docs/errors.md)" }),
    timestamp,
    id: messageId,
  })
  .meta({
    title: "Error",
    description: "A client message could not be honoured; the connection stays open",
    examples: [
      {
        type: "error",
        error: "Invalid message format: interval_ms must be an integer from 100 to 60000",
        code: "INVALID_MESSAGE",
        timestamp: "2024-12-19T12:00:00.000Z",
        id: "sub-1",
      },
    ],
  });

export const welcomeFrame = z
  .object({
    type: z.literal("welcome"),
    client_id: z.string().describe("The client_id query parameter, or a generated UUID"),
    channels: z.array(z.string()).describe("Every channel this gateway serves"),
    subscriptions: z
      .record(z.string(), subscriptionState)
      .describe("Subscriptions the connection starts with"),
    ping_interval: z.number().describe("Seconds between server pings (WEBSOCKET_PING_INTERVAL)"),
    ...seedIntervalFields,
    max_message_bytes: z.number().describe("Largest frame the client may send"),
    stream_status: z
      .record(z.string(), streamState)
      .optional()
      .describe("Each channel's stream status now: live, or stale and why"),
    positions: z
      .record(z.string(), channelPosition)
      .optional()
      .describe(
        "Head of each lossless channel the client may use, once its history is ready: frames after it are delivered live",
      ),
    channel_info: z
      .record(z.string(), channelInfo)
      .optional()
      .describe(
        "What each channel the client may use is: its frame type, delivery and intervals (GET /websocket/channels adds the JSON Schema of its frames)",
      ),
    expires_at: z.iso
      .datetime()
      .optional()
      .describe(
        "With WEBSOCKET_AUTH=jwt: when the connection's token expires (send a fresh one with auth before)",
      ),
    timestamp,
  })
  .meta({
    title: "Welcome",
    description:
      "First frame on every connection: who the client is, what it is subscribed to, and the intervals",
    examples: [
      {
        type: "welcome",
        client_id: "my-client-id",
        channels: EXAMPLE_CHANNEL_LIST,
        subscriptions: Object.fromEntries(EXAMPLE_CHANNEL_LIST.map((channel) => [channel, "*"])),
        ping_interval: 30,
        ...EXAMPLE_SEED_INTERVALS,
        max_message_bytes: 4096,
        timestamp: "2024-12-19T12:00:00.000Z",
      },
    ],
  });

export const subscribedFrame = z
  .object({
    type: z.literal("subscribed"),
    channel: z.string(),
    symbols: subscriptionState.describe("The channel's subscription after this message"),
    position: channelPosition
      .optional()
      .describe("Lossless channels: the position the subscription starts after (resume from it later)"),
    interval_ms: z
      .number()
      .int()
      .positive()
      .optional()
      .describe("Conflated channels: the flush interval in force for this connection on the channel"),
    stream_status: streamState.optional().describe("The channel's stream status now"),
    recovered: z
      .boolean()
      .optional()
      .describe(
        "Only in answer to since on a lossless channel. true: every frame after since that the subscription entitles the client to follows, in seq order, exactly once, then replayed, then live frames. false: see reason; the subscription is live from now",
      ),
    reason: resumeFailure.meta({ title: "Resume failure" }).optional(),
    id: messageId,
    timestamp,
  })
  .meta({
    title: "Subscribed",
    description: "Acknowledges subscribe with the channel's resulting subscription",
    examples: [
      {
        type: "subscribed",
        channel: EXAMPLE_CHANNELS.conflated,
        symbols: ["AAPL", "MSFT"],
        timestamp: "2024-12-19T12:00:00.000Z",
      },
      {
        type: "subscribed",
        channel: EXAMPLE_CHANNELS.lossless,
        symbols: "*",
        position: { seq: 1045, epoch: EXAMPLE_EPOCH, stream: EXAMPLE_STREAM_IDENTITY },
        recovered: true,
        timestamp: "2024-12-19T12:00:00.000Z",
      },
      {
        type: "subscribed",
        channel: EXAMPLE_CHANNELS.lossless,
        symbols: "*",
        position: { seq: 1045, epoch: EXAMPLE_EPOCH, stream: EXAMPLE_STREAM_IDENTITY },
        recovered: false,
        reason: "epoch_mismatch",
        timestamp: "2024-12-19T12:00:00.000Z",
      },
    ],
  });

export const replayedFrame = z
  .object({
    type: z.literal("replayed"),
    channel: z.string(),
    count: z.number().int().min(0).describe("Frames replayed after the subscribed ack"),
    position: channelPosition.describe("The last position the replay covered; live frames follow it"),
    id: messageId,
    timestamp,
  })
  .meta({
    title: "Replayed",
    description:
      "Ends the replay that followed a subscribed ack with recovered: true. Frames after it are live.",
    examples: [
      {
        type: "replayed",
        channel: EXAMPLE_CHANNELS.lossless,
        count: 4,
        position: { seq: 1045, epoch: EXAMPLE_EPOCH, stream: EXAMPLE_STREAM_IDENTITY },
        timestamp: "2024-12-19T12:00:00.000Z",
      },
    ],
  });

export const unsubscribedFrame = z
  .object({
    type: z.literal("unsubscribed"),
    channel: z.string(),
    symbols: subscriptionState.describe(
      "The channel's subscription after this message ([] = not subscribed)",
    ),
    id: messageId,
    timestamp,
  })
  .meta({
    title: "Unsubscribed",
    description: "Acknowledges unsubscribe with the channel's resulting subscription",
    examples: [
      {
        type: "unsubscribed",
        channel: EXAMPLE_CHANNELS.conflated,
        symbols: ["MSFT"],
        timestamp: "2024-12-19T12:00:00.000Z",
      },
    ],
  });

export const authenticatedFrame = z
  .object({
    type: z.literal("authenticated"),
    client_id: z.string().describe("The token's subject, the connection's client_id"),
    expires_at: z.iso.datetime().describe("When the fresh token expires"),
    id: messageId,
    timestamp,
  })
  .meta({
    title: "Authenticated",
    description:
      "Acknowledges an auth frame that refreshed the token of an open connection; its claims apply from now on",
    examples: [
      {
        type: "authenticated",
        client_id: "alice",
        expires_at: "2024-12-19T13:00:00.000Z",
        timestamp: "2024-12-19T12:00:00.000Z",
      },
    ],
  });

export const shutdownNoticeFrame = z
  .object({
    type: z.literal("shutdown_notice"),
    reconnect_in_ms: z
      .number()
      .int()
      .min(0)
      .describe(
        "Milliseconds from now at which the gateway closes this connection with 1001; reconnect then (to another instance), without backoff, resuming with since",
      ),
  })
  .meta({
    title: "Shutdown notice",
    description:
      "Sent to every client when the gateway begins a graceful shutdown (SIGTERM): the connection is closed with 1001 after reconnect_in_ms, a time drawn per client from 0 to SHUTDOWN_RECONNECT_SPREAD_MS so that clients come back spread out, not all at once. A client that ignores it just sees the 1001.",
    examples: [{ type: "shutdown_notice", reconnect_in_ms: 4200 }],
  });

/** Client -> server frames, in the order the contract lists them. */
export const CLIENT_FRAMES = [pingFrame, subscribeFrame, unsubscribeFrame, authFrame] as const;

/** Server -> client control frames (channel data frames come from the plugins). */
export const SERVER_CONTROL_FRAMES = [
  welcomeFrame,
  subscribedFrame,
  unsubscribedFrame,
  pongFrame,
  errorFrame,
  authenticatedFrame,
  replayedFrame,
  streamStatusFrame,
  deliveryStatusFrame,
  stateStatusFrame,
  shutdownNoticeFrame,
] as const;

/** ISO-8601 UTC with `Z`, the only timestamp format the gateway emits. */
export function isoNow(now: Date = new Date()): string {
  return now.toISOString();
}
