/**
 * Every frame the gateway sends, with its zod schema: the protocol's control frames from
 * src/core/protocol.ts and the channel data frames from the plugins' own schema files. The SDK's
 * types are inferred from these schemas and received frames are validated with them, so the SDK
 * cannot drift from the server it ships with.
 *
 * Only schema modules are imported (zod and the protocol, no node: modules), which keeps this
 * file, and the SDK, bundleable for the browser.
 */
import type { z } from "zod";
import { orderBookSnapshotFrame, orderBookUpdateFrame } from "../../plugins/order_books/schema.js";
import { DEFAULT_ACCOUNT, portfolioUpdateFrame } from "../../plugins/portfolio/schema.js";
import { priceUpdateFrame } from "../../plugins/price-updates/schema.js";
import { signalFrame } from "../../plugins/signals/schema.js";
import { tradeExecutedFrame } from "../../plugins/trades/schema.js";
import { withPosition } from "../core/positions.js";
import {
  authenticatedFrame,
  errorFrame,
  pongFrame,
  replayedFrame,
  shutdownNoticeFrame,
  subscribedFrame,
  unsubscribedFrame,
  welcomeFrame,
} from "../core/protocol.js";
import { deliveryStatusFrame, stateStatusFrame, streamStatusFrame } from "../core/quality.js";

/**
 * The data frames of lossless channels (delivery `immediate`) as the gateway sends them: the
 * plugin's frame plus the `seq` and `epoch` the gateway stamps on every one of them.
 */
const positionedSignalFrame = withPosition(signalFrame);
const positionedTradeExecutedFrame = withPosition(tradeExecutedFrame);

/** Frame type -> schema, for every frame type the SDK knows. */
export const SERVER_FRAME_SCHEMAS = {
  welcome: welcomeFrame,
  subscribed: subscribedFrame,
  unsubscribed: unsubscribedFrame,
  pong: pongFrame,
  error: errorFrame,
  authenticated: authenticatedFrame,
  replayed: replayedFrame,
  stream_status: streamStatusFrame,
  delivery_status: deliveryStatusFrame,
  state_status: stateStatusFrame,
  shutdown_notice: shutdownNoticeFrame,
  order_book_snapshot: orderBookSnapshotFrame,
  order_book_update: orderBookUpdateFrame,
  price_update: priceUpdateFrame,
  signal: positionedSignalFrame,
  trade_executed: positionedTradeExecutedFrame,
  portfolio_update: portfolioUpdateFrame,
} as const;

export type ServerFrameType = keyof typeof SERVER_FRAME_SCHEMAS;
export type ServerFrameOf<T extends ServerFrameType> = z.output<(typeof SERVER_FRAME_SCHEMAS)[T]>;
/** Any frame of a type the SDK knows, validated. */
export type ServerFrame = { [T in ServerFrameType]: ServerFrameOf<T> }[ServerFrameType];

export type WelcomeFrame = ServerFrameOf<"welcome">;
export type SubscribedFrame = ServerFrameOf<"subscribed">;
export type UnsubscribedFrame = ServerFrameOf<"unsubscribed">;
export type PongFrame = ServerFrameOf<"pong">;
export type ErrorFrame = ServerFrameOf<"error">;
export type AuthenticatedFrame = ServerFrameOf<"authenticated">;
export type ReplayedFrame = ServerFrameOf<"replayed">;
export type StreamStatusFrame = ServerFrameOf<"stream_status">;
export type DeliveryStatusFrame = ServerFrameOf<"delivery_status">;
export type StateStatusFrame = ServerFrameOf<"state_status">;
export type ShutdownNoticeFrame = ServerFrameOf<"shutdown_notice">;
export type OrderBookSnapshotFrame = ServerFrameOf<"order_book_snapshot">;
export type OrderBookUpdateFrame = ServerFrameOf<"order_book_update">;
export type PriceUpdateFrame = ServerFrameOf<"price_update">;
export type SignalFrame = ServerFrameOf<"signal">;
export type TradeExecutedFrame = ServerFrameOf<"trade_executed">;
export type PortfolioUpdateFrame = ServerFrameOf<"portfolio_update">;

