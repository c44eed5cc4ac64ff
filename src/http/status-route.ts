/**
 * GET /websocket/status: the seed's status document, field for field. The zod schema types the
 * handler and becomes the route's response schema, and so the OpenAPI document.
 */
import type { FastifyInstance } from "fastify";
import { z } from "zod";
import type { GatewayConfig } from "../config.js";
import type { StreamHealthView } from "../core/health.js";
import type { SeedIntervals } from "../core/seed-channels.js";
import { toJsonSchema } from "../specs/json-schema.js";
import { VERSION } from "../version.js";

const streamHealth = z
  .object({
    last_update: z.iso
      .datetime()
      .nullable()
      .describe("When the stream last delivered a valid message (null: never)"),
    error_count: z.number().int().describe("Invalid upstream messages counted and dropped"),
    recovery_attempts: z
      .number()
      .int()
      .describe("Times the subscription was re-established after a NATS reconnect"),
    is_healthy: z
      .boolean()
      .describe("False while the channel is stale: NATS disconnected, or no data past its threshold"),
    started_at: z.iso.datetime().describe("When the stream started"),
  })
  .meta({ title: "StreamHealth" });

export const websocketStatus = z
  .object({
    enabled: z.boolean().describe("WEBSOCKET_ENABLED"),
    active_connections: z.number().int().describe("Open WebSocket connections"),
    max_connections: z.number().int().describe("WEBSOCKET_MAX_CONNECTIONS"),
    ping_interval: z.number().describe("WEBSOCKET_PING_INTERVAL, seconds"),
    price_update_interval: z.number().describe("WEBSOCKET_PRICE_UPDATE_INTERVAL, seconds"),
    portfolio_update_interval: z.number().describe("WEBSOCKET_PORTFOLIO_UPDATE_INTERVAL, seconds"),
    stream_health: z.record(z.string(), streamHealth).describe("One entry per loaded channel"),
    mode: z
      .enum(["nats", "demo"])
      .describe(
        "nats: streaming from NATS_URL; demo: the embedded broker and simulated market (GATEWAY_DEMO)",
      ),
    upstream: z
      .object({
        state: z
          .enum(["connecting", "connected", "reconnecting", "closed"])
          .describe("closed: the NATS connection is gone for good (the process exits)"),
        server: z.string().nullable().describe("host:port of the server in use (never credentials)"),
        history: z
          .enum(["jetstream", "memory", "waiting"])
          .nullable()
          .describe(
            "Where lossless channels keep their history (null until the first NATS connection); waiting: for JetStream (NATS_JETSTREAM=required, or no definite answer yet), not ready meanwhile",
          ),
        error: z.string().optional().describe("Why the connection closed for good"),
        history_reason: z
          .string()
          .optional()
          .describe(
            "Why lossless channels are not (yet) in JetStream: the JetStream API's last answer (while waiting, or in memory with NATS_JETSTREAM=auto)",
          ),
        histories: z
          .record(z.string(), z.enum(["jetstream", "memory", "waiting"]))
          .optional()
          .describe(
            "Each lossless channel's history now, by channel (on NATS only; in demo mode every one is in memory). It moves from memory to jetstream, a new epoch, when JetStream appears later",
          ),
      })
      .describe("The upstream link, beyond the seed's document"),
    version: z
      .string()
      .describe(
        "The gateway's version (package.json), as in info.version of /openapi.json and /asyncapi.yaml",
      ),
  })
  .meta({ title: "WebSocketStatus", description: "WebSocket server status (the seed's document)" });

export type WebSocketStatus = z.output<typeof websocketStatus>;

export function registerStatusRoute(
  fastify: FastifyInstance,
  config: GatewayConfig,
  state: {
    /** The seed's fixed interval fields, filled from the plugins (core/seed-channels.ts). */
    seedIntervals: SeedIntervals;
    activeConnections(): number;
    streamHealth(): Record<string, StreamHealthView>;
    mode(): "nats" | "demo";
    upstream(): WebSocketStatus["upstream"];
  },
): void {
  fastify.get(
    "/websocket/status",
    {
      schema: {
        summary: "WebSocket server status",
        description: "Connections, limits, intervals and per-stream health, in the seed's shape.",
        tags: ["status"],
        response: { 200: toJsonSchema(websocketStatus, "output", "openapi-3.0") },
      },
    },
    async (): Promise<WebSocketStatus> => ({
      enabled: config.WEBSOCKET_ENABLED,
      active_connections: state.activeConnections(),
      max_connections: config.WEBSOCKET_MAX_CONNECTIONS,
      ping_interval: config.WEBSOCKET_PING_INTERVAL,
      ...state.seedIntervals,
      stream_health: state.streamHealth(),
      mode: state.mode(),
      upstream: state.upstream(),
      version: VERSION,
    }),
  );
}
