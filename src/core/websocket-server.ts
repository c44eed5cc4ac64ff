/**
 * The `/ws` endpoint: upgrade checks and connection caps (admission.ts), authentication, the
 * registry with `client_id` takeover (client-registry.ts), the welcome frame, message dispatch,
 * liveness pings and the cleanup of every connection that goes away.
 *
 * Identity: a connection is its `client_id` (the query parameter, else a fresh UUID), whatever
 * its token's subject. Without auth, naming a connected client_id takes it over; with auth, only
 * a connection of the same subject does (the registry keys connections by subject and client_id).
 */

import { randomUUID } from "node:crypto";
import type { IncomingMessage, Server } from "node:http";
import type { Duplex } from "node:stream";
import type { Logger } from "pino";
import { type RawData, type WebSocket, WebSocketServer } from "ws";
import type { GatewayConfig } from "../config.js";
import { ConnectionCaps, refuseUpgrade, upgradeRefusal } from "./admission.js";
import { authenticateConnection, tokenOfRequest } from "./auth/connection-auth.js";
import { type Grant, mayUseChannel } from "./auth/grant.js";
import type { SessionAuth } from "./auth/session-auth.js";
import type { TokenVerifier } from "./auth/token-verifier.js";
import type { ClientMessageHandler } from "./client-messages.js";
import { ClientRegistry } from "./client-registry.js";
import { ClientSession, closeWithGrace } from "./client-session.js";
import type { Delivery } from "./delivery/delivery.js";
import type { OutboundWriter } from "./delivery/outbound-writer.js";
import { type CloseCodeName, CloseCodes } from "./errors.js";
import { TokenBucket } from "./rate-limiter.js";
import type { SubscriptionIndex } from "./subscription-index.js";
import { type WelcomeSources, welcomeFrame } from "./welcome.js";

export { WEBSOCKET_PATH } from "./admission.js";

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
  /** What the welcome frame is built from. */
  welcome: WelcomeSources;
  /** Present with WEBSOCKET_AUTH=jwt. */
  auth?: { verifier: TokenVerifier; sessions: SessionAuth } | undefined;
}

export class WebSocketEndpoint {
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
  };
  private readonly wss: WebSocketServer;
  private accepting = true;
  private readonly caps: ConnectionCaps;
  /** Upgraded sockets still proving who they are (WEBSOCKET_AUTH=jwt); they count as connections. */
  private readonly authenticating = new Set<WebSocket>();
  private livenessTimer: NodeJS.Timeout | undefined;

  constructor(private readonly options: WebSocketEndpointOptions) {
    this.caps = new ConnectionCaps(
      options.config,
      options.logger,
      () => this.counters.rejectedMaxConnections++,
    );
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
      refuseUpgrade(socket, { status: 400, statusText: "Bad Request", message: "Malformed request URL" });
      return;
    }
    const requested = url.searchParams.get("client_id");
    const { config } = this.options;
    const refusal = upgradeRefusal(config, this.accepting, url.pathname, requested, request.headers.origin);
    if (refusal) {
      refuseUpgrade(socket, refusal);
      return;
    }
    const address = request.socket.remoteAddress ?? "unknown";
    const token = this.options.auth ? tokenOfRequest(request, url) : undefined;
    // The writer writes pre-framed frames to `socket`, the one the HTTP server handed us.
    this.wss.handleUpgrade(request, socket, head, (ws) =>
      this.upgraded(ws, socket, requested, address, token),
    );
  }

  /** A socket past the upgrade: within the limits, then authenticated (when on), then a client. */
  private upgraded(
    ws: WebSocket,
    transport: Duplex,
    requested: string | null,
    address: string,
    token: string | undefined,
  ): void {
    const { config, logger, auth } = this.options;
    ws.on("error", (error) => logger.debug({ err: error, clientId: requested }, "WebSocket error"));
    // Without auth, a reconnect under the same client_id replaces a connection, so it needs no new
    // slot overall. With auth, who is taking over is known only after verification: no exemption,
    // or any unauthenticated socket could name a connected client_id and get past the cap.
    const takesOver = !auth && requested !== null && this.clients.get(requested) !== undefined;
    const open = this.clients.size + this.authenticating.size;
    if (!this.caps.admit(ws, address, open, takesOver)) return;
    // The connection's own id, whoever its token says it belongs to.
    const clientId = requested ?? randomUUID();
    if (!auth) {
      this.register(ws, transport, clientId, undefined);
      return;
    }
    // Counted as a connection from now until it is registered or its socket has closed.
    this.authenticating.add(ws);
    ws.once("close", () => this.authenticating.delete(ws));
    const graceMs = config.WEBSOCKET_CLOSE_GRACE_MS;
    authenticateConnection(ws, token, {
      verifier: auth.verifier,
      timeoutMs: config.WEBSOCKET_AUTH_TIMEOUT_MS,
      maxEarlyFrames: config.WEBSOCKET_RATE_LIMIT_BURST,
      close: (name, reason) => {
        this.counters.authFailed++;
        logger.info({ address, reason }, "connection refused: authentication failed");
        closeWithGrace(ws, CloseCodes[name].code, reason, graceMs);
      },
    })
      .then((result) => {
        // A refused socket stays counted as authenticating until it has closed.
        if (!result) return;
        if (!this.accepting) {
          closeWithGrace(ws, CloseCodes.GOING_AWAY.code, GOING_AWAY_REASON, graceMs);
          return;
        }
        const { subject } = result.grant;
        const takesOverOwn = this.clients.get(clientId, subject) !== undefined;
        if (!this.caps.admitSubject(ws, subject, this.clients.countOf(subject), takesOverOwn)) return;
        this.authenticating.delete(ws);
        const session = this.register(ws, transport, clientId, result.grant);
        for (const { data, isBinary } of result.early) this.receive(session, data, isBinary);
      })
      .catch((error: unknown) => {
        // A bug here must cost this connection, never the process (an unhandled rejection).
        logger.error({ err: error, address }, "registering an authenticated connection failed");
        ws.terminate();
      });
  }

  /**
   * The socket becomes the client `clientId` (of the grant's subject): registered, welcomed, and
   * listened to. A connection already registered under that identity is replaced (4000).
   */
  private register(
    ws: WebSocket,
    transport: Duplex,
    clientId: string,
    grant: Grant | undefined,
  ): ClientSession {
    const { config, logger, index, deliveries, auth } = this.options;
    const subject = grant?.subject;
    const previous = this.clients.get(clientId, subject);
    if (previous) {
      this.counters.replaced++;
      logger.info({ clientId, subject }, "client_id reconnected; closing the older connection");
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
      transport,
      this.options.writer,
      new TokenBucket({
        ratePerSecond: config.WEBSOCKET_RATE_LIMIT_PER_SECOND,
        burst: config.WEBSOCKET_RATE_LIMIT_BURST,
      }),
      subject,
    );
    if (grant) auth?.sessions.begin(session, grant);
    this.clients.add(session);
    this.counters.accepted++;
    const channels = this.channelsOf(session);
    if (config.WEBSOCKET_AUTO_SUBSCRIBE) index.subscribeImplicitly(session, channels);
    session.send(welcomeFrame(session, channels, this.options.welcome), true);
    // The auto-subscribe default is a subscription like any other: the client gets the latest
    // known values of conflated channels at once instead of waiting for them to change.
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
    this.clients.remove(session);
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
