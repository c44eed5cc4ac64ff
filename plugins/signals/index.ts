import { definePlugin, frameTimestamp } from "trading-stream-gateway";
import { signalFrame, tradingSignal } from "./schema.js";

export default definePlugin({
  name: "signals",
  description:
    "Trading signals, broadcast the moment a strategy generates them. Never conflated or silently dropped: a client that cannot keep up is closed with 4001 and resumes with since.",
  subject: "strategy.signals.>",
  inbound: tradingSignal,
  outbound: signalFrame,
  examples: [
    {
      signal_type: "BUY",
      symbol: "AAPL",
      price: 150.25,
      quantity: 10,
      confidence: 0.85,
      timestamp: "2024-12-19T12:00:00Z",
    },
  ],
  delivery: { mode: "immediate" },
  key: (signal) => signal.symbol,
  // The strategy's own time: gateway_upstream_lag_seconds (docs/latency.md).
  publishedAt: (signal) => signal.timestamp,
  toFrame: (signal, now) => ({
    type: "signal" as const,
    signal_type: signal.signal_type,
    symbol: signal.symbol,
    price: signal.price,
    quantity: signal.quantity,
    confidence: signal.confidence,
    timestamp: frameTimestamp(signal.timestamp, now),
  }),
});
