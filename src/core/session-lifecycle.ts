/**
 * The life of a session, from registration to its end: `client_id` takeover (the older
 * connection is closed with 4000), the welcome frame and the auto-subscribe snapshot, the socket's
 * listeners, liveness pings (a peer that did not answer the previous ping is dropped), and the
 * cleanup when it goes away or is disconnected.
 *
 * Identity: a connection is its `client_id` (the query parameter, else a fresh UUID), whatever
 * its token's subject. Without auth, naming a connected client_id takes it over; with auth, only
 * a connection of the same subject does (the registry keys connections by subject and client_id).
 */
import type { Duplex } from "node:stream";
import type { RawData, WebSocket } from "ws";
import { type Grant, mayUseChannel } from "./auth/grant.js";
import { ClientSession } from "./client-session.js";
import type { EndpointState } from "./endpoint-state.js";
import type { CloseCodeName } from "./errors.js";
import type { MessageDispatch } from "./message-dispatch.js";
import { welcomeFrame } from "./welcome.js";

export class SessionLifecycle {
  /**
   * The session of each registered socket. Its listeners below are shared by every socket and
   * look the session up here: closures made per connection cost a few hundred bytes each.
   */
  private readonly sessions = new WeakMap<WebSocket, ClientSession>();
  private readonly onMessage = sessionListener(this.sessions, (session, data: RawData, isBinary: boolean) =>
    this.dispatch.receive(session, data, isBinary),
  );
  private readonly onPong = sessionListener(this.sessions, (session) => {
    session.alive = true;
  });
  private readonly onClose = sessionListener(this.sessions, (session) => {
    session.closing = true;
    this.state.options.auth?.sessions.end(session);
    this.forget(session);
  });

  constructor(
    private readonly state: EndpointState,
    private readonly dispatch: MessageDispatch,
  ) {}

  /**
   * The socket becomes the client `clientId` (of the grant's subject): registered, welcomed, and
   * listened to. A connection already registered under that identity is replaced (4000).
   */
  register(ws: WebSocket, transport: Duplex, clientId: string, grant: Grant | undefined): ClientSession {
    const { config, logger, index, pipelines, auth, writer } = this.state.options;
    const { clients, counters } = this.state;
    const subject = grant?.subject;
    const previous = clients.get(clientId, subject);
    if (previous) {
      counters.replaced++;
      logger.info({ clientId, subject }, "client_id reconnected; closing the older connection");
      this.forget(previous);
      previous.close(
        "REPLACED",
        "Replaced by a newer connection with the same client_id",
        config.WEBSOCKET_CLOSE_GRACE_MS,
      );
    }
    const session = new ClientSession(clientId, ws, transport, writer, subject);
    if (grant) auth?.sessions.begin(session, grant);
    clients.add(session);
    counters.accepted++;
    const channels = this.channelsOf(session);
    if (config.WEBSOCKET_AUTO_SUBSCRIBE)
      index.subscribeImplicitly(
        session,
        channels.filter((channel) => pipelines.get(channel)?.channel.autoSubscribe),
      );
    session.send(welcomeFrame(session, channels, this.state.options.welcome), true);
    // The auto-subscribe default is a subscription like any other: the client gets the latest
    // known values of conflated channels at once instead of waiting for them to change.
    if (config.WEBSOCKET_AUTO_SUBSCRIBE)
      for (const channel of channels) {
        const pipeline = pipelines.get(channel);
        if (!pipeline?.channel.autoSubscribe) continue;
        if (pipeline.kind === "conflated" || pipeline.kind === "state")
          pipeline.delivery.snapshot(session, "*");
      }

    this.sessions.set(ws, session);
    ws.on("message", this.onMessage);
    ws.on("pong", this.onPong);
    ws.on("close", this.onClose);
    return session;
  }

  /** The session registered on this socket, if it is registered. */
  sessionOf(ws: WebSocket): ClientSession | undefined {
    return this.sessions.get(ws);
  }

  /**
   * Close a session with a documented code. It leaves the subscription index at once (no more
   * frames are built for it) and the registry when its socket has closed.
   */
  disconnect(session: ClientSession, name: CloseCodeName, reason: string): void {
    this.state.options.disconnect(session, name, reason);
  }

  /** Automatic cleanup of dead clients: a peer that did not answer the previous ping is dropped. */
  checkLiveness(): void {
    for (const session of this.state.clients.values()) {
      if (!session.alive) {
        this.state.counters.deadTerminated++;
        this.state.options.logger.info({ clientId: session.clientId }, "terminating unresponsive client");
        session.socket.terminate();
        continue;
      }
      session.alive = false;
      session.socket.ping();
    }
  }

  /** The channels a session may use: all of them, unless its token's `channels` claim narrows them. */
  private channelsOf(session: ClientSession): string[] {
    return [...this.state.options.pipelines.keys()].filter((channel) =>
      mayUseChannel(session.grant, channel),
    );
  }

  /** Remove a session from the registry (if it is still the one registered) and the index. */
  private forget(session: ClientSession): void {
    this.state.clients.remove(session);
    this.state.options.index.removeSession(session);
  }
}

/** A listener for every registered socket (`this`): it acts on the socket's session. */
function sessionListener<A extends unknown[]>(
  sessions: WeakMap<WebSocket, ClientSession>,
  act: (session: ClientSession, ...args: A) => void,
): (this: WebSocket, ...args: A) => void {
  return function (this: WebSocket, ...args: A): void {
    const session = sessions.get(this);
    if (session) act(session, ...args);
  };
}
