/**
 * GET /websocket/channels: every channel the gateway serves, as its plugin declares it (welcome's
 * channel_info) plus the JSON Schema of its data frames. The SDK asks for it when a welcome names
 * a channel it has no types for, and validates that channel's frames against the schema. Built
 * once at start; the route sends the same bytes every time.
 */
import type { FastifyInstance } from "fastify";

export function registerChannelsRoute(fastify: FastifyInstance, descriptionsJson: string): void {
  fastify.get("/websocket/channels", { schema: { hide: true } }, async (_request, reply) =>
    reply.type("application/json; charset=utf-8").header("cache-control", "no-cache").send(descriptionsJson),
  );
}
