/**
 * The `/ws` endpoint: upgrade checks, connection limits, `client_id` takeover, the welcome frame,
 * message dispatch, liveness pings and the cleanup of every connection that goes away.
 */

import { randomUUID } from "node:crypto";
import type { IncomingMessage, Server } from "node:http";
import type { Duplex } from "node:stream";
import type { Logger } from "pino";
import { type WebSocket, WebSocketServer } from "ws";
import type { GatewayConfig } from "../config.js";
import type { ClientMessageHandler } from "./client-messages.js";
import { ClientSession, closeWithGrace } from "./client-session.js";
import type { ChannelDelivery } from "./delivery/channel-delivery.js";
import { encodeFrame } from "./delivery/frame-encoder.js";
import type { OutboundWriter } from "./delivery/outbound-writer.js";
import { type CloseCodeName, CloseCodes } from "./errors.js";
import { CLIENT_ID_PATTERN, isoNow } from "./protocol.js";
import { TokenBucket } from "./rate-limiter.js";
import type { SubscriptionIndex } from "./subscription-index.js";

export const WEBSOCKET_PATH = "/ws";

export interface ConnectionCounters {
  accepted: number;
  rejectedMaxConnections: number;
  replaced: number;
  deadTerminated: number;
  messagesIn: number;
  rateLimited: number;
}

export interface WebSocketEndpointOptions {
  config: GatewayConfig;
  logger: Logger;
  index: SubscriptionIndex;
  handler: ClientMessageHandler;
  writer: OutboundWriter;
  deliveries: ReadonlyMap<string, ChannelDelivery>;
  channelNames: readonly string[];
}

export class WebSocketEndpoint {
  /** Connected clients by client_id. */
  readonly clients = new Map<string, ClientSession>();
  readonly counters: ConnectionCounters = {
    accepted: 0,
    rejectedMaxConnections: 0,
    replaced: 0,
    deadTerminated: 0,
    messagesIn: 0,
    rateLimited: 0,
  };
  private readonly wss: WebSocketServer;
  private accepting = true;
  /** Open connections per client address (WEBSOCKET_MAX_CONNECTIONS_PER_IP). */
  private readonly perAddress = new Map<string, number>();
  private livenessTimer: NodeJS.Timeout | undefined;

  constructor(private readonly options: WebSocketEndpointOptions) {
    this.wss = new WebSocketServer({
      noServer: true,
      clientTracking: false,
      maxPayload: options.config.WEBSOCKET_MAX_MESSAGE_BYTES,
      // Off: zlib contexts per socket fragment memory badly under many connections, and the
      // pre-framed shared buffers would have to be compressed per client.
      perMessageDeflate: false,
    });
  }

  attach(server: Server): void {
    server.on("upgrade", (request: IncomingMessage, socket: Duplex, head: Buffer) =>
      this.upgrade(request, socket, head),
    );
    const intervalMs = this.options.config.WEBSOCKET_PING_INTERVAL * 1000;
    this.livenessTimer = setInterval(() => this.checkLiveness(), intervalMs);
  }

  /** Stop accepting, close every client with 1001, and wait (bounded) for them to go. */
  async closeAll(): Promise<void> {
    this.accepting = false;
    clearInterval(this.livenessTimer);
    const sessions = [...this.clients.values()];
    const gone = sessions.map(
      (session) =>
        new Promise<void>((resolve) => {
          if (session.socket.readyState === session.socket.CLOSED) resolve();
          else session.socket.once("close", () => resolve());
        }),
    );
    for (const session of sessions)
      session.close("GOING_AWAY", "Server shutting down", this.options.config.WEBSOCKET_CLOSE_GRACE_MS);
    await Promise.all(gone);
    this.wss.close();
  }

  private upgrade(request: IncomingMessage, socket: Duplex, head: Buffer): void {
    socket.on("error", () => socket.destroy());
    let url: URL;
    try {
      url = new URL(request.url ?? "/", "http://gateway");
    } catch {
      // An unparsable request line (e.g. "GET //[") must be refused, not thrown out of the listener.
      refuse(socket, { status: 400, statusText: "Bad Request", message: "Malformed request URL" });
      return;
    }
    const requested = url.searchParams.get("client_id");
    const refusal = this.refusalFor(url.pathname, requested, request.headers.origin);
    if (refusal) {
      refuse(socket, refusal);
      return;
    }
    const clientId = requested ?? randomUUID();
    const address = request.socket.remoteAddress ?? "unknown";
    this.wss.handleUpgrade(request, socket, head, (ws) => this.connected(ws, clientId, address));
  }