/** A frame of a type this SDK does not know (a drop-in plugin's channel): passed on unvalidated. */
export interface UnknownFrame {
  type: string;
  [field: string]: unknown;
}

/**
 * The channel each known data frame type belongs to (the plugin's `name`). A unit test checks this
 * against the plugins themselves.
 */
export const DATA_FRAME_CHANNELS = {
  order_book_snapshot: "order_books",
  order_book_update: "order_books",
  price_update: "price_updates",
  signal: "signals",
  trade_executed: "trades",
  portfolio_update: "portfolio",
} as const satisfies Partial<Record<ServerFrameType, string>>;

export type DataFrameType = keyof typeof DATA_FRAME_CHANNELS;

/**
 * The known channels whose frames carry positions (lossless: every frame is delivered), so that
 * `interval_ms`, which only conflated channels take, is refused before it is sent.
 */
export const LOSSLESS_DATA_CHANNELS: ReadonlySet<string> = new Set([
  DATA_FRAME_CHANNELS.signal,
  DATA_FRAME_CHANNELS.trade_executed,
]);
export type DataFrame = ServerFrameOf<DataFrameType>;

export function isDataFrame(frame: ServerFrame): frame is DataFrame {
  return frame.type in DATA_FRAME_CHANNELS;
}

/**
 * The part of a data frame about `wanted` keys (symbols; accounts on the portfolio channel), or
 * undefined when none of it is. Used to hide what the auto-subscribe default delivers to a
 * channel the client subscribed explicitly, before the gateway has applied that subscription.
 */
export function dataFrameFor(frame: DataFrame, wanted: ReadonlySet<string>): DataFrame | undefined {
  switch (frame.type) {
    case "price_update": {
      const entries = Object.entries(frame.symbols).filter(([symbol]) => wanted.has(symbol));
      if (entries.length === 0) return undefined;
      return entries.length === Object.keys(frame.symbols).length
        ? frame
        : { ...frame, symbols: Object.fromEntries(entries) };
    }
    case "signal":
    case "trade_executed":
    case "order_book_snapshot":
    case "order_book_update":
      return wanted.has(frame.symbol) ? frame : undefined;
    case "portfolio_update":
      // The plugin keys a portfolio by account, "default" when upstream named none.
      return wanted.has(frame.account ?? DEFAULT_ACCOUNT) ? frame : undefined;
  }
}

export interface FrameIssue {
  /** Dotted path in the frame ("" for the frame itself). */
  path: string;
  message: string;
}

export type ParsedFrame =
  | { ok: true; known: true; frame: ServerFrame }
  | { ok: true; known: false; frame: UnknownFrame }
  | { ok: false; message: string; data: unknown; issues: FrameIssue[] };

const KNOWN = new Set<string>(Object.keys(SERVER_FRAME_SCHEMAS));

/** Parse and validate one received WebSocket message. Never throws. */
export function parseServerFrame(data: unknown): ParsedFrame {
  if (typeof data !== "string")
    return { ok: false, message: "Binary frame: the gateway sends text frames only", data, issues: [] };
  let value: unknown;
  try {
    value = JSON.parse(data);
  } catch {
    return { ok: false, message: "Frame is not JSON", data, issues: [] };
  }
  if (typeof value !== "object" || value === null || Array.isArray(value))
    return { ok: false, message: "Frame is not a JSON object", data: value, issues: [] };
  const type = (value as { type?: unknown }).type;
  if (typeof type !== "string")
    return { ok: false, message: "Frame has no string `type`", data: value, issues: [] };
  if (!KNOWN.has(type)) return { ok: true, known: false, frame: value as UnknownFrame };
  const result = SERVER_FRAME_SCHEMAS[type as ServerFrameType].safeParse(value);
  if (result.success) return { ok: true, known: true, frame: result.data as ServerFrame };
  return {
    ok: false,
    message: `Invalid ${type} frame`,
    data: value,
    issues: result.error.issues.map((issue) => ({ path: issue.path.join("."), message: issue.message })),
  };
}
