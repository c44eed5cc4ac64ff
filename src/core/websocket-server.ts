/**
 * The `/ws` endpoint: upgrade checks, connection limits, `client_id` takeover, the welcome frame,
 * message dispatch, liveness pings and the cleanup of every connection that goes away.
 */

import { randomUUID } from "node:crypto";
import type { IncomingMessage, Server } from "node:http";
import type { Duplex } from "node:stream";
import type { Logger } from "pino";
import { type RawData, type WebSocket, WebSocketServer } from "ws";
import type { GatewayConfig } from "../config.js";
import { authenticateConnection, tokenOfRequest } from "./auth/connection-auth.js";
import { type Grant, mayUseChannel } from "./auth/grant.js";
import type { SessionAuth } from "./auth/session-auth.js";
import type { TokenVerifier } from "./auth/token-verifier.js";
import type { ClientMessageHandler } from "./client-messages.js";
import { ClientSession, closeWithGrace } from "./client-session.js";
import type { Delivery } from "./delivery/delivery.js";
import { encodeFrame } from "./delivery/frame-encoder.js";
import { LosslessDelivery } from "./delivery/lossless-delivery.js";
import type { OutboundWriter } from "./delivery/outbound-writer.js";
import { type CloseCodeName, CloseCodes } from "./errors.js";
import { CLIENT_ID_PATTERN, isoNow } from "./protocol.js";
import { TokenBucket } from "./rate-limiter.js";
import type { SubscriptionIndex } from "./subscription-index.js";

export const WEBSOCKET_PATH = "/ws";

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
}

