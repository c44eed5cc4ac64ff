/**
 * Who may connect to `/ws`: the checks on an upgrade request (answered with a plain HTTP error),
 * and the connection caps on an upgraded socket (closed with 1013 and a reason naming the limit):
 * WEBSOCKET_MAX_CONNECTIONS, WEBSOCKET_MAX_CONNECTIONS_PER_IP and, once the token has said who it
 * is, WEBSOCKET_MAX_CONNECTIONS_PER_SUBJECT. And the rate of new connections
 * (WEBSOCKET_MAX_CONNECTS_PER_SECOND, ConnectRate), refused at the HTTP level with 503 and Retry-After.
 */
import type { Duplex } from "node:stream";
import type { Logger } from "pino";
import type { WebSocket } from "ws";
import type { GatewayConfig } from "../config.js";
import { closeWithGrace } from "./client-session.js";
import { CloseCodes } from "./errors.js";
import { CLIENT_ID_PATTERN } from "./protocol.js";

export const WEBSOCKET_PATH = "/ws";

export interface Refusal {
  status: number;
  statusText: string;
  message: string;
  /** Extra response headers (Retry-After on a refusal for rate). */
  headers?: Record<string, string>;
}

/**
 * WEBSOCKET_MAX_CONNECTS_PER_SECOND: a token bucket of new connections (WEBSOCKET_CONNECTS_BURST
 * of them at once, refilled at the rate), taken by each upgrade that passed the request checks,
 * before the handshake. Over it the upgrade is answered 503 with Retry-After: a reconnect storm
 * (every client of a restarted instance at once) is turned away cheaply, at the HTTP level,
 * instead of costing a handshake, a welcome and snapshots per client. 0: no limit.
 */
export class ConnectRate {
  private tokens: number;
  private refilledAt: number;

  constructor(
    private readonly perSecond: number,
    private readonly burst: number,
    private readonly now: () => number = () => performance.now(),
  ) {
    this.tokens = burst;
    this.refilledAt = now();
  }

  /** Take a token: undefined when there was one, else the refusal (503, Retry-After in whole seconds, at least 1). */
  take(): Refusal | undefined {
    if (this.perSecond <= 0) return undefined;
    const now = this.now();
    this.tokens = Math.min(this.burst, this.tokens + ((now - this.refilledAt) / 1000) * this.perSecond);
    this.refilledAt = now;
    if (this.tokens >= 1) {
      this.tokens -= 1;
      return undefined;
    }
    const retryAfter = Math.max(1, Math.ceil((1 - this.tokens) / this.perSecond));
    return {
      status: 503,
      statusText: "Service Unavailable",
      message:
        "Too many new connections (WEBSOCKET_MAX_CONNECTS_PER_SECOND); retry after Retry-After seconds",
      headers: { "Retry-After": String(retryAfter) },
    };
  }
}

/** Why an upgrade request must be answered with a plain HTTP error instead, if it must. */
export function upgradeRefusal(
  config: GatewayConfig,
  accepting: boolean,
  pathname: string,
  clientId: string | null,
  origin: string | undefined,
): Refusal | undefined {
  if (pathname !== WEBSOCKET_PATH)
    return { status: 404, statusText: "Not Found", message: "No WebSocket endpoint here; use /ws" };
  if (!config.WEBSOCKET_ENABLED) {
    return {
      status: 503,
      statusText: "Service Unavailable",
      message: "WebSocket server is disabled (WEBSOCKET_ENABLED=false)",
    };
  }
  if (!accepting)
    return { status: 503, statusText: "Service Unavailable", message: "Server is shutting down" };
  // Browsers always send Origin on a WebSocket upgrade: a page from another site must not open
  // a connection with the user's cookies (cross-site WebSocket hijacking). Clients that are not
  // browsers send none and are not concerned.
  const allowed = config.WEBSOCKET_ALLOWED_ORIGINS;
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

/** Answer an upgrade request with a plain HTTP error and drop the socket. */
export function refuseUpgrade(socket: Duplex, { status, statusText, message, headers }: Refusal): void {
  const body = JSON.stringify({ error: message });
  let extra = "";
  for (const [name, value] of Object.entries(headers ?? {})) extra += `${name}: ${value}\r\n`;
  socket.end(
    `HTTP/1.1 ${status} ${statusText}\r\nConnection: close\r\n${extra}Content-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
  );
}

export class ConnectionCaps {
  /** Open sockets per client address (WEBSOCKET_MAX_CONNECTIONS_PER_IP), until each has closed. */
  private readonly perAddress = new Map<string, number>();

  constructor(
    private readonly config: GatewayConfig,
    private readonly logger: Logger,
    /** Counts every refusal (gateway_connections_rejected_total). */
    private readonly rejected: () => void,
  ) {}

  /**
   * Enforce WEBSOCKET_MAX_CONNECTIONS against `open` sockets (a takeover of a connected client_id
   * needs no new slot) and WEBSOCKET_MAX_CONNECTIONS_PER_IP (always: replaced sockets still hold
   * theirs while closing), and count the socket against its address until it closes.
   */
  admit(ws: WebSocket, address: string, open: number, takesOver: boolean): boolean {
    const { config } = this;
    if (!takesOver && open >= config.WEBSOCKET_MAX_CONNECTIONS) {
      this.refuse(
        ws,
        { address, max: config.WEBSOCKET_MAX_CONNECTIONS },
        "connection refused: maximum connections reached",
        `Maximum connections reached (${config.WEBSOCKET_MAX_CONNECTIONS})`,
      );
      return false;
    }
    const fromAddress = this.perAddress.get(address) ?? 0;
    if (fromAddress >= config.WEBSOCKET_MAX_CONNECTIONS_PER_IP) {
      this.refuse(
        ws,
        { address, max: config.WEBSOCKET_MAX_CONNECTIONS_PER_IP },
        "connection refused: too many from one address",
        `Too many connections from this address (${config.WEBSOCKET_MAX_CONNECTIONS_PER_IP})`,
      );
      return false;
    }
    this.perAddress.set(address, fromAddress + 1);
    // `on`, not `once`: ws emits close once, and once's wrapper costs memory per connection.
    ws.on("close", () => {
      const remaining = (this.perAddress.get(address) ?? 1) - 1;
      if (remaining > 0) this.perAddress.set(address, remaining);
      else this.perAddress.delete(address);
    });
    return true;
  }

  /**
   * WEBSOCKET_MAX_CONNECTIONS_PER_SUBJECT, once the token is verified: `registered` connections
   * of the subject are open, and a takeover (same subject and client_id) replaces one of them.
   */
  admitSubject(ws: WebSocket, subject: string, registered: number, takesOver: boolean): boolean {
    const max = this.config.WEBSOCKET_MAX_CONNECTIONS_PER_SUBJECT;
    if (takesOver || registered < max) return true;
    this.refuse(
      ws,
      { subject, max },
      "connection refused: too many connections for one token subject",
      `Too many connections for this subject (${max})`,
    );
    return false;
  }

  private refuse(ws: WebSocket, fields: object, message: string, reason: string): void {
    this.rejected();
    this.logger.warn(fields, message);
    closeWithGrace(ws, CloseCodes.TRY_AGAIN_LATER.code, reason, this.config.WEBSOCKET_CLOSE_GRACE_MS);
  }
}
