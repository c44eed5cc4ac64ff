/**
 * Longer than 250 lines: one connection state machine whose handlers (welcome, acks, resume,
 * keepalive, token refresh) share the connection's state; its pure parts live beside it
 * (subscriptions.ts, resume.ts, backoff.ts, channel-catalog.ts, frames.ts, gateway-url.ts), and
 * its public types in client-types.ts. The order_books channel's verified books are kept by
 * order-books.ts: this file hands them every frame it delivers and ends them with the connection.
 *
 * The gateway's client: one logical connection that survives disconnections. It reconnects with
 * backoff, re-sends what the client subscribed to, keeps the connection alive and notices when it
 * is dead, validates every frame against the server's own schemas, and tells its user what it is
 * doing through typed events.
 *
 * Browser-safe: no Node imports. The browser's WebSocket is the default; in Node 20 (no global
 * WebSocket) pass `ws`, or import from ./node.js which does.
 */

import type { ChannelDescription } from "../core/channel-info.js";
import { CLIENT_ID_PATTERN } from "../core/protocol.js";
import type { StreamState } from "../core/quality.js";
import { backoffOptions, ReconnectBackoff } from "./backoff.js";
import { ChannelCatalog } from "./channel-catalog.js";
import type {
  ConnectionState,
  GatewayClientEvents,
  GatewayClientOptions,
  SubscribeOptions,
  TokenTransport,
} from "./client-types.js";
import { type Clock, systemClock, type TimerHandle } from "./clock.js";
import { ABNORMAL_CLOSURE, TERMINAL_CLOSE_CODES } from "./close-codes.js";
import { Emitter } from "./emitter.js";
import {
  type AuthenticatedFrame,
  DATA_FRAME_CHANNELS,
  type DataFrame,
  type DeliveryStatusFrame,
  dataFrameFor,
  type ErrorFrame,
  isDataFrame,
  LOSSLESS_DATA_CHANNELS,
  parseServerFrame,
  type ReplayedFrame,
  SERVER_FRAME_SCHEMAS,
  type ServerFrame,
  type SubscribedFrame,
  type UnknownFrame,
  type UnsubscribedFrame,
  type WelcomeFrame,
} from "./frames.js";
import { channelsUrlOf, gatewayUrl, randomClientId } from "./gateway-url.js";
import { ORDER_BOOKS_CHANNEL, OrderBooks, type OrderBookView } from "./order-books.js";
import { inOrder, type PendingResume, type Position, Positions, positionOf } from "./resume.js";
import {
  checkInterval,
  checkSubscriptionArguments,
  DesiredSubscriptions,
  type SubscriptionView,
  subscriptionFrames,
} from "./subscriptions.js";
import { CLOSED, OPEN, type WebSocketConstructor, type WebSocketLike } from "./websocket-like.js";

export type {
  ChannelStatus,
  ClientError,
  ConnectionEvents,
  ConnectionState,
  FrameEvents,
  GatewayClientEvents,
  GatewayClientOptions,
  SubscribeOptions,
  TokenSource,
  TokenTransport,
} from "./client-types.js";

const DEFAULT_PONG_TIMEOUT_MS = 10_000;
const DEFAULT_CONNECT_TIMEOUT_MS = 10_000;
const DEFAULT_TOKEN_REFRESH_LEAD_MS = 30_000;
/** setTimeout's ceiling (about 24.8 days); a later deadline is reached in several steps. */
const MAX_TIMER_MS = 2 ** 31 - 1;
/** How long close() waits for the gateway to answer the close frame before dropping the socket. */
const CLOSE_GRACE_MS = 1000;
/** The browser lets a client close with 1000 or 3000-4999 only. */
const NORMAL_CLOSURE = 1000;

/** One WebSocket and what belongs to it alone. */
interface Connection {
  socket: WebSocketLike;
  welcome: WelcomeFrame | undefined;
  /** Channels still on the gateway's default on this connection: no ack for them yet. */
  atDefault: Set<string>;
  /** Each channel's state as the gateway last reported it on this connection. */
  server: Record<string, SubscriptionView>;
  /** Id of the last (un)subscribe sent per channel: its answer settles the desired state. */
  latest: Map<string, string | number>;
  timers: Partial<Record<"connect" | "ping" | "pong" | "stable" | "refresh", TimerHandle>>;
  /** The socket's last error message, reported with its close. */
  error: string | undefined;
  /**
   * When the gateway said it will close this connection (a shutdown_notice: clock time of the
   * notice plus reconnect_in_ms): the reconnection waits for it, without backoff.
   */
  reconnectAt: number | undefined;
  /** Lossless channels being resumed on this connection: their frames are held until it is done. */
  resumes: Map<string, PendingResume<DeliverableFrame>>;
  /** Frames of channels the SDK has no types for, held until their schemas are in. */
  undescribed: UnknownFrame[];
  /**
   * Subscribe frames that carried interval_ms, by id: the interval the client had before it, to go
   * back to when the gateway refuses the request.
   */
  intervalRequests: Map<
    string | number,
    { channel: string; requested: number; previous: number | undefined }
  >;
}

/** A frame the application may receive: validated, or of a type the SDK does not know. */
type DeliverableFrame = ServerFrame | UnknownFrame;

