/** GET /metrics: Prometheus text format. */
import type { FastifyInstance } from "fastify";
import type { Registry } from "prom-client";

export function registerMetricsRoute(fastify: FastifyInstance, registry: Registry): void {
  fastify.get(
    "/metrics",
    {
      schema: {
        summary: "Prometheus metrics",
        description:
          "Connections, frames out per channel, upstream messages and invalid ones per channel and reason, NATS connection state, slow-consumer disconnects.",
        tags: ["metrics"],
        produces: ["text/plain"],
        response: { 200: { description: "Prometheus text exposition format", type: "string" } },
      },
    },
    async (_request, reply) => {
      reply.header("Content-Type", registry.contentType);
      return registry.metrics();
    },
  );
}
