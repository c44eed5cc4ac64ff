/**
 * The WebSocket protocol's own frames: what clients send, and the control frames the server
 * answers with. Channel data frames (price_update, signal, ...) belong to their plugins.
 *
 * These zod schemas are the single source for validation, TypeScript types and the published
 * contract.
 */
import { z } from "zod";

/** A symbol (or, on the portfolio channel, an account id) as clients may name it. */
export const SYMBOL_PATTERN = /^[A-Za-z0-9._:/-]{1,32}$/;

/** `client_id` query parameter syntax (DESIGN.md section 4). */
export const CLIENT_ID_PATTERN = /^[A-Za-z0-9._:-]{1,64}$/;

/** Optional correlation id a client may put on any message; echoed in the reply. */
const messageId = z
  .union([z.string().max(64), z.number().int().finite()])
  .optional()
  .describe("Optional correlation id, echoed in the reply to this message");

const channelName = z.string().min(1).max(64).describe("Channel name, e.g. price_updates");

/**
 * `"*"` (or `["*"]`, or no `symbols` at all) means every symbol; otherwise the listed ones.
 * Symbol syntax is checked after shape validation so that the client gets INVALID_SYMBOLS,
 * not the generic "Invalid message format".
 */
const symbolsField = z
  .union([z.literal("*"), z.array(z.string()).max(1000)])
  .optional()
  .describe('Symbols to (un)subscribe; "*" or absent means all');

export const pingFrame = z
  .object({ type: z.literal("ping"), id: messageId })
  .describe("Keep-alive; answered by pong");

export const subscribeFrame = z
  .object({ type: z.literal("subscribe"), channel: channelName, symbols: symbolsField, id: messageId })
  .describe("Subscribe to a channel, or add symbols to a subscription");

export const unsubscribeFrame = z
  .object({ type: z.literal("unsubscribe"), channel: channelName, symbols: symbolsField, id: messageId })
  .describe("Remove symbols from a subscription, or leave the channel when symbols is absent");

export const clientFrame = z.discriminatedUnion("type", [pingFrame, subscribeFrame, unsubscribeFrame]);
export type ClientFrame = z.output<typeof clientFrame>;
export const CLIENT_FRAME_TYPES = ["ping", "subscribe", "unsubscribe"] as const;

// --- Server -> client control frames ----------------------------------------------------------

const timestamp = z.string().describe("ISO-8601 UTC timestamp");

/** The resulting subscription state of one channel: "*" for all, else the symbols (empty: none). */
export const subscriptionState = z.union([z.literal("*"), z.array(z.string())]);
export type SubscriptionStateView = z.output<typeof subscriptionState>;

export const pongFrame = z.object({ type: z.literal("pong"), id: messageId }).describe("Reply to ping");

export const errorFrame = z
  .object({
    type: z.literal("error"),
    error: z.string().describe("Human-readable message"),
    code: z.string().describe("Machine-readable code from docs/errors.md"),
    timestamp,
    id: messageId,
  })
  .describe("A client message could not be honoured; the connection stays open");

export const welcomeFrame = z
  .object({
    type: z.literal("welcome"),
    client_id: z.string(),
    channels: z.array(z.string()).describe("Every channel this gateway serves"),
    subscriptions: z
      .record(z.string(), subscriptionState)
      .describe("Subscriptions the connection starts with"),
    ping_interval: z.number().describe("Seconds between server pings"),
    price_update_interval: z.number(),
    portfolio_update_interval: z.number(),
    max_message_bytes: z.number().describe("Largest frame the client may send"),
    timestamp,
  })
  .describe("First frame on every connection");

export const subscribedFrame = z
  .object({
    type: z.literal("subscribed"),
    channel: z.string(),
    symbols: subscriptionState.describe("The channel's subscription after this message"),
    id: messageId,
    timestamp,
  })
  .describe("Acknowledges subscribe with the resulting state");

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
  .describe("Acknowledges unsubscribe with the resulting state");

/** ISO-8601 UTC with `Z`, the only timestamp format the gateway emits. */
export function isoNow(now: Date = new Date()): string {
  return now.toISOString();
}
