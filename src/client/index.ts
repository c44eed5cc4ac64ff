/**
 * The gateway's client SDK, browser entry (no Node imports; bundle it with esbuild or Vite).
 * Node 20 has no global WebSocket: import ./node.js there, which passes the `ws` package.
 */

export type { ChannelInfo } from "../core/channel-info.js";
export type { ResumeFailure } from "../core/positions.js";
export { STALE_REASONS, type StaleReason, type StreamState } from "../core/quality.js";
export {
  type BackoffOptions,
  backoffCeiling,
  backoffDelay,
  DEFAULT_BACKOFF,
  ReconnectBackoff,
} from "./backoff.js";
export type { ChannelDataFrame } from "./channel-catalog.js";
export { type Clock, systemClock, type TimerHandle } from "./clock.js";
export { closeCodeName, TERMINAL_CLOSE_CODES } from "./close-codes.js";
export type { Listener } from "./emitter.js";
export {
  type AuthenticatedFrame,
  DATA_FRAME_CHANNELS,
  type DataFrame,
  type DataFrameType,
  type DeliveryStatusFrame,
  type ErrorFrame,
  type FrameIssue,
  type OrderBookSnapshotFrame,
  type OrderBookUpdateFrame,
  type PongFrame,
  type PortfolioUpdateFrame,
  type PriceUpdateFrame,
  parseServerFrame,
  type ReplayedFrame,
  SERVER_FRAME_SCHEMAS,
  type ServerFrame,
  type ServerFrameOf,
  type ServerFrameType,
  type ShutdownNoticeFrame,
  type SignalFrame,
  type StateStatusFrame,
  type StreamStatusFrame,
  type SubscribedFrame,
  type TradeExecutedFrame,
  type UnknownFrame,
  type UnsubscribedFrame,
  type WelcomeFrame,
} from "./frames.js";
export {
  type ChannelStatus,
  type ClientError,
  type ConnectionEvents,
  type ConnectionState,
  type FrameEvents,
  GatewayClient,
  type GatewayClientEvents,
  type GatewayClientOptions,
  type SubscribeOptions,
  type TokenSource,
  type TokenTransport,
} from "./gateway-client.js";
export {
  applyLevels,
  crc32,
  OrderBook,
  type OrderBookApplyResult,
  type OrderBookFailureReason,
  type OrderBookSnapshotFields,
  type OrderBookUpdateFields,
  orderBookChecksum,
  type PriceLevel,
} from "./order-book.js";
export { ORDER_BOOKS_CHANNEL, type OrderBookEvents, type OrderBookView } from "./order-books.js";
export type { Position, ResumeEvents } from "./resume.js";
export type { SubscriptionView } from "./subscriptions.js";
export type { WebSocketConstructor, WebSocketLike } from "./websocket-like.js";
