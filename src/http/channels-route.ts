/**
 * GET /websocket/channels: every channel the gateway serves, as its plugin declares it (welcome's
 * channel_info) plus the JSON Schema of its data frames. The SDK asks for it when a welcome names
 * a channel it has no types for, and validates that channel's frames against the schema. Built
 * on the first request; the route sends the same bytes every time, and its response schema is for
 * the OpenAPI document only.
 */
import type { FastifyInstance } from "fastify";
import { z } from "zod";
import { channelInfo } from "../core/channel-info.js";
import { toJsonSchema } from "../specs/json-schema.js";

const channelDescription = channelInfo
  .extend({
    frame_schema: z
      .record(z.string(), z.unknown())
      .describe("JSON Schema (draft 2020-12) of the channel's data frames as the gateway sends them"),
  })
  .meta({ title: "ChannelDescription", description: "A channel's info and the JSON Schema of its frames" });

export const channelDescriptions = z
  .record(z.string(), channelDescription)
  .meta({ title: "ChannelDescriptions", description: "Every channel the gateway serves, by name" });

export function registerChannelsRoute(fastify: FastifyInstance, descriptionsJson: () => string): void {
  fastify.get(
    "/websocket/channels",
    {
      schema: {
        summary: "Channels and the schemas of their frames",
        description:
          "Every channel this gateway serves (bundled and dropped-in plugins): its frame type, delivery class, default interval, staleness threshold and the JSON Schema of its data frames. Clients that meet a channel they have no types for validate its frames against this.",
        tags: ["status"],
        response: { 200: toJsonSchema(channelDescriptions, "output", "openapi-3.0") },
      },
      // The payload is serialised once at start: the schema documents it, nothing compiles it.
      serializerCompiler: () => (data) => (typeof data === "string" ? data : JSON.stringify(data)),
    },
    async (_request, reply) =>
      reply
        .type("application/json; charset=utf-8")
        .header("cache-control", "no-cache")
        .send(descriptionsJson()),
  );
}
