/**
 * GET /websocket/latency: per channel, the gateway's hop, queue, conflation wait and upstream lag
 * over the last minute (p50 and p99), and the same minute in 5-second slots for a small chart.
 * Read by the dashboard's latency panel and `gateway latency`. The document's zod schema
 * (core/latency/latency-document.ts) types the handler and becomes the route's response schema,
 * and so the OpenAPI document.
 */
import type { FastifyInstance } from "fastify";
import { type LatencyDocument, latencyDocument } from "../core/latency/latency-document.js";
import { toJsonSchema } from "../specs/json-schema.js";

export function registerLatencyRoute(
  fastify: FastifyInstance,
  report: () => LatencyDocument | undefined,
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
