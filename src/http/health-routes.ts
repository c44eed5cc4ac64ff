/**
 * GET /healthz: the process is up (for liveness probes).
 * GET /readyz: 503 until the broker is connected and every channel is subscribed (for load
 * balancers: do not send clients to an instance that has no data to give them).
 */
import type { FastifyInstance } from "fastify";
import { z } from "zod";
import { toJsonSchema } from "../specs/json-schema.js";

const liveness = z.object({ status: z.literal("ok") }).meta({ title: "Liveness" });

const readiness = z
  .object({
    status: z.enum(["ready", "not_ready"]),
    broker: z.enum(["nats", "embedded"]).describe("embedded: demo mode without NATS_URL"),
    broker_connected: z.boolean(),
  })
  .meta({ title: "Readiness" });

export function registerHealthRoutes(
  fastify: FastifyInstance,
  state: { ready(): boolean; broker(): "nats" | "embedded" },
): void {
  fastify.get(
    "/healthz",
    {
      schema: {
        summary: "Liveness",
        description: "200 while the process is up.",
        tags: ["health"],
        response: { 200: toJsonSchema(liveness, "output", "openapi-3.0") },
      },
    },
    async (): Promise<z.output<typeof liveness>> => ({ status: "ok" }),
  );
  fastify.get(
    "/readyz",
    {
      schema: {
        summary: "Readiness",
        description:
          "200 once NATS (or the embedded demo broker) is connected and every channel is subscribed; 503 before and while disconnected.",
        tags: ["health"],
        response: {
          200: toJsonSchema(readiness, "output", "openapi-3.0"),
          503: toJsonSchema(readiness, "output", "openapi-3.0"),
        },
      },
    },
    async (_request, reply): Promise<z.output<typeof readiness>> => {
      const ready = state.ready();
      reply.code(ready ? 200 : 503);
      return { status: ready ? "ready" : "not_ready", broker: state.broker(), broker_connected: ready };
    },
  );
}
