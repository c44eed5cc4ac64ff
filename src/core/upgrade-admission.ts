/**
 * From an HTTP upgrade request to a session: the request checks (a plain HTTP error when
 * refused), the upgrade, the connection caps (admission.ts), and with WEBSOCKET_AUTH=jwt the
 * authentication hand-off (connection-auth.ts) before the socket is registered as a client
 * (session-lifecycle.ts).
 */
import { randomUUID } from "node:crypto";
import type { IncomingMessage } from "node:http";
import type { Duplex } from "node:stream";
import type { WebSocket, WebSocketServer } from "ws";
import { type ConnectionCaps, ConnectRate, refuseUpgrade, upgradeRefusal } from "./admission.js";
import { authenticateConnection, tokenOfRequest } from "./auth/connection-auth.js";
import { ClientAddress } from "./client-address.js";
import { closeWithGrace } from "./client-session.js";
import { type EndpointState, GOING_AWAY_REASON } from "./endpoint-state.js";
import { CloseCodes } from "./errors.js";
import type { MessageDispatch } from "./message-dispatch.js";
import type { SessionLifecycle } from "./session-lifecycle.js";

/** An error on a socket that ws has not taken over drops it (shared: no closure per upgrade). */
function destroyOnError(this: Duplex): void {
  this.destroy();
}

export class UpgradeAdmission {
  /** Shared by every socket, like the session's listeners (session-lifecycle.ts). */
  private readonly logSocketError: (this: WebSocket, error: Error) => void;
  /** WEBSOCKET_MAX_CONNECTS_PER_SECOND (0: no limit). */
  private readonly rate: ConnectRate;
  /** The socket's peer, or the client a trusted proxy forwarded (WEBSOCKET_TRUSTED_PROXIES). */
  private readonly clientAddress: ClientAddress;

  constructor(
    private readonly state: EndpointState,
    private readonly wss: WebSocketServer,
    private readonly caps: ConnectionCaps,
    private readonly lifecycle: SessionLifecycle,
    private readonly dispatch: MessageDispatch,
  ) {
    const { logger, config } = state.options;
    this.rate = new ConnectRate(config.WEBSOCKET_MAX_CONNECTS_PER_SECOND, config.WEBSOCKET_CONNECTS_BURST);
    this.clientAddress = new ClientAddress(config.WEBSOCKET_TRUSTED_PROXIES);
    this.logSocketError = function (this: WebSocket, error: Error): void {
      logger.debug({ err: error, clientId: lifecycle.sessionOf(this)?.clientId }, "WebSocket error");
    };
  }

  upgrade(request: IncomingMessage, socket: Duplex, head: Buffer): void {
    socket.on("error", destroyOnError);
    let url: URL;
    try {
      url = new URL(request.url ?? "/", "http://gateway");
    } catch {
      // An unparsable request line (e.g. "GET //[") must be refused, not thrown out of the listener.
      refuseUpgrade(socket, { status: 400, statusText: "Bad Request", message: "Malformed request URL" });
      return;
    }
    const requested = url.searchParams.get("client_id");
    const { config, auth } = this.state.options;
    const refusal = upgradeRefusal(
      config,
      this.state.accepting,
      url.pathname,
      requested,
      request.headers.origin,
    );
    if (refusal) {
      if (!this.state.accepting && refusal.status === 503) this.state.counters.refusedDraining++;
      refuseUpgrade(socket, refusal);
      return;
    }
    // Before the handshake: a refusal for rate costs no WebSocket, welcome or snapshot.
    const overRate = this.rate.take();
    if (overRate) {
      this.state.counters.refusedRate++;
      refuseUpgrade(socket, overRate);
      return;
    }
    const address = this.clientAddress.of(request.socket.remoteAddress, request.headers["x-forwarded-for"]);
    const token = auth ? tokenOfRequest(request, url) : undefined;
    // The writer writes pre-framed frames to `socket`, the one the HTTP server handed us.
    this.wss.handleUpgrade(request, socket, head, (ws) => {
      // ws now has its own error listener on the socket (it destroys it, then ignores later
      // errors), so ours would only hold memory for the life of the connection.
      socket.off("error", destroyOnError);
      this.upgraded(ws, socket, requested, address, token);
    });
  }

  /** A socket past the upgrade: within the limits, then authenticated (when on), then a client. */
  private upgraded(
    ws: WebSocket,
    transport: Duplex,
    requested: string | null,
    address: string,
    token: string | undefined,
  ): void {
    const { config, logger, auth } = this.state.options;
    const { clients, authenticating, counters } = this.state;
    ws.on("error", this.logSocketError);
    // Without auth, a reconnect under the same client_id replaces a connection, so it needs no new
    // slot overall. With auth, who is taking over is known only after verification: no exemption,
    // or any unauthenticated socket could name a connected client_id and get past the cap.
    const takesOver = !auth && requested !== null && clients.get(requested) !== undefined;
    const open = clients.size + authenticating.size;
    if (!this.caps.admit(ws, address, open, takesOver)) return;
    // The connection's own id, whoever its token says it belongs to.
    const clientId = requested ?? randomUUID();
    if (!auth) {
      this.lifecycle.register(ws, transport, clientId, undefined);
      return;
    }
    // Counted as a connection from now until it is registered or its socket has closed.
    authenticating.add(ws);
    ws.once("close", () => authenticating.delete(ws));
    const graceMs = config.WEBSOCKET_CLOSE_GRACE_MS;
    authenticateConnection(ws, token, {
      verifier: auth.verifier,
      timeoutMs: config.WEBSOCKET_AUTH_TIMEOUT_MS,
      maxEarlyFrames: config.WEBSOCKET_RATE_LIMIT_BURST,
      close: (name, reason) => {
        counters.authFailed++;
        logger.info({ address, reason }, "connection refused: authentication failed");
        closeWithGrace(ws, CloseCodes[name].code, reason, graceMs);
      },
    })
      .then((result) => {
        // A refused socket stays counted as authenticating until it has closed.
        if (!result) return;
        if (!this.state.accepting) {
          closeWithGrace(ws, CloseCodes.GOING_AWAY.code, GOING_AWAY_REASON, graceMs);
          return;
        }
        const { subject } = result.grant;
        const takesOverOwn = clients.get(clientId, subject) !== undefined;
        if (!this.caps.admitSubject(ws, subject, clients.countOf(subject), takesOverOwn)) return;
        authenticating.delete(ws);
        const session = this.lifecycle.register(ws, transport, clientId, result.grant);
        for (const { data, isBinary } of result.early) this.dispatch.receive(session, data, isBinary);
      })
      .catch((error: unknown) => {
        // A bug here must cost this connection, never the process (an unhandled rejection).
        logger.error({ err: error, address }, "registering an authenticated connection failed");
        ws.terminate();
      });
  }
}
