/**
 * The protocol pieces of delivery quality: the in-band status of each channel's stream (live, or
 * stale and why), and the delivery status of a connection whose conflated intervals the gateway
 * widened because it read too slowly.
 *
 * Schemas only (zod, no node: modules), so the browser SDK can import this file.
 */
import { z } from "zod";
import { EXAMPLE_CHANNELS } from "./seed-channels.js";

const timestamp = z.iso.datetime().describe("ISO-8601 UTC timestamp");

export const STALE_REASONS = {
  upstream_disconnected: "the gateway has lost its NATS link",
  no_data: "the channel received nothing for longer than its staleness threshold",
} as const;
export type StaleReason = keyof typeof STALE_REASONS;

/** A channel's stream: live, or stale since a moment and for a reason. */
export const streamState = z
  .object({
    status: z
      .enum(["live", "stale"])
      .meta({ title: "Stream liveness", description: "stale: what the client shows may be out of date" }),
    reason: z
      .enum(Object.keys(STALE_REASONS) as [StaleReason, ...StaleReason[]])
      .meta({ title: "Stale reason" })
      .optional()
      .describe(
        "Why it is stale: upstream_disconnected (no NATS link) or no_data (quiet past its threshold)",
      ),
    since: timestamp.describe("When the current status began"),
  })
  .meta({ title: "Stream state", description: "Whether a channel's data is live, or stale and why" });
export type StreamState = z.output<typeof streamState>;

export const streamStatusFrame = z
  .object({
    type: z.literal("stream_status"),
    channel: z.string(),
    ...streamState.shape,
    timestamp,
  })
  .meta({
    title: "Stream status",
    description:
      "Sent to a channel's subscribers whenever the channel's status changes: stale when the gateway loses NATS or the channel is quiet past its threshold, live again when data flows (or, for a channel without a threshold, when the link is back).",
    examples: [
      {
        type: "stream_status",
        channel: EXAMPLE_CHANNELS.conflated,
        status: "stale",
        reason: "upstream_disconnected",
        since: "2024-12-19T12:00:00.000Z",
        timestamp: "2024-12-19T12:00:00.000Z",
      },
      {
        type: "stream_status",
        channel: EXAMPLE_CHANNELS.conflated,
        status: "live",
        since: "2024-12-19T12:00:07.000Z",
        timestamp: "2024-12-19T12:00:07.000Z",
      },
    ],
  });

export const deliveryStatusFrame = z
  .object({
    type: z.literal("delivery_status"),
    degraded: z.boolean().describe("true while the gateway sends conflated channels less often than asked"),
    intervals_ms: z
      .record(z.string(), z.number().int().positive())
      .describe("The interval now in force for each conflated channel the connection is subscribed to"),
    timestamp,
  })
  .meta({
    title: "Delivery status",
    description:
      "The connection's queued bytes passed WEBSOCKET_DEGRADE_BYTES, so its conflated intervals were widened (doubling at most every second, up to WEBSOCKET_DEGRADE_MAX_FACTOR); or its backlog drained and they are being restored (degraded: false once they are back). Lossless channels are never thinned.",
    examples: [
      {
        type: "delivery_status",
        degraded: true,
        intervals_ms: { [EXAMPLE_CHANNELS.conflated]: 6000, [EXAMPLE_CHANNELS.perAccount]: 10000 },
        timestamp: "2024-12-19T12:00:00.000Z",
      },
    ],
  });

export const stateStatusFrame = z
  .object({
    type: z.literal("state_status"),
    channel: z.string().describe("A state channel, e.g. order_books"),
    symbol: z.string().describe("The key whose view is not current"),
    status: z.literal("stale").meta({ title: "State liveness" }),
    reason: z
      .literal("upstream_gap")
      .meta({ title: "State stale reason" })
      .describe("upstream_gap: upstream skipped a sequence, so the gateway's copy of the key is not whole"),
    sequence: z
      .number()
      .int()
      .describe("The last sequence the view was good at (the last one the client was sent for it)"),
    timestamp,
  })
  .meta({
    title: "State status",
    description:
      "A state channel's key (an order book's symbol) is not current: upstream skipped a sequence. No update goes out for it until upstream sends a snapshot, which reaches the client as a snapshot frame (order_book_snapshot) and makes the key current again. Also sent right after the subscribed ack for a requested key that is not current at that moment.",
    examples: [
      {
        type: "state_status",
        channel: "order_books",
        symbol: "AAPL",
        status: "stale",
        reason: "upstream_gap",
        sequence: 1002,
        timestamp: "2024-12-19T12:00:00.000Z",
      },
    ],
  });
