/**
 * Every HTTP route of the gateway, in one order: the OpenAPI document lists them as registered.
 * The gateway registers them with its live state (app.ts); the contract generator registers them
 * with `inertState` on a bare Fastify instance that never listens, so the OpenAPI document comes
 * from the routes' schemas without a gateway being built.
 */
import type { FastifyInstance } from "fastify";
import { Registry } from "prom-client";
import type { GatewayConfig } from "../config.js";
import { registerChannelsRoute } from "./channels-route.js";
import { registerDashboardRoutes } from "./dashboard-route.js";
import { type AsyncApiTexts, registerDocsRoutes, registerOpenApi } from "./docs-routes.js";
import { registerHealthRoutes } from "./health-routes.js";
import { registerLatencyRoute } from "./latency-route.js";
import { registerMetricsRoute } from "./metrics-route.js";
import { registerStatusRoute } from "./status-route.js";

export interface RestState {
  status: Parameters<typeof registerStatusRoute>[2];
  health: Parameters<typeof registerHealthRoutes>[1];
  metrics: Registry;
  /** Built on first request: only the docs need YAML and JSON Schema. */
  asyncApi: () => Promise<AsyncApiTexts>;
  /** Every channel's description with its frame schema, serialised on first use (core/channel-info.ts). */
  channels: () => string;
  /** The last minute's per-stage latency (undefined with GATEWAY_TIMING=off). */
  latency: Parameters<typeof registerLatencyRoute>[1];
}

export async function registerRestRoutes(
  fastify: FastifyInstance,
  config: GatewayConfig,
  state: RestState,
): Promise<void> {
  await registerOpenApi(fastify);
  registerStatusRoute(fastify, config, state.status);
  registerLatencyRoute(fastify, state.latency);
  registerChannelsRoute(fastify, state.channels);
  registerHealthRoutes(fastify, state.health);
  registerMetricsRoute(fastify, state.metrics);
  registerDocsRoutes(fastify, state.asyncApi);
  await registerDashboardRoutes(fastify);
}

/** State for routes that are described, never served. */
export function inertState(seedIntervals: RestState["status"]["seedIntervals"]): RestState {
  const never = (): never => {
    throw new Error("this route is only described, not served");
  };
  return {
    status: { seedIntervals, activeConnections: never, streamHealth: never, mode: never, upstream: never },
    health: { ready: never, broker: never },
    metrics: new Registry(),
    asyncApi: never,
    channels: never,
    latency: never,
  };
}
