/**
 * The SDK's public types: the client's options, its connection state, and the events it emits
 * (connection events, one event per frame type, resume events).
 */
import type { StreamState } from "../core/quality.js";
import type { BackoffOptions } from "./backoff.js";
import type { ChannelDataFrame } from "./channel-catalog.js";
import type { Clock } from "./clock.js";
import type {
  ErrorFrame,
  FrameIssue,
  ServerFrame,
  ServerFrameOf,
  ServerFrameType,
  UnknownFrame,
  WelcomeFrame,
} from "./frames.js";
import type { OrderBookEvents } from "./order-books.js";
import type { Position, ResumeEvents } from "./resume.js";
import type { WebSocketConstructor } from "./websocket-like.js";

/** A token, or a function that returns a fresh one; it is called before every connection. */
export type TokenSource = string | (() => string | Promise<string>);

/**
 * How a connection presents its token: `frame` (the default) in a first `auth` frame, which no
 * proxy logs; `header` as `Authorization: Bearer`, only with a WebSocket that takes headers (`ws`:
 * the Node entry's default); `query` as the `token` query parameter, which ends up in access logs.
 */
export type TokenTransport = "frame" | "header" | "query";

export interface GatewayClientOptions {
  /** `ws://host:port/ws` (http(s) URLs are accepted and mapped to ws(s); in a browser, relative too). */
  url: string;
  /**
   * Where the frame schemas of channels this SDK has no types for are fetched from, when a
   * welcome names such a channel; default `websocket/channels` beside the WebSocket path, over
   * http(s) (`ws://host:8000/ws` -> `http://host:8000/websocket/channels`).
   */
  channelsUrl?: string;
  /**
   * Sent as the `client_id` query parameter of every connection; default a random UUID made once
   * per client. One id across reconnections lets a reconnection replace its own stale connection
   * at once (the gateway's takeover) instead of both counting against the caps.
   */
  clientId?: string;
  /**
   * WEBSOCKET_AUTH=jwt: a token, or a function called before each connection and again shortly
   * before the connection's token expires, to refresh it with an `auth` frame.
   */
  token?: TokenSource;
  /** How the token travels at connection time; see TokenTransport. Default `frame`. */
  tokenTransport?: TokenTransport;
  /** WebSocket implementation; default `globalThis.WebSocket` (browsers, Node 22+). */
  WebSocket?: WebSocketConstructor;
  /** Reconnect schedule: see BackoffOptions (defaults 500 ms, x2, 30 s cap, 10 s stable). */
  backoff?: Partial<BackoffOptions>;
  /** Keep-alive ping period in ms; default the welcome frame's `ping_interval`. */
  pingIntervalMs?: number;
  /** A connection that receives nothing this long (ms) after a ping is dead; default 10,000. */
  pongTimeoutMs?: number;
  /** A connection attempt without a welcome frame after this long (ms) is given up; default 10,000. */
  connectTimeoutMs?: number;
  /** Refresh the token this long (ms) before it expires (at the latest halfway); default 30,000. */
  tokenRefreshLeadMs?: number;
  /** Timers and time (tests). */
  clock?: Clock;
  /** Uniform random number in [0, 1) for the backoff jitter (tests). */
  random?: () => number;
  /**
   * Lossless channels (trades, signals): positions the application already has, e.g. `positions`
   * saved before a page reload. The first connection resumes from them (`since`), as a
   * reconnection does, and frames at or before them are never delivered.
   */
  positions?: Readonly<Record<string, Position>>;
  /**
   * Lossless channels: how many of the channel's latest frames to replay on the first connection
   * when the client has no position there yet (e.g. `{ trades: 20 }`: a page that opens with the
   * last 20 trades). It resumes from the head the welcome reports minus that many positions, so
   * it replays at most that many (fewer where the channel's positions have gaps, or the
   * subscription covers only some symbols); the outcome is a `recovered` or `gap` event, as for a
   * reconnection. A channel with a `positions` entry resumes from that instead.
   */
  backfill?: Readonly<Record<string, number>>;
}

export type ConnectionState = "idle" | "connecting" | "open" | "reconnecting" | "closed";

/** Options of one subscribe request. */
export interface SubscribeOptions {
  /**
   * Conflated channels (price_updates, portfolio) and state channels (order_books: each interval's
   * updates merged into one per symbol): this client's flush interval for the channel, in ms (an integer up to 60,000, at least the gateway's WEBSOCKET_MIN_INTERVAL_MS).
   * Remembered and re-sent after every reconnection, like the symbols; leaving the channel forgets
   * it. Refused at once (TypeError) on a channel known to be lossless.
   */
  intervalMs?: number;
}

/** A channel's stream status, as `client.streamStatus` holds it and `channel_status` reports it. */
export type ChannelStatus = StreamState & { channel: string };

/** Problems on the client side; never thrown, always emitted as `error`. */
export type ClientError =
  | {
      /** A received frame that is not JSON, not an object, or fails its type's schema. */
      kind: "invalid_frame";
      message: string;
      /** The parsed JSON, or the raw data when it did not parse. */
      data: unknown;
      issues: FrameIssue[];
    }
  | {
      /** The token function threw, rejected or returned no token. */
      kind: "token";
      message: string;
      cause: unknown;
    }
  | {
      /**
       * GET /websocket/channels (the frame schemas of channels this SDK has no types for) failed:
       * their frames are delivered unvalidated on this connection.
       */
      kind: "channel_schemas";
      message: string;
      cause: unknown;
    };

/** One event per known frame type, named after it; the server's `error` frame is `server_error`. */
export type FrameEvents = { [T in Exclude<ServerFrameType, "error">]: ServerFrameOf<T> } & {
  server_error: ErrorFrame;
};

export interface ConnectionEvents {
  /** A connection attempt starts; `attempt` is 0 for the first, else the retry number. */
  connecting: { attempt: number; url: string };
  /** The welcome frame arrived: the connection is usable and subscriptions have been re-sent. */
  open: { welcome: WelcomeFrame };
  /** A retry is scheduled in `delayMs` (attempt 1 = first retry since the last stable connection). */
  reconnecting: { attempt: number; delayMs: number };
  /**
   * A connection (or attempt) ended. `error` carries the socket's error message when it gave
   * one (`ws` does: "connect ECONNREFUSED ...", "Unexpected server response: 503").
   */
  closed: { code: number; reason: string; willReconnect: boolean; error?: string };
  /** See ClientError. */
  error: ClientError;
  /**
   * Every frame delivered, known (validated), of a channel the gateway announced in welcome's
   * channel_info (validated against the schema published there), or of an unknown type (as is).
   */
  frame: ServerFrame | UnknownFrame;
  /**
   * A data frame of a channel the SDK has no types for but the gateway announced (a plugin added
   * after this SDK was built), validated against the schema the gateway published for it.
   */
  channel_data: ChannelDataFrame;
  /**
   * A channel's stream status changed (live, or stale and why), whichever frame said so: the
   * welcome, a `subscribed` ack, or a `stream_status` frame. `client.streamStatus` is up to date.
   */
  channel_status: ChannelStatus;
}

export type GatewayClientEvents = ConnectionEvents & ResumeEvents & FrameEvents & OrderBookEvents;
