/**
 * GET /healthz: the process is up (for liveness probes).
 * GET /readyz: 503 until the broker is connected and every channel is subscribed (for load
 * balancers: do not send clients to an instance that has no data to give them).
 */
import type { FastifyInstance } from "fastify";

export function registerHealthRoutes(
  fastify: FastifyInstance,
  state: { ready(): boolean; broker(): string },
): void {
  fastify.get("/healthz", async () => ({ status: "ok" }));
  fastify.get("/readyz", async (_request, reply) => {
    const ready = state.ready();
    reply.code(ready ? 200 : 503);
    return { status: ready ? "ready" : "not_ready", broker: state.broker(), broker_connected: ready };
  });
}
