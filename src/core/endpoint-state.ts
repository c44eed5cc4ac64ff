/**
 * What the parts of the `/ws` endpoint share: its options, its connection counters, the registry
 * of connected clients, and whether it still accepts connections. The parts are: admission of an
 * upgrade (upgrade-admission.ts), the life of a session (session-lifecycle.ts) and the dispatch of
 * its messages (message-dispatch.ts); websocket-server.ts puts them together.
 */
import type { Logger } from "pino";
import type { WebSocket } from "ws";
import type { GatewayConfig } from "../config.js";
import type { SessionAuth } from "./auth/session-auth.js";
import type { TokenVerifier } from "./auth/token-verifier.js";
import type { ClientMessageHandler } from "./client-messages.js";
import { ClientRegistry } from "./client-registry.js";
import type { OutboundWriter } from "./delivery/outbound-writer.js";
import type { Disconnect } from "./disconnect.js";
import type { Pipeline } from "./pipeline.js";
import type { SubscriptionIndex } from "./subscription-index.js";
import type { WelcomeSources } from "./welcome.js";

/** The reason of the 1001 every client gets at shutdown: go, and come back (to another instance). */
export const GOING_AWAY_REASON = "Server shutting down; reconnect";

export interface ConnectionCounters {
  accepted: number;
  rejectedMaxConnections: number;
  replaced: number;
  deadTerminated: number;
  messagesIn: number;
  rateLimited: number;
  /** Connections closed for a missing, bad or late token (WEBSOCKET_AUTH=jwt). */
  authFailed: number;
  /** Upgrades refused with 503 and Retry-After: over WEBSOCKET_MAX_CONNECTS_PER_SECOND. */
  refusedRate: number;
  /** Upgrades refused with 503 because the gateway is draining or closing. */
  refusedDraining: number;
}

export interface WebSocketEndpointOptions {
  config: GatewayConfig;
  logger: Logger;
  index: SubscriptionIndex;
  handler: ClientMessageHandler;
  writer: OutboundWriter;
  pipelines: ReadonlyMap<string, Pipeline>;
  /** Close a session with a documented code (disconnect.ts). */
  disconnect: Disconnect;
  /** What the welcome frame is built from. */
  welcome: WelcomeSources;
  /** Present with WEBSOCKET_AUTH=jwt. */
  auth?: { verifier: TokenVerifier; sessions: SessionAuth } | undefined;
}

export class EndpointState {
  /** Connected clients by client_id (and token subject, with WEBSOCKET_AUTH=jwt). */
  readonly clients = new ClientRegistry();
  readonly counters: ConnectionCounters = {
    accepted: 0,
    rejectedMaxConnections: 0,
    replaced: 0,
    deadTerminated: 0,
    messagesIn: 0,
    rateLimited: 0,
    authFailed: 0,
    refusedRate: 0,
    refusedDraining: 0,
  };
  /** Upgraded sockets still proving who they are (WEBSOCKET_AUTH=jwt); they count as connections. */
  readonly authenticating = new Set<WebSocket>();
  /** False once draining or closing: new upgrades are refused with 503. */
  accepting = true;

  constructor(readonly options: WebSocketEndpointOptions) {}
}