export interface WebSocketEndpointOptions {
  config: GatewayConfig;
  logger: Logger;
  index: SubscriptionIndex;
  handler: ClientMessageHandler;
  writer: OutboundWriter;
  deliveries: ReadonlyMap<string, Delivery>;
  channelNames: readonly string[];
  /** Present with WEBSOCKET_AUTH=jwt. */
  auth?: { verifier: TokenVerifier; sessions: SessionAuth } | undefined;
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
    authFailed: 0,
  };
  private readonly wss: WebSocketServer;
  private accepting = true;
  /** Open connections per client address (WEBSOCKET_MAX_CONNECTIONS_PER_IP). */
  private readonly perAddress = new Map<string, number>();
  /** Upgraded sockets still proving who they are (WEBSOCKET_AUTH=jwt); they count as connections. */
  private readonly authenticating = new Set<WebSocket>();
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

  /** New upgrades are refused with 503 from now on (draining); open connections go on. */
  stopAccepting(): void {
    this.accepting = false;
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
    const graceMs = this.options.config.WEBSOCKET_CLOSE_GRACE_MS;
    for (const ws of this.authenticating) {
      gone.push(new Promise<void>((resolve) => ws.once("close", () => resolve())));
      closeWithGrace(ws, CloseCodes.GOING_AWAY.code, GOING_AWAY_REASON, graceMs);
    }
    for (const session of sessions) session.close("GOING_AWAY", GOING_AWAY_REASON, graceMs);
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
    const address = request.socket.remoteAddress ?? "unknown";
    const token = this.options.auth ? tokenOfRequest(request, url) : undefined;
    this.wss.handleUpgrade(request, socket, head, (ws) => this.upgraded(ws, requested, address, token));
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

  /** A socket past the upgrade: within the limits, then authenticated (when on), then a client. */
  private upgraded(
    ws: WebSocket,
    requested: string | null,
    address: string,
    token: string | undefined,
  ): void {
    const { config, logger, auth } = this.options;
    ws.on("error", (error) => logger.debug({ err: error, clientId: requested }, "WebSocket error"));
    // Without auth, a reconnect under the same client_id replaces a connection, so it needs no new
    // slot overall. With auth, who is taking over is known only after verification: no exemption,
    // or any unauthenticated socket could name a connected client_id and get past the cap.
    const takesOver = !auth && requested !== null && this.clients.has(requested);
    if (!this.admit(ws, takesOver, address)) return;
    if (!auth) {
      this.register(ws, requested ?? randomUUID(), undefined);
      return;
    }
    this.authenticating.add(ws);
    const graceMs = config.WEBSOCKET_CLOSE_GRACE_MS;
    authenticateConnection(ws, token, {
      verifier: auth.verifier,
      timeoutMs: config.WEBSOCKET_AUTH_TIMEOUT_MS,
      maxEarlyFrames: config.WEBSOCKET_RATE_LIMIT_BURST,
      requestedClientId: requested,
      close: (name, reason) => {
        this.counters.authFailed++;
        logger.info({ address, reason }, "connection refused: authentication failed");
        closeWithGrace(ws, CloseCodes[name].code, reason, graceMs);
      },
    })
      .then((result) => {
        // A refused socket stays counted as authenticating until it has closed (admit's close hook).
        if (!result) return;
        this.authenticating.delete(ws);
        if (!this.accepting) {
          closeWithGrace(ws, CloseCodes.GOING_AWAY.code, GOING_AWAY_REASON, graceMs);
          return;
        }
        const session = this.register(ws, result.grant.subject, result.grant);
        for (const { data, isBinary } of result.early) this.receive(session, data, isBinary);
      })
      .catch((error: unknown) => {
        // A bug here must cost this connection, never the process (an unhandled rejection).
        logger.error({ err: error, address }, "registering an authenticated connection failed");
        ws.terminate();
      });
  }

  /**
   * Enforce WEBSOCKET_MAX_CONNECTIONS (a takeover of an existing client_id needs no new slot) and
   * WEBSOCKET_MAX_CONNECTIONS_PER_IP (always: replaced sockets still hold theirs while closing),
   * and count the socket against its address until it closes.
   */
  private admit(ws: WebSocket, takesOver: boolean, address: string): boolean {
    const { config, logger } = this.options;
    const open = this.clients.size + this.authenticating.size;
    if (!takesOver && open >= config.WEBSOCKET_MAX_CONNECTIONS) {
      this.counters.rejectedMaxConnections++;
      logger.warn(
        { address, max: config.WEBSOCKET_MAX_CONNECTIONS },
        "connection refused: maximum connections reached",
      );
      const reason = `Maximum connections reached (${config.WEBSOCKET_MAX_CONNECTIONS})`;
      closeWithGrace(ws, CloseCodes.TRY_AGAIN_LATER.code, reason, config.WEBSOCKET_CLOSE_GRACE_MS);
      return false;
    }
    const fromAddress = this.perAddress.get(address) ?? 0;
    if (fromAddress >= config.WEBSOCKET_MAX_CONNECTIONS_PER_IP) {
      this.counters.rejectedMaxConnections++;
      logger.warn(
        { address, max: config.WEBSOCKET_MAX_CONNECTIONS_PER_IP },
        "connection refused: too many from one address",
      );
      const reason = `Too many connections from this address (${config.WEBSOCKET_MAX_CONNECTIONS_PER_IP})`;
      closeWithGrace(ws, CloseCodes.TRY_AGAIN_LATER.code, reason, config.WEBSOCKET_CLOSE_GRACE_MS);
      return false;
    }
    // Counted from here until the socket closes (a replaced connection still holds its slot
    // during its close grace period).
    this.perAddress.set(address, fromAddress + 1);
    ws.once("close", () => {
      this.authenticating.delete(ws);
      const remaining = (this.perAddress.get(address) ?? 1) - 1;
      if (remaining > 0) this.perAddress.set(address, remaining);
      else this.perAddress.delete(address);
    });
    return true;
  }

  /** The socket becomes the client `clientId`: registered, welcomed, and listened to. */
  private register(ws: WebSocket, clientId: string, grant: Grant | undefined): ClientSession {
    const { config, logger, index, deliveries, auth } = this.options;
    const previous = this.clients.get(clientId);
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
      this.options.writer,
      new TokenBucket({
        ratePerSecond: config.WEBSOCKET_RATE_LIMIT_PER_SECOND,
        burst: config.WEBSOCKET_RATE_LIMIT_BURST,
      }),
    );
    if (grant) auth?.sessions.begin(session, grant);
    this.clients.set(clientId, session);
    this.counters.accepted++;
    const channels = this.channelsOf(session);
    if (config.WEBSOCKET_AUTO_SUBSCRIBE) index.subscribeImplicitly(session, channels);
    session.send(this.welcome(session, channels), true);
    // The auto-subscribe default is a subscription like any other: the client gets the latest
    // known prices and portfolios at once instead of waiting for them to change.
    if (config.WEBSOCKET_AUTO_SUBSCRIBE)
      for (const channel of channels) deliveries.get(channel)?.snapshot(session, "*");

    ws.on("message", (data, isBinary) => this.receive(session, data, isBinary));
    ws.on("pong", () => {
      session.alive = true;
    });
    ws.on("close", () => {
      session.closing = true;
      auth?.sessions.end(session);
      this.forget(session);
    });
    return session;
  }

  /** One client frame: rate limit, then the message handler. */
  private receive(session: ClientSession, data: RawData, isBinary: boolean): void {
    const { config, logger, handler } = this.options;
    // A connection being closed (replaced, slow consumer) no longer acts: it could otherwise
    // subscribe itself back into the index during its close grace period.
    if (session.closing) return;
    session.alive = true;
    this.counters.messagesIn++;
    if (!session.bucket.take()) {
      this.counters.rateLimited++;
      if (++session.rateStrikes >= config.WEBSOCKET_RATE_LIMIT_STRIKES) {
        logger.warn(
          { clientId: session.clientId },
          "closing a client that keeps sending past its rate limit",
        );
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
      logger.error({ err: error, clientId: session.clientId }, "client message handling failed");
    }
  }

  /** The channels a session may use: all of them, unless its token's `channels` claim narrows them. */
  private channelsOf(session: ClientSession): string[] {
    return this.options.channelNames.filter((channel) => mayUseChannel(session.grant, channel));
  }

  /** The welcome frame: `channels` are those the session may use (see channelsOf). */
  private welcome(session: ClientSession, channels: readonly string[]): Buffer {
    const { config, index } = this.options;
    return encodeFrame({
      type: "welcome",
      client_id: session.clientId,
      channels,
      subscriptions: Object.fromEntries(channels.map((channel) => [channel, index.view(session, channel)])),
      ping_interval: config.WEBSOCKET_PING_INTERVAL,
      price_update_interval: config.WEBSOCKET_PRICE_UPDATE_INTERVAL,
      portfolio_update_interval: config.WEBSOCKET_PORTFOLIO_UPDATE_INTERVAL,
      max_message_bytes: config.WEBSOCKET_MAX_MESSAGE_BYTES,
      positions: this.positions(channels),
      expires_at: session.grant ? new Date(session.grant.expiresAt).toISOString() : undefined,
      timestamp: isoNow(),
    });
  }

  /** The head of each lossless channel among `channels` whose history is ready. */
  private positions(channels: readonly string[]): Record<string, { seq: number; epoch: string }> | undefined {
    const positions: Record<string, { seq: number; epoch: string }> = {};
    for (const channel of channels) {
      const delivery = this.options.deliveries.get(channel);
      if (!(delivery instanceof LosslessDelivery)) continue;
      const { history } = delivery;
      if (history.ready && history.epoch !== undefined)
        positions[channel] = { seq: history.head, epoch: history.epoch };
    }
    return Object.keys(positions).length > 0 ? positions : undefined;
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
