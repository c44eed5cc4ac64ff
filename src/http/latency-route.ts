/**
 * GET /websocket/latency: per channel, the gateway's hop, queue, conflation wait and upstream lag
 * over the last minute (p50 and p99), and the same minute in 5-second slots for a small chart.
 * Read by the dashboard's latency panel and `gateway latency`. The zod schema types the handler
 * and becomes the route's response schema, and so the OpenAPI document.
 */
import type { FastifyInstance } from "fastify";
import { z } from "zod";
import type { LatencyReport } from "../core/latency/latency-recorder.js";
import { toJsonSchema } from "../specs/json-schema.js";

const ESTIMATED =
  "estimated from histogram buckets (bounds 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000 ms), interpolated within the bucket; a rank past 5000 ms reads 5000";

const milliseconds = (what: string) =>
  z.number().nonnegative().nullable().describe(`${what}, ms; null without samples`);

const stageFigures = z
  .object({
    count: z.number().int().nonnegative().describe("Observations in the window"),
    p50_ms: milliseconds("Median"),
    p99_ms: milliseconds("99th percentile"),
  })
  .meta({ title: "LatencyFigures", description: `Percentiles ${ESTIMATED}` });

const seriesPoint = z
  .object({
    end: z.iso.datetime().describe("When the slot ends (now, for the slot under way)"),
    count: z.number().int().nonnegative().describe("Frames written in the slot"),
    hop_p50_ms: milliseconds("Hop median in the slot"),
    hop_p99_ms: milliseconds("Hop 99th percentile in the slot"),
    lag_p50_ms: milliseconds("Upstream lag median in the slot"),
    lag_p99_ms: milliseconds("Upstream lag 99th percentile in the slot"),
  })
  .meta({ title: "LatencySeriesPoint" });

const channelLatency = z
  .object({
    kind: z.enum(["conflated", "lossless", "state"]).describe("The channel's delivery kind"),
    hop: stageFigures.describe(
      "NATS receive to the socket write, without the conflation wait (gateway_ingest_to_write_seconds)",
    ),
    queue: stageFigures.describe(
      "Queued for the sockets (frame built, or conflation flush begun) to written (gateway_queue_seconds)",
    ),
    conflation_wait: stageFigures
      .nullable()
      .describe(
        "Conflated and state channels: validated to queued, the wait for the interval flush (gateway_conflation_wait_seconds); null on lossless channels",
      ),
    upstream_lag: stageFigures
      .nullable()
      .describe(
        "Upstream publish time (JetStream timestamp, or the plugin's publishedAt) to NATS receive (gateway_upstream_lag_seconds): only as right as the publisher's clock is to the gateway's. null when the channel has no upstream time",
      ),
    series: z
      .array(seriesPoint)
      .max(12)
      .describe("The same window in bucket_seconds slots, oldest first (up to 12)"),
  })
  .meta({ title: "ChannelLatency" });

export const latencyDocument = z
  .object({
    window_seconds: z.number().int().min(1).describe("The span the figures cover (60)"),
    bucket_seconds: z.number().int().min(1).describe("The span of one series slot (5)"),
    timestamp: z.iso.datetime().describe("When the figures were read"),
    channels: z
      .record(z.string(), channelLatency)
      .describe("One entry per loaded channel (none with GATEWAY_TIMING=off)"),
  })
  .meta({
    title: "LatencyDocument",
    description: `The gateway's per-stage latency over the last minute, per channel. Counted once per frame per socket flush, not per client. Percentiles ${ESTIMATED}.`,
  });

export type LatencyDocument = z.output<typeof latencyDocument>;

export function registerLatencyRoute(
  fastify: FastifyInstance,
  report: () => LatencyReport | undefined,
): void {
  fastify.get(
    "/websocket/latency",
    {
      schema: {
        summary: "Per-stage latency over the last minute",
        description:
          "Per channel: p50 and p99 of the gateway's hop (NATS receive to socket write), of the queue to the socket, of the conflation wait and of the upstream lag, over the last minute and in 5-second slots. Percentiles are estimated from histogram buckets.",
        tags: ["status"],
        response: { 200: toJsonSchema(latencyDocument, "output", "openapi-3.0") },
      },
    },
    async (): Promise<LatencyDocument> => {
      const now = new Date().toISOString();
      // GATEWAY_TIMING=off: the same document, with no channels.
      return report() ?? { window_seconds: 60, bucket_seconds: 5, timestamp: now, channels: {} };
    },
  );
}