const KNOWN_DATA_CHANNELS: ReadonlySet<string> = new Set(Object.values(DATA_FRAME_CHANNELS));

export class GatewayClient extends Emitter<GatewayClientEvents> {
  private readonly url: URL;
  /** GET /websocket/channels of the same gateway (options.channelsUrl). */
  private readonly channelsUrl: string;
  private readonly WebSocketImpl: WebSocketConstructor;
  private readonly clock: Clock;
  private readonly backoff: ReconnectBackoff;
  private readonly desired = new DesiredSubscriptions();
  /** Conflated channel -> the flush interval the client asked for (ms), re-sent on every connection. */
  private readonly desiredIntervals = new Map<string, number>();
  /** Each channel's stream status, from the welcome, the acks and stream_status frames. */
  private readonly streams = new Map<string, StreamState>();
  /** The last delivery_status of the open connection (a new connection starts undegraded). */
  private delivery: DeliveryStatusFrame | undefined;
  /** Where the client stands in each lossless channel's history, across connections. */
  private readonly resumePositions: Positions;
  /** Channels known to be lossless: their frames carry positions (or the gateway reported a head). */
  private readonly lossless = new Set<string>();
  /** The channels the SDK has no types for, as the gateway's welcome described them. */
  private readonly catalog = new ChannelCatalog();
  /** The order_books channel's books, verified frame by frame; they end with their connection. */
  private readonly orderBooks = new OrderBooks({
    wants: (symbol) => {
      const desired = this.desired.get(ORDER_BOOKS_CHANNEL);
      return desired === "*" || desired?.has(symbol) === true;
    },
    // The channel's interval, if the client chose one, goes with it (sendSubscription adds it).
    resubscribe: (symbol) =>
      this.request(
        "subscribe",
        ORDER_BOOKS_CHANNEL,
        [symbol],
        this.desiredIntervals.get(ORDER_BOOKS_CHANNEL),
      ),
    emit: (event, payload) => this.emit(event, payload as GatewayClientEvents[typeof event]),
  });
  private current: ConnectionState = "idle";
  private connection: Connection | undefined;
  private reconnectTimer: TimerHandle | undefined;
  /** Bumped by every attempt and by close(): stale async work (token fetches) checks it. */
  private generation = 0;
  private ids = 0;
  /** The `client_id` of every connection of this client. */
  readonly clientId: string;
  private readonly tokenTransport: TokenTransport;

