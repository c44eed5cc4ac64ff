import { definePlugin, frameTimestamp } from "trading-stream-gateway";
import { tradeExecutedFrame, tradeExecution } from "./schema.js";

export default definePlugin({
  name: "trades",
  description:
    "Trade execution notifications, delivered immediately. Never conflated or silently dropped: a client that cannot keep up is closed with 4001 and resumes with since. " +
    "With WEBSOCKET_AUTH=jwt, a client receives only the trades of the accounts its token lists.",
  subject: "execution.trades.>",
  inbound: tradeExecution,
  outbound: tradeExecutedFrame,
  examples: [{ symbol: "AAPL", side: "BUY", quantity: 10, price: 150.25, timestamp: "2024-12-19T12:00:00Z" }],
  delivery: { mode: "immediate" },
  key: (trade) => trade.symbol,
  // The execution time, when upstream sent one: gateway_upstream_lag_seconds (docs/latency.md).
  publishedAt: (trade) => trade.timestamp,
  account: (trade) => trade.account,
  toFrame: (trade, now) => ({
    type: "trade_executed" as const,
    symbol: trade.symbol,
    side: trade.side,
    quantity: trade.quantity,
    price: trade.price,
    timestamp: frameTimestamp(trade.timestamp, now),
    // Only when upstream named one, so that the seed's frames stay exactly the seed's.
    ...(trade.account === undefined ? {} : { account: trade.account }),
    ...(trade.trade_id === undefined ? {} : { trade_id: trade.trade_id }),
  }),
});
