/** GET /metrics: Prometheus text format. */
import type { FastifyInstance } from "fastify";
import type { Registry } from "prom-client";

export function registerMetricsRoute(fastify: FastifyInstance, registry: Registry): void {
  fastify.get("/metrics", async (_request, reply) => {
    reply.header("Content-Type", registry.contentType);
    return registry.metrics();
  });
}