  constructor(private readonly options: GatewayClientOptions) {
    super();
    this.url = gatewayUrl(options.url);
    this.channelsUrl = options.channelsUrl ?? channelsUrlOf(this.url);
    // The gateway refuses the upgrade (HTTP 400) forever: better said at once than retried.
    if (options.clientId !== undefined && !CLIENT_ID_PATTERN.test(options.clientId))
      throw new TypeError(
        `clientId must be 1 to 64 of A-Z a-z 0-9 . _ : -, got ${JSON.stringify(options.clientId)}`,
      );
    this.clientId = options.clientId ?? randomClientId();
    // In the reported URL (`connecting`) only when the application chose it; sent every time.
    if (options.clientId !== undefined) this.url.searchParams.set("client_id", this.clientId);
    this.tokenTransport = options.tokenTransport ?? "frame";
    if (!["frame", "header", "query"].includes(this.tokenTransport))
      throw new TypeError(
        `tokenTransport must be "frame", "header" or "query", got ${JSON.stringify(this.tokenTransport)}`,
      );
    const implementation =
      options.WebSocket ?? (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket;
    if (!implementation)
      throw new TypeError(
        "No WebSocket implementation: pass the `WebSocket` option (e.g. from the ws package), or in Node import the SDK from src/client/node.js",
      );
    this.WebSocketImpl = implementation;
    this.clock = options.clock ?? systemClock;
    this.backoff = new ReconnectBackoff(backoffOptions(options.backoff), options.random ?? Math.random);
    this.resumePositions = new Positions(options.positions);
    for (const channel of Object.keys(options.positions ?? {})) this.lossless.add(channel);
  }

  get state(): ConnectionState {
    return this.current;
  }

  /** The welcome frame of the open connection, if there is one. */
  get welcome(): WelcomeFrame | undefined {
    return this.current === "open" ? this.connection?.welcome : undefined;
  }

  /**
   * What the client asked for, per channel it mentioned ("*" or sorted symbols; [] = left the
   * channel). Re-sent on every connection; channels not listed stay on the gateway's default.
   */
  get subscriptions(): Record<string, SubscriptionView> {
    return this.desired.view();
  }

  /**
   * Per lossless channel, the position the client resumes from after a reconnection: the last
   * frame delivered to the application (before any, the channel's head as the gateway reported
   * it). Save it to resume after a restart too (the `positions` option).
   */
  get positions(): Record<string, Position> {
    return this.resumePositions.view();
  }

  /**
   * Per conflated channel the client chose an interval for (`subscribe(..., { intervalMs })`), that
   * interval in ms. The gateway may send less often while the connection is degraded: see `degraded`.
   */
  get intervals(): Record<string, number> {
    return Object.fromEntries(this.desiredIntervals);
  }

  /**
   * Each channel's stream status as the gateway last reported it: `live`, or `stale` with a
   * `reason` (`upstream_disconnected`: the gateway lost NATS; `no_data`: the channel has been
   * quiet past its threshold) and `since`. Kept while disconnected (the last word), replaced by
   * the next welcome.
   */
  get streamStatus(): Record<string, StreamState> {
    return Object.fromEntries([...this.streams].map(([channel, state]) => [channel, { ...state }]));
  }

  /**
   * True while the gateway sends this connection's conflated channels less often than asked,
   * because it reads too slowly (`delivery_status`); false again on every new connection.
   */
  get degraded(): boolean {
    return this.current === "open" && this.delivery?.degraded === true;
  }

  /** Every channel's subscription on the open connection, as the gateway reported it. */
  get activeSubscriptions(): Record<string, SubscriptionView> | undefined {
    const connection = this.current === "open" ? this.connection : undefined;
    return connection ? { ...connection.server } : undefined;
  }

  /**
   * The order_books channel's book of `symbol` as the client verified it (every checksum matched,
   * no update missed), read-only; undefined before its first snapshot, while it is being
   * resynced, and while disconnected. `stale` when the gateway stopped its updates.
   */
  orderBook(symbol: string): OrderBookView | undefined {
    return this.orderBooks.view(symbol);
  }

  /** Start connecting (again, after close() or a terminal close code). */
  connect(): void {
    if (this.current !== "idle" && this.current !== "closed") return;
    this.backoff.reset();
    this.attempt(0);
  }

  /**
   * Close for good: no reconnection until connect() is called again. Emits `closed` at once and
   * resolves when the socket has closed.
   */
  close(code = NORMAL_CLOSURE, reason = "Client closed"): Promise<void> {
    const wasActive = this.current !== "idle" && this.current !== "closed";
    this.generation++;
    this.cancelReconnect();
    const connection = this.connection;
    this.connection = undefined;
    this.orderBooks.clear();
    this.current = "closed";
    let closed = Promise.resolve();
    if (connection) {
      this.clearTimers(connection);
      const { socket } = connection;
      closed =
        socket.readyState === CLOSED
          ? Promise.resolve()
          : new Promise((resolve) => {
              // A peer that never answers the close frame (a hung connection) must not hold close()
              // for the 30 s `ws` would wait: after a short grace the socket is dropped.
              const grace = this.clock.setTimeout(() => {
                socket.terminate?.();
                resolve();
              }, CLOSE_GRACE_MS);
              socket.addEventListener("close", () => {
                this.clock.clearTimeout(grace);
                resolve();
              });
            });
      try {
        socket.close(code, reason);
      } catch {
        // A code the browser refuses (not 1000 or 3000-4999): close normally instead.
        socket.close();
      }
    }
    if (wasActive) this.emit("closed", { code, reason, willReconnect: false });
    return closed;
  }

  /**
   * Subscribe to `symbols` of `channel` ("*" or absent: all), now if connected and again after
   * every reconnection. Throws on a malformed channel or symbol; refusals by the gateway arrive
   * as `server_error` and are dropped from the remembered subscriptions.
   */
  subscribe(channel: string, symbols?: "*" | readonly string[], options: SubscribeOptions = {}): void {
    checkSubscriptionArguments(channel, symbols);
    const { intervalMs } = options;
    checkInterval(channel, intervalMs, this.isLossless(channel));
    this.desired.subscribe(channel, symbols);
    const previous = this.desiredIntervals.get(channel);
    if (intervalMs !== undefined) this.desiredIntervals.set(channel, intervalMs);
    // Should the gateway refuse the request, the interval goes back to what it was.
    this.request("subscribe", channel, symbols, previous);
  }

  /**
   * The JSON Schema the gateway published for the frames of a channel this SDK has no types for
   * (GET /websocket/channels), once it is in; undefined for the bundled channels.
   */
  frameSchemaOf(channel: string): Record<string, unknown> | undefined {
    return this.catalog.frameSchemaOf(channel);
  }

  /** Known to be lossless: a known lossless channel, or one whose frames or head carried positions. */
  private isLossless(channel: string): boolean {
    return LOSSLESS_DATA_CHANNELS.has(channel) || this.lossless.has(channel);
  }

  /** Unsubscribe `symbols` of `channel`, or leave the channel when `symbols` is absent or "*". */
  unsubscribe(channel: string, symbols?: "*" | readonly string[]): void {
    checkSubscriptionArguments(channel, symbols);
    const leave = symbols === undefined || symbols === "*" || symbols.includes("*");
    this.desired.unsubscribe(channel, leave ? undefined : (symbols as readonly string[]));
    // Leaving the channel forgets its interval, on the gateway too.
    if (leave) this.desiredIntervals.delete(channel);
    this.request("unsubscribe", channel, leave ? undefined : symbols);
  }

  // --- Connection lifecycle -----------------------------------------------------------------

  private attempt(attempt: number): void {
    const generation = ++this.generation;
    this.current = "connecting";
    this.emit("connecting", { attempt, url: this.url.toString() });
    if (generation !== this.generation) return; // a listener closed the client
    const source = this.options.token;
    if (typeof source !== "function") {
      this.open(source);
      return;
    }
    fetchToken(source).then(
      (token) => {
        if (generation === this.generation) this.open(token);
      },
      (error: unknown) => {
        if (generation !== this.generation) return;
        this.emit("error", {
          kind: "token",
          message: `Token function failed: ${messageOf(error)}`,
          cause: error,
        });
        if (generation === this.generation) this.retry();
      },
    );
  }

  private open(token: string | undefined): void {
    const url = new URL(this.url);
    url.searchParams.set("client_id", this.clientId);
    const transport = token === undefined ? undefined : this.tokenTransport;
    if (transport === "query") url.searchParams.set("token", token as string);
    let socket: WebSocketLike;
    try {
      socket =
        transport === "header"
          ? new this.WebSocketImpl(url.toString(), undefined, {
              headers: { Authorization: `Bearer ${token}` },
            })
          : new this.WebSocketImpl(url.toString());
    } catch (error) {
      // E.g. a browser's SecurityError: report it like a failed connection and try again later.
      this.current = "reconnecting";
      this.emit("closed", {
        code: ABNORMAL_CLOSURE,
        reason: "",
        willReconnect: true,
        error: messageOf(error),
      });
      if (this.current === "reconnecting") this.retry();
      return;
    }
    const connection: Connection = {
      socket,
      welcome: undefined,
      atDefault: new Set(),
      server: {},
      latest: new Map(),
      timers: {},
      error: undefined,
      reconnectAt: undefined,
      resumes: new Map(),
      undescribed: [],
      intervalRequests: new Map(),
    };
    this.connection = connection;
    // The token's first frame, before anything else: the gateway answers it with the welcome.
    if (transport === "frame")
      socket.addEventListener("open", () => {
        if (this.connection === connection) this.transmit(connection, { type: "auth", token });
      });
    socket.addEventListener("message", (event) => this.received(connection, event.data));
    socket.addEventListener("close", (event) => this.ended(connection, event.code, event.reason));
    socket.addEventListener("error", (event) => {
      connection.error = event.message || connection.error;
    });
    const timeoutMs = this.options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS;
    connection.timers.connect = this.clock.setTimeout(
      () => this.abandon(connection, `No welcome frame within ${timeoutMs} ms`),
      timeoutMs,
    );
  }

  /** Drop a connection that is dead or never became usable, without waiting for its close. */
  private abandon(connection: Connection, reason: string): void {
    if (this.connection !== connection) return;
    const { socket } = connection;
    try {
      if (socket.terminate) socket.terminate();
      else socket.close();
    } catch {
      // Already closing: nothing more to do with it.
    }
    this.ended(connection, ABNORMAL_CLOSURE, reason);
  }

  /** The connection is over: say so, and reconnect unless the code is terminal. */
  private ended(connection: Connection, code: number, reason: string): void {
    if (this.connection !== connection) return;
    this.connection = undefined;
    this.orderBooks.clear();
    this.clearTimers(connection);
    const willReconnect = !TERMINAL_CLOSE_CODES.has(code);
    this.current = willReconnect ? "reconnecting" : "closed";
    this.emit("closed", {
      code,
      reason,
      willReconnect,
      ...(connection.error === undefined ? {} : { error: connection.error }),
    });
    // A `closed` listener may have called close() (or connect()): then there is nothing to schedule.
    if (willReconnect && this.current === "reconnecting" && this.reconnectTimer === undefined) {
      if (connection.reconnectAt !== undefined)
        // Told when to come back (shutdown_notice): at that time, or now if it has passed, and
        // without backoff: the gateway spread its clients' times, the backoff would only delay.
        this.retry(this.backoff.restart(Math.max(0, connection.reconnectAt - this.clock.now())));
      else this.retry(this.backoff.next(retryAfterOf(connection.socket)));
    }
  }

  /**
   * Schedule the next attempt: the backoff's (`next()`, the default), or the one given (after a
   * shutdown_notice, or a refusal with Retry-After).
   */
  private retry(next: { attempt: number; delayMs: number } = this.backoff.next()): void {
    const { attempt, delayMs } = next;
    this.current = "reconnecting";
    this.reconnectTimer = this.clock.setTimeout(() => {
      this.reconnectTimer = undefined;
      this.attempt(attempt);
    }, delayMs);
    this.emit("reconnecting", { attempt, delayMs });
  }

  private cancelReconnect(): void {
    if (this.reconnectTimer === undefined) return;
    this.clock.clearTimeout(this.reconnectTimer);
    this.reconnectTimer = undefined;
  }

  private clearTimers(connection: Connection): void {
    for (const handle of Object.values(connection.timers))
      if (handle !== undefined) this.clock.clearTimeout(handle);
    connection.timers = {};
  }

  // --- Received frames ----------------------------------------------------------------------

  private received(connection: Connection, data: unknown): void {
    if (this.connection !== connection) return;
    // Anything at all from the server proves the connection alive.
    if (connection.timers.pong !== undefined) {
      this.clock.clearTimeout(connection.timers.pong);
      connection.timers.pong = undefined;
    }
    const parsed = parseServerFrame(data);
    if (!parsed.ok) {
      const { message, data: frameData, issues } = parsed;
      this.emit("error", { kind: "invalid_frame", message, data: frameData, issues });
      return;
    }
    if (!parsed.known) {
      // Behind a held frame every unknown one waits too, so that they keep their order: a state
      // channel's update (a type the catalog does not hold) must not overtake its snapshot.
      if (this.catalog.awaiting(parsed.frame.type) || connection.undescribed.length > 0)
        connection.undescribed.push(parsed.frame);
      else this.unknown(connection, parsed.frame);
      return;
    }
    let frame: ServerFrame | undefined = parsed.frame;
    /** What follows the frame's own events (resume outcomes). */
    let then: (() => void) | undefined;
    switch (frame.type) {
      case "welcome":
        then = this.welcomed(connection, frame);
        break;
      case "subscribed": {
        const resumed = this.subscribed(connection, frame);
        const status = frame.stream_status && this.streamChanged(frame.channel, frame.stream_status);
        then = sequence(resumed, status);
        break;
      }
      case "unsubscribed":
        this.acknowledged(connection, frame);
        break;
      case "replayed":
        then = this.replayed(connection, frame);
        break;
      case "error":
        then = this.refused(connection, frame);
        break;
      case "authenticated":
        this.reauthenticated(connection, frame);
        break;
      case "stream_status":
        then = this.streamChanged(frame.channel, frame);
        break;
      case "delivery_status":
        this.delivery = frame;
        break;
      case "shutdown_notice":
        // The gateway closes this connection (1001) after reconnect_in_ms: come back then.
        connection.reconnectAt = this.clock.now() + frame.reconnect_in_ms;
        break;
      default:
        if (isDataFrame(frame)) {
          frame = this.wanted(connection, frame);
          if (frame !== undefined)
            frame = this.positioned(connection, DATA_FRAME_CHANNELS[frame.type], frame);
        }
    }
    if (frame === undefined || this.connection !== connection) return;
    this.deliver(frame);
    if (then !== undefined && this.connection === connection) then();
  }

  /**
   * A frame of a type the SDK has no schema of its own for: validated against the one the gateway
   * published for its channel when there is one, positioned when it carries a position, delivered.
   */
  private unknown(connection: Connection, unknown: UnknownFrame): void {
    const checked = this.catalog.check(unknown);
    if (checked?.ok === false) {
      const { message, issues } = checked;
      this.emit("error", { kind: "invalid_frame", message, data: unknown, issues });
      return;
    }
    const channel = checked?.channel ?? this.channelOfUnknown(unknown);
    const frame = channel === undefined ? unknown : this.positioned(connection, channel, unknown);
    if (frame !== undefined) this.deliver(frame);
  }

  /** Fetch the frame schemas of the channels this SDK has no types for, then release their frames. */
  private describeChannels(connection: Connection): void {
    const release = () => {
      for (const frame of connection.undescribed.splice(0)) {
        if (this.connection !== connection) return;
        this.unknown(connection, frame);
      }
    };
    fetch(this.channelsUrl)
      .then((response) => {
        if (!response.ok) throw new Error(`GET ${this.channelsUrl}: HTTP ${response.status}`);
        return response.json() as Promise<Record<string, ChannelDescription>>;
      })
      .then(
        (descriptions) => {
          if (this.connection !== connection) return;
          this.catalog.describe(descriptions);
          release();
        },
        (error: unknown) => {
          if (this.connection !== connection) return;
          this.catalog.describe(undefined);
          this.emit("error", { kind: "channel_schemas", message: messageOf(error), cause: error });
          release();
        },
      );
  }

  /** Hand a frame to the application: its own event, then `frame`, then what it did to an order book. */
  private deliver(frame: DeliverableFrame): void {
    const booksChanged = this.orderBooks.receive(frame);
    if (frame.type in SERVER_FRAME_SCHEMAS) {
      const known = frame as ServerFrame;
      this.emit(known.type === "error" ? "server_error" : known.type, known as never);
    } else {
      const channel = this.catalog.channelOf(frame.type);
      if (channel !== undefined) this.emit("channel_data", { channel, type: frame.type, payload: frame });
    }
    this.emit("frame", frame);
    booksChanged?.();
  }

  /**
   * Adopt a channel's stream status; when it changed, returns what announces it (`channel_status`,
   * after the frame's own events, so that listeners of either see `streamStatus` up to date).
   */
  private streamChanged(channel: string, state: StreamState): (() => void) | undefined {
    const before = this.streams.get(channel);
    const next: StreamState = { status: state.status, since: state.since };
    if (state.reason !== undefined) next.reason = state.reason;
    this.streams.set(channel, next);
    if (before !== undefined && before.status === next.status && before.reason === next.reason)
      return undefined;
    return () => this.emit("channel_status", { channel, ...next });
  }

  private welcomed(connection: Connection, welcome: WelcomeFrame): (() => void) | undefined {
    this.clearTimers(connection);
    this.delivery = undefined;
    connection.welcome = welcome;
    connection.server = { ...welcome.subscriptions };
    connection.atDefault = new Set(welcome.channels);
    connection.latest.clear();
    const undescribed = this.catalog.learn(welcome.channel_info);
    for (const channel of this.catalog.losslessChannels()) this.lossless.add(channel);
    if (undescribed) this.describeChannels(connection);
    this.current = "open";
    connection.timers.stable = this.clock.setTimeout(
      () => this.backoff.reset(),
      this.backoff.options.stableAfterMs,
    );
    this.schedulePing(connection);
    this.scheduleRefresh(connection, welcome.expires_at);
    // Lossless channels with a position from before this connection resume from it.
    const resumeFrom = new Map<string, Position>();
    for (const channel of welcome.channels) {
      const position =
        this.resumePositions.get(channel) ?? this.backfillFrom(channel, welcome.positions?.[channel]);
      if (position !== undefined) resumeFrom.set(channel, position);
    }
    for (const [channel, head] of Object.entries(welcome.positions ?? {})) {
      this.lossless.add(channel);
      this.resumePositions.learn(channel, head);
    }
    // A new connection starts on the default again: restore what the client asked for.
    for (const channel of this.desired.channels()) this.restore(connection, channel, resumeFrom.get(channel));
    // A lossless channel left on a default of every symbol is subscribed to "*" explicitly, only
    // to say where to resume from: what it delivers does not change.
    for (const [channel, since] of resumeFrom)
      if (this.desired.get(channel) === undefined && welcome.subscriptions[channel] === "*")
        this.resume(
          connection,
          channel,
          this.sendSubscription(connection, "subscribe", channel, "*", since, false),
          since,
        );
    // Every channel's stream status now; channels this connection may not use are forgotten.
    let announce: (() => void) | undefined;
    if (welcome.stream_status !== undefined) {
      for (const channel of [...this.streams.keys()])
        if (!(channel in welcome.stream_status)) this.streams.delete(channel);
      for (const [channel, state] of Object.entries(welcome.stream_status))
        announce = sequence(announce, this.streamChanged(channel, state));
    }
    this.emit("open", { welcome });
    return announce;
  }

  /**
   * Where the `backfill` option resumes a channel the client has no position in: `count` positions
   * before the head the welcome reported (from the beginning when the channel holds fewer);
   * nothing to ask for while the channel has no frame yet (head 0).
   */
  private backfillFrom(channel: string, head: Position | undefined): Position | undefined {
    const count = this.options.backfill?.[channel];
    if (head === undefined || head.seq === 0 || count === undefined || !(count > 0)) return undefined;
    return { seq: Math.max(0, head.seq - Math.floor(count)), epoch: head.epoch };
  }

  /** Hold the channel's frames until the gateway has answered the subscribe that carried `since`. */
  private resume(
    connection: Connection,
    channel: string,
    id: string | number | undefined,
    since: Position,
  ): void {
    if (id === undefined) return; // not sent: the socket is closing
    connection.resumes.set(channel, { since, id, replaying: false, held: [] });
  }

  /**
   * A subscribe was applied. When it answers a resume: with `recovered: true` the replay follows
   * (held until `replayed`); with `recovered: false` the client is told (`gap`) and what was held
   * is delivered; a gateway that ignored `since` (it does not know it) is as good as a gap-less
   * live start. Returns what to do after the ack's own events.
   */
  private subscribed(connection: Connection, ack: SubscribedFrame): (() => void) | undefined {
    this.acknowledged(connection, ack);
    const { channel, position } = ack;
    if (position !== undefined) this.lossless.add(channel);
    const resume = connection.resumes.get(channel);
    if (resume === undefined || ack.id === undefined || ack.id !== resume.id) {
      if (position !== undefined) this.resumePositions.learn(channel, position, true);
      return undefined;
    }
    if (ack.recovered === true) {
      resume.replaying = true;
      return undefined;
    }
    if (ack.recovered === false) {
      if (position !== undefined) this.resumePositions.restart(channel, position);
      const reason = ack.reason ?? "unknown";
      return () => {
        this.emit("gap", { channel, reason });
        if (this.connection === connection) this.release(connection, channel);
      };
    }
    if (position !== undefined) this.resumePositions.learn(channel, position, true);
    return () => this.release(connection, channel);
  }

  /** The replay after `recovered: true` is over: deliver it (and what was held), then say so. */
  private replayed(connection: Connection, frame: ReplayedFrame): (() => void) | undefined {
    const resume = connection.resumes.get(frame.channel);
    if (resume === undefined || !resume.replaying) return undefined;
    const count = this.release(connection, frame.channel);
    return () => this.emit("recovered", { channel: frame.channel, count });
  }

  /**
   * Deliver a channel's held frames in seq order, each once, and stop holding. Returns how many of
   * them were the replay.
   */
  private release(connection: Connection, channel: string): number {
    const resume = connection.resumes.get(channel);
    if (resume === undefined) return 0;
    connection.resumes.delete(channel);
    let count = 0;
    for (const { frame, position, replayed } of inOrder(resume.held)) {
      if (this.connection !== connection) break;
      if (this.resumePositions.delivered(channel, position)) continue;
      this.resumePositions.deliver(channel, position);
      if (replayed) count++;
      this.deliver(frame);
    }
    return count;
  }

  /**
   * A frame of a lossless channel: held while the channel is being resumed, dropped when the
   * application has it already, else recorded as the channel's position and delivered.
   */
  private positioned<F extends DeliverableFrame>(
    connection: Connection,
    channel: string,
    frame: F,
  ): F | undefined {
    const position = positionOf(frame);
    if (position === undefined) return frame;
    this.lossless.add(channel);
    const resume = connection.resumes.get(channel);
    if (resume !== undefined) {
      resume.held.push({ frame, position, replayed: resume.replaying });
      return undefined;
    }
    if (this.resumePositions.delivered(channel, position)) return undefined;
    this.resumePositions.deliver(channel, position);
    return frame;
  }

  /**
   * The channel of a frame of a type the SDK does not know, when it carries a position: its
   * `channel` field, or the one lossless channel the gateway reported that no known frame type
   * belongs to. Otherwise such frames are passed on as they are.
   */
  private channelOfUnknown(frame: UnknownFrame): string | undefined {
    if (positionOf(frame) === undefined) return undefined;
    if (typeof frame.channel === "string") return frame.channel;
    const candidates = [...this.lossless].filter((channel) => !KNOWN_DATA_CHANNELS.has(channel));
    return candidates.length === 1 ? candidates[0] : undefined;
  }

  private acknowledged(connection: Connection, ack: SubscribedFrame | UnsubscribedFrame): void {
    connection.atDefault.delete(ack.channel);
    connection.server[ack.channel] = ack.symbols;
    if (ack.id !== undefined) connection.intervalRequests.delete(ack.id);
    // Only the answer to the last request for the channel is the state the client will have.
    if (ack.id !== undefined && connection.latest.get(ack.channel) === ack.id) {
      connection.latest.delete(ack.channel);
      this.desired.set(ack.channel, ack.symbols);
      // Left the channel (its last symbols removed): the gateway forgot the interval too.
      if (ack.type === "unsubscribed" && Array.isArray(ack.symbols) && ack.symbols.length === 0)
        this.desiredIntervals.delete(ack.channel);
    }
  }

  /**
   * The gateway refused the last request for a channel: it changed nothing there, so the desired
   * state goes back to what the gateway has (the default when it never acked the channel).
   */
  private refused(connection: Connection, error: ErrorFrame): (() => void) | undefined {
    if (error.id === undefined) return undefined;
    // A refused subscribe changed nothing on the gateway, its interval included.
    const interval = connection.intervalRequests.get(error.id);
    if (interval !== undefined) {
      connection.intervalRequests.delete(error.id);
      if (this.desiredIntervals.get(interval.channel) === interval.requested) {
        if (interval.previous === undefined) this.desiredIntervals.delete(interval.channel);
        else this.desiredIntervals.set(interval.channel, interval.previous);
      }
    }
    for (const [channel, id] of connection.latest) {
      if (id !== error.id) continue;
      connection.latest.delete(channel);
      const server = connection.atDefault.has(channel) ? undefined : connection.server[channel];
      if (server === undefined) this.desired.forget(channel);
      else this.desired.set(channel, server);
    }
    // A refused resume resumes nothing: what was held is live, deliver it.
    const refusedResumes = [...connection.resumes]
      .filter(([, resume]) => resume.id === error.id)
      .map(([channel]) => channel);
    if (refusedResumes.length === 0) return undefined;
    return () => {
      for (const channel of refusedResumes) this.release(connection, channel);
    };
  }

  /**
   * Until the gateway has applied the client's subscription to a channel, that channel still
   * delivers the auto-subscribe default: keep only what the client asked for.
   */
  private wanted(connection: Connection, frame: DataFrame): DataFrame | undefined {
    const channel = DATA_FRAME_CHANNELS[frame.type];
    if (!connection.atDefault.has(channel)) return frame;
    const desired = this.desired.get(channel);
    if (desired === undefined || desired === "*") return frame;
    return dataFrameFor(frame, desired);
  }

  // --- Sent frames --------------------------------------------------------------------------

  /** `previousInterval`: the channel's interval before this request (restored if it is refused). */
  private request(
    type: "subscribe" | "unsubscribe",
    channel: string,
    symbols?: "*" | readonly string[],
    previousInterval?: number,
  ): void {
    const connection = this.connection;
    // Before the welcome the request is only remembered: welcomed() sends the whole state.
    if (this.current !== "open" || !connection?.welcome) return;
    this.sendSubscription(connection, type, channel, symbols, undefined, true, previousInterval);
  }

  /**
   * Re-send one channel's desired state on a fresh connection, resuming from `since` (a lossless
   * channel the client has a position in) unless it left the channel.
   */
  private restore(connection: Connection, channel: string, since: Position | undefined): void {
    const desired = this.desired.get(channel);
    if (desired === undefined) return;
    if (desired !== "*" && desired.size === 0) {
      this.sendSubscription(connection, "unsubscribe", channel, undefined);
      return;
    }
    const symbols = desired === "*" ? "*" : [...desired];
    const id = this.sendSubscription(connection, "subscribe", channel, symbols, since);
    if (since !== undefined) this.resume(connection, channel, id, since);
  }

  /**
   * Send one (un)subscribe request, split to fit max_message_bytes; returns the last frame's id,
   * or undefined when the socket would not take it. The answer to a request of the client's
   * (`settles`) becomes the client's desired state; that to a subscribe sent only to resume does not.
   * A subscribe carries the channel's remembered interval, if any; should the gateway refuse it, the
   * interval goes back to `previousInterval`.
   */
  private sendSubscription(
    connection: Connection,
    type: "subscribe" | "unsubscribe",
    channel: string,
    symbols: "*" | readonly string[] | undefined,
    since?: Position,
    settles = true,
    previousInterval?: number,
  ): string | number | undefined {
    const maxBytes = connection.welcome?.max_message_bytes ?? Number.POSITIVE_INFINITY;
    const intervalMs = type === "subscribe" && settles ? this.desiredIntervals.get(channel) : undefined;
    const frames = subscriptionFrames(
      type,
      channel,
      symbols,
      maxBytes,
      () => this.nextId("sub"),
      since,
      intervalMs,
    );
    let id: string | number | undefined;
    for (const frame of frames) {
      if (!this.transmit(connection, frame)) return undefined;
      id = frame.id;
      if (settles && id !== undefined) connection.latest.set(channel, id);
      if (intervalMs !== undefined && id !== undefined)
        connection.intervalRequests.set(id, { channel, requested: intervalMs, previous: previousInterval });
    }
    return id;
  }

  private transmit(connection: Connection, frame: object): boolean {
    if (connection.socket.readyState !== OPEN) return false;
    try {
      connection.socket.send(JSON.stringify(frame));
      return true;
    } catch {
      // The socket is closing: its close event follows and the state is re-sent after reconnecting.
      return false;
    }
  }

  private nextId(prefix: string): string {
    return `${prefix}-${++this.ids}`;
  }

  // --- Keep-alive ---------------------------------------------------------------------------

  private schedulePing(connection: Connection): void {
    const intervalMs = Math.max(
      10,
      this.options.pingIntervalMs ?? (connection.welcome?.ping_interval ?? 30) * 1000,
    );
    connection.timers.ping = this.clock.setTimeout(() => {
      if (this.connection !== connection) return;
      this.transmit(connection, { type: "ping", id: this.nextId("ping") });
      // Armed by the first unanswered ping; any frame received clears it.
      if (connection.timers.pong === undefined) {
        const timeoutMs = this.options.pongTimeoutMs ?? DEFAULT_PONG_TIMEOUT_MS;
        connection.timers.pong = this.clock.setTimeout(
          () => this.abandon(connection, `Dead connection: no pong within ${timeoutMs} ms`),
          timeoutMs,
        );
      }
      this.schedulePing(connection);
    }, intervalMs);
  }

  // --- Token refresh ------------------------------------------------------------------------

  private reauthenticated(connection: Connection, frame: AuthenticatedFrame): void {
    this.scheduleRefresh(connection, frame.expires_at);
  }

  /** Send a fresh token (auth frame) shortly before the connection's token expires. */
  private scheduleRefresh(connection: Connection, expiresAt: string | undefined): void {
    if (connection.timers.refresh !== undefined) this.clock.clearTimeout(connection.timers.refresh);
    connection.timers.refresh = undefined;
    const source = this.options.token;
    if (expiresAt === undefined || typeof source !== "function") return;
    const remaining = Date.parse(expiresAt) - this.clock.now();
    if (!(remaining > 0)) return;
    const lead = this.options.tokenRefreshLeadMs ?? DEFAULT_TOKEN_REFRESH_LEAD_MS;
    // Halfway at the latest, so that a short-lived token does not refresh in a tight loop.
    const delay = Math.max(remaining / 2, remaining - lead);
    if (delay > MAX_TIMER_MS) {
      connection.timers.refresh = this.clock.setTimeout(
        () => this.scheduleRefresh(connection, expiresAt),
        MAX_TIMER_MS,
      );
      return;
    }
    connection.timers.refresh = this.clock.setTimeout(() => {
      connection.timers.refresh = undefined;
      fetchToken(source).then(
        (token) => {
          if (this.connection === connection)
            this.transmit(connection, { type: "auth", token, id: this.nextId("auth") });
        },
        (error: unknown) => {
          if (this.connection !== connection) return;
          this.emit("error", {
            kind: "token",
            message: `Token refresh failed: ${messageOf(error)}`,
            cause: error,
          });
        },
      );
    }, delay);
  }
}

/** Run `first`, then `second` (either may be absent). */
function sequence(
  first: (() => void) | undefined,
  second: (() => void) | undefined,
): (() => void) | undefined {
  if (first === undefined) return second;
  if (second === undefined) return first;
  return () => {
    first();
    second();
  };
}

/** Call a token function and insist on a non-empty string. */
async function fetchToken(source: () => string | Promise<string>): Promise<string> {
  const token = await source();
  if (typeof token !== "string" || token.length === 0)
    throw new TypeError(`expected a non-empty string, got ${typeof token}`);
  return token;
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/**
 * The `Retry-After` (ms) of a refused upgrade, which the Node SDK's WebSocket (node.ts) records as
 * `retryAfterMs`; a browser's WebSocket cannot read the response of a refused upgrade.
 */
function retryAfterOf(socket: WebSocketLike): number | undefined {
  const value = (socket as { retryAfterMs?: unknown }).retryAfterMs;
  return typeof value === "number" && value > 0 ? value : undefined;
}