  /** Why an upgrade request must be answered with a plain HTTP error instead, if it must. */
  private refusalFor(
    pathname: string,
    clientId: string | null,
    origin: string | undefined,
  ): Refusal | undefined {
    if (pathname !== WEBSOCKET_PATH)
      return { status: 404, statusText: "Not Found", message: "No WebSocket endpoint here; use /ws" };
    if (!this.options.config.WEBSOCKET_ENABLED) {
      return {
        status: 503,
        statusText: "Service Unavailable",
        message: "WebSocket server is disabled (WEBSOCKET_ENABLED=false)",
      };
    }
    if (!this.accepting)
      return { status: 503, statusText: "Service Unavailable", message: "Server is shutting down" };
    // Browsers always send Origin on a WebSocket upgrade: a page from another site must not open
    // a connection with the user's cookies (cross-site WebSocket hijacking). Clients that are not
    // browsers send none and are not concerned.
    const allowed = this.options.config.WEBSOCKET_ALLOWED_ORIGINS;
    if (allowed.length > 0 && origin !== undefined && !allowed.includes(origin)) {
      return {
        status: 403,
        statusText: "Forbidden",
        message: "Origin not allowed (WEBSOCKET_ALLOWED_ORIGINS)",
      };
    }
    if (clientId !== null && !CLIENT_ID_PATTERN.test(clientId)) {
      return {
        status: 400,
        statusText: "Bad Request",
        message: "client_id must be 1 to 64 of A-Z a-z 0-9 . _ : -",
      };
    }
    return undefined;
  }

  private connected(ws: WebSocket, clientId: string, address: string): void {
    const { config, logger, index, handler, writer, deliveries } = this.options;
    ws.on("error", (error) => logger.debug({ err: error, clientId }, "WebSocket error"));
    const previous = this.clients.get(clientId);
    if (!previous && this.clients.size >= config.WEBSOCKET_MAX_CONNECTIONS) {
      this.counters.rejectedMaxConnections++;
      logger.warn(
        { clientId, max: config.WEBSOCKET_MAX_CONNECTIONS },
        "connection refused: maximum connections reached",
      );
      const reason = `Maximum connections reached (${config.WEBSOCKET_MAX_CONNECTIONS})`;
      closeWithGrace(ws, CloseCodes.TRY_AGAIN_LATER.code, reason, config.WEBSOCKET_CLOSE_GRACE_MS);
      return;
    }
    const fromAddress = this.perAddress.get(address) ?? 0;
    if (!previous && fromAddress >= config.WEBSOCKET_MAX_CONNECTIONS_PER_IP) {
      this.counters.rejectedMaxConnections++;
      logger.warn(
        { clientId, address, max: config.WEBSOCKET_MAX_CONNECTIONS_PER_IP },
        "connection refused: too many from one address",
      );
      const reason = `Too many connections from this address (${config.WEBSOCKET_MAX_CONNECTIONS_PER_IP})`;
      closeWithGrace(ws, CloseCodes.TRY_AGAIN_LATER.code, reason, config.WEBSOCKET_CLOSE_GRACE_MS);
      return;
    }
    // Counted from here until the socket closes (a replaced connection still holds its slot
    // during its close grace period).
    this.perAddress.set(address, fromAddress + 1);
    ws.once("close", () => {
      const remaining = (this.perAddress.get(address) ?? 1) - 1;
      if (remaining > 0) this.perAddress.set(address, remaining);
      else this.perAddress.delete(address);
    });
    if (previous) {
      this.counters.replaced++;
      logger.info({ clientId }, "client_id reconnected; closing the older connection");
      this.forget(previous);
      previous.close(
        "REPLACED",
        "Replaced by a newer connection with the same client_id",
        config.WEBSOCKET_CLOSE_GRACE_MS,
      );
    }
    const session = new ClientSession(
      clientId,
      ws,
      writer,
      new TokenBucket({
        ratePerSecond: config.WEBSOCKET_RATE_LIMIT_PER_SECOND,
        burst: config.WEBSOCKET_RATE_LIMIT_BURST,
      }),
    );
    this.clients.set(clientId, session);
    this.counters.accepted++;
    if (config.WEBSOCKET_AUTO_SUBSCRIBE) index.subscribeImplicitly(session);
    session.send(this.welcome(session), true);
    // The auto-subscribe default is a subscription like any other: the client gets the latest
    // known prices and portfolios at once instead of waiting for them to change.
    if (config.WEBSOCKET_AUTO_SUBSCRIBE)
      for (const delivery of deliveries.values()) delivery.snapshot(session, "*");

    ws.on("message", (data, isBinary) => {
      // A connection being closed (replaced, slow consumer) no longer acts: it could otherwise
      // subscribe itself back into the index during its close grace period.
      if (session.closing) return;
      session.alive = true;
      this.counters.messagesIn++;
      if (!session.bucket.take()) {
        this.counters.rateLimited++;
        if (++session.rateStrikes >= config.WEBSOCKET_RATE_LIMIT_STRIKES) {
          logger.warn({ clientId }, "closing a client that keeps sending past its rate limit");
          this.disconnect(session, "POLICY_VIOLATION", "Rate limit exceeded repeatedly");
          return;
        }
        handler.sendError(session, "RATE_LIMITED", undefined);
        return;
      }
      session.rateStrikes = 0;
      if (isBinary) {
        handler.sendError(session, "INVALID_MESSAGE", undefined);
        return;
      }
      try {
        handler.handle(session, data.toString());
      } catch (error) {
        // A bug (ours or a plugin's) on one message must not take the process down.
        logger.error({ err: error, clientId }, "client message handling failed");
      }
    });
    ws.on("pong", () => {
      session.alive = true;
    });
    ws.on("close", () => {
      session.closing = true;
      this.forget(session);
    });
  }

