import { definePlugin } from "trading-stream-gateway";
import { type PriceTick, priceTick, priceUpdateFrame, QUOTE_FIELDS, type Quote } from "./schema.js";

/** The per-symbol quote: only the fields the tick carried, in the seed's order. */
function quoteOf(tick: PriceTick): Quote {
  const quote: Partial<Quote> = {};
  for (const field of QUOTE_FIELDS) {
    const value = tick[field];
    if (value !== undefined) quote[field] = value;
  }
  return quote as Quote;
}

export default definePlugin({
  name: "price_updates",
  description:
    "Live prices. Ticks are conflated per symbol and flushed every WEBSOCKET_PRICE_UPDATE_INTERVAL seconds: " +
    "each client gets one price_update per interval holding only its symbols that changed.",
  subject: "market.prices.>",
  inbound: priceTick,
  outbound: priceUpdateFrame,
  examples: [
    {
      symbol: "AAPL",
      price: 150.25,
      change: 0.5,
      change_pct: 0.33,
      volume: 1000000,
      high: 151.0,
      low: 149.5,
      open: 150.0,
      close: 150.25,
    },
    { symbol: "MSFT", price: 380.5, change: -1.2, change_pct: -0.31, volume: 2000000 },
  ],
  delivery: {
    mode: "conflate",
    intervalMs: (config) => config.WEBSOCKET_PRICE_UPDATE_INTERVAL * 1000,
    merge: true,
  },
  // Stale after three intervals without data, and never sooner than 10 s.
  staleAfterMs: (config) => Math.max(10_000, 3 * config.WEBSOCKET_PRICE_UPDATE_INTERVAL * 1000),
  key: (tick) => tick.symbol,
  // The upstream's own time, when it sent one: gateway_upstream_lag_seconds (docs/latency.md).
  publishedAt: (tick) => tick.timestamp,
  toFrame: (tick, now) => ({
    type: "price_update" as const,
    symbols: { [tick.symbol]: quoteOf(tick) },
    timestamp: now.toISOString(),
  }),
  mergeFrames: (ticks, now) => ({
    type: "price_update" as const,
    symbols: Object.fromEntries(ticks.map((tick) => [tick.symbol, quoteOf(tick)])),
    timestamp: now.toISOString(),
  }),
});
