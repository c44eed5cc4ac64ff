/**
 * The document GET /websocket/latency answers (src/http/latency-route.ts), as a zod schema: the
 * recorder builds it (latency-recorder.ts), the route serves it and publishes it in the OpenAPI
 * document, and the dashboard and `gateway latency` read it. One definition for all of them.
 */
import { z } from "zod";
import { LATENCY_BUCKETS_SECONDS } from "./histogram-buckets.js";

const BOUNDS_MS = LATENCY_BUCKETS_SECONDS.map((seconds) => seconds * 1000);
const ESTIMATED = `estimated from histogram buckets (bounds ${BOUNDS_MS.join(", ")} ms), interpolated within the bucket; a rank past ${BOUNDS_MS.at(-1)} ms reads ${BOUNDS_MS.at(-1)}`;

const milliseconds = (what: string) =>
  z.number().nonnegative().nullable().describe(`${what}, ms; null without samples`);

export const stageFigures = z
  .object({
    count: z.number().int().nonnegative().describe("Observations in the window"),
    p50_ms: milliseconds("Median"),
    p99_ms: milliseconds("99th percentile"),
  })
  .meta({ title: "LatencyFigures", description: `Percentiles ${ESTIMATED}` });

export const seriesPoint = z
  .object({
    end: z.iso.datetime().describe("When the slot ends (now, for the slot under way)"),
    count: z.number().int().nonnegative().describe("Frames written in the slot"),
    hop_p50_ms: milliseconds("Hop median in the slot"),
    hop_p99_ms: milliseconds("Hop 99th percentile in the slot"),
    lag_p50_ms: milliseconds("Upstream lag median in the slot"),
    lag_p99_ms: milliseconds("Upstream lag 99th percentile in the slot"),
  })
  .meta({ title: "LatencySeriesPoint" });

export const channelLatency = z
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
export type StageFigures = z.output<typeof stageFigures>;
export type SeriesPoint = z.output<typeof seriesPoint>;
export type ChannelLatencyReport = z.output<typeof channelLatency>;
