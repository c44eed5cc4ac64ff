/**
 * The `/ws` endpoint, put together from its parts: admission of an upgrade (upgrade-admission.ts,
 * with the checks and caps of admission.ts and the auth hand-off), the life of a session
 * (session-lifecycle.ts: takeover, welcome, liveness, cleanup) and the dispatch of its messages
 * (message-dispatch.ts). This file attaches them to the HTTP server, runs the liveness timer, and
 * drains and closes every connection at shutdown.
 */
import type { IncomingMessage, Server } from "node:http";
import type { Duplex } from "node:stream";
import { WebSocketServer } from "ws";
import { ConnectionCaps } from "./admission.js";
import { type ClientSession, closeWithGrace } from "./client-session.js";
import {
  type ConnectionCounters,
  EndpointState,
  GOING_AWAY_REASON,
  type WebSocketEndpointOptions,
} from "./endpoint-state.js";
import { type CloseCodeName, CloseCodes } from "./errors.js";
import { encodeTextFrame } from "./frame-encoder.js";
import { MessageDispatch } from "./message-dispatch.js";
import { SessionLifecycle } from "./session-lifecycle.js";
import { UpgradeAdmission } from "./upgrade-admission.js";

export { WEBSOCKET_PATH } from "./admission.js";
export {
  type ConnectionCounters,
  GOING_AWAY_REASON,
  type WebSocketEndpointOptions,
} from "./endpoint-state.js";

export class WebSocketEndpoint {
  private readonly state: EndpointState;
  private readonly wss: WebSocketServer;
  private readonly lifecycle: SessionLifecycle;
  private readonly admission: UpgradeAdmission;
  private livenessTimer: NodeJS.Timeout | undefined;
  /** The 1001 of each client told to go (drainWithNotice), at its reconnect_in_ms. */
  private readonly noticeTimers = new Set<NodeJS.Timeout>();

  constructor(options: WebSocketEndpointOptions) {
    const state = new EndpointState(options);
    this.state = state;
    const caps = new ConnectionCaps(
      options.config,
      options.logger,
      () => state.counters.rejectedMaxConnections++,
    );
    this.wss = new WebSocketServer({
      noServer: true,
      clientTracking: false,
      maxPayload: options.config.WEBSOCKET_MAX_MESSAGE_BYTES,
      // Off: zlib contexts per socket fragment memory badly under many connections, and the
      // pre-framed shared buffers would have to be compressed per client.
      perMessageDeflate: false,
    });
    const dispatch = new MessageDispatch(state, (session, name, reason) =>
      this.disconnect(session, name, reason),
    );
    this.lifecycle = new SessionLifecycle(state, dispatch);
    this.admission = new UpgradeAdmission(state, this.wss, caps, this.lifecycle, dispatch);
  }

  /** Connected clients by client_id (and token subject, with WEBSOCKET_AUTH=jwt). */
  get clients() {
    return this.state.clients;
  }

  get counters(): ConnectionCounters {
    return this.state.counters;
  }

  attach(server: Server): void {
    server.on("upgrade", (request: IncomingMessage, socket: Duplex, head: Buffer) =>
      this.admission.upgrade(request, socket, head),
    );
    const intervalMs = this.state.options.config.WEBSOCKET_PING_INTERVAL * 1000;
    this.livenessTimer = setInterval(() => this.lifecycle.checkLiveness(), intervalMs);
  }

  /** New upgrades are refused with 503 from now on (draining); open connections go on. */
  stopAccepting(): void {
    this.state.accepting = false;
  }

  /**
   * Drain with a notice (SIGTERM): stop accepting, send every client a shutdown_notice with its own
   * reconnect_in_ms, drawn uniformly from 0 to `spreadMs`, and close it with 1001 at that time, so
   * that clients come back (to another instance) spread over the window instead of all at once.
   * closeAll() closes whoever is still connected at once.
   */
  drainWithNotice(spreadMs: number, random: () => number = Math.random): void {
    this.state.accepting = false;
    const { config } = this.state.options;
    const graceMs = config.WEBSOCKET_CLOSE_GRACE_MS;
    const spread = Math.max(0, Math.floor(spreadMs));
    for (const session of this.state.clients.values()) {
      if (session.closing) continue;
      // Whole milliseconds, every value from 0 to spread equally likely.
      const reconnectInMs = Math.min(spread, Math.floor(random() * (spread + 1)));
      session.send(encodeTextFrame(`{"type":"shutdown_notice","reconnect_in_ms":${reconnectInMs}}`), true);
      const timer = setTimeout(() => {
        this.noticeTimers.delete(timer);
        session.close("GOING_AWAY", GOING_AWAY_REASON, graceMs);
      }, reconnectInMs);
      this.noticeTimers.add(timer);
    }
  }

  /** Stop accepting, close every client with 1001, and wait (bounded) for them to go. */
  async closeAll(): Promise<void> {
    this.state.accepting = false;
    clearInterval(this.livenessTimer);
    for (const timer of this.noticeTimers) clearTimeout(timer);
    this.noticeTimers.clear();
    const sessions = [...this.state.clients.values()];
    const gone = sessions.map(
      (session) =>
        new Promise<void>((resolve) => {
          if (session.socket.readyState === session.socket.CLOSED) resolve();
          else session.socket.once("close", () => resolve());
        }),
    );
    const graceMs = this.state.options.config.WEBSOCKET_CLOSE_GRACE_MS;
    for (const ws of this.state.authenticating) {
      gone.push(new Promise<void>((resolve) => ws.once("close", () => resolve())));
      closeWithGrace(ws, CloseCodes.GOING_AWAY.code, GOING_AWAY_REASON, graceMs);
    }
    for (const session of sessions) session.close("GOING_AWAY", GOING_AWAY_REASON, graceMs);
    await Promise.all(gone);
    this.wss.close();
  }

  /**
   * Close a session with a documented code. It leaves the subscription index at once (no more
   * frames are built for it) and the registry when its socket has closed.
   */
  disconnect(session: ClientSession, name: CloseCodeName, reason: string): void {
    this.lifecycle.disconnect(session, name, reason);
  }
}
