/**
 * GET /websocket/status: the seed's status document, field for field.
 */
import type { FastifyInstance } from "fastify";
import type { GatewayConfig } from "../config.js";
import type { StreamHealthView } from "../core/health.js";

export interface WebSocketStatus {
  enabled: boolean;
  active_connections: number;
  max_connections: number;
  ping_interval: number;
  price_update_interval: number;
  portfolio_update_interval: number;
  stream_health: Record<string, StreamHealthView>;
}

export function registerStatusRoute(
  fastify: FastifyInstance,
  config: GatewayConfig,
  state: { activeConnections(): number; streamHealth(): Record<string, StreamHealthView> },
): void {
  fastify.get(
    "/websocket/status",
    async (): Promise<WebSocketStatus> => ({
      enabled: config.WEBSOCKET_ENABLED,
      active_connections: state.activeConnections(),
      max_connections: config.WEBSOCKET_MAX_CONNECTIONS,
      ping_interval: config.WEBSOCKET_PING_INTERVAL,
      price_update_interval: config.WEBSOCKET_PRICE_UPDATE_INTERVAL,
      portfolio_update_interval: config.WEBSOCKET_PORTFOLIO_UPDATE_INTERVAL,
      stream_health: state.streamHealth(),
    }),
  );
}