  private welcome(session: ClientSession): Buffer {
    const { config, channelNames, index } = this.options;
    return encodeFrame({
      type: "welcome",
      client_id: session.clientId,
      channels: channelNames,
      subscriptions: Object.fromEntries(
        channelNames.map((channel) => [channel, index.view(session, channel)]),
      ),
      ping_interval: config.WEBSOCKET_PING_INTERVAL,
      price_update_interval: config.WEBSOCKET_PRICE_UPDATE_INTERVAL,
      portfolio_update_interval: config.WEBSOCKET_PORTFOLIO_UPDATE_INTERVAL,
      max_message_bytes: config.WEBSOCKET_MAX_MESSAGE_BYTES,
      timestamp: isoNow(),
    });
  }

  /**
   * Close a session with a documented code. It leaves the subscription index at once (no more
   * frames are built for it) and the registry when its socket has closed.
   */
  disconnect(session: ClientSession, name: CloseCodeName, reason: string): void {
    this.options.index.removeSession(session);
    session.close(name, reason, this.options.config.WEBSOCKET_CLOSE_GRACE_MS);
  }

  /** Remove a session from the registry (if it is still the one registered) and the index. */
  private forget(session: ClientSession): void {
    if (this.clients.get(session.clientId) === session) this.clients.delete(session.clientId);
    this.options.index.removeSession(session);
  }

  /** Automatic cleanup of dead clients: a peer that did not answer the previous ping is dropped. */
  private checkLiveness(): void {
    for (const session of this.clients.values()) {
      if (!session.alive) {
        this.counters.deadTerminated++;
        this.options.logger.info({ clientId: session.clientId }, "terminating unresponsive client");
        session.socket.terminate();
        continue;
      }
      session.alive = false;
      session.socket.ping();
    }
  }
}

interface Refusal {
  status: number;
  statusText: string;
  message: string;
}

/** Answer an upgrade request with a plain HTTP error and drop the socket. */
function refuse(socket: Duplex, { status, statusText, message }: Refusal): void {
  const body = JSON.stringify({ error: message });
  socket.end(
    `HTTP/1.1 ${status} ${statusText}\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
  );
}
