import { definePlugin, frameTimestamp } from "trading-stream-gateway";
import { DEFAULT_ACCOUNT, portfolioSnapshot, portfolioUpdateFrame } from "./schema.js";

export default definePlugin({
  name: "portfolio",
  description:
    "Portfolio positions and P&L, conflated per account and flushed every WEBSOCKET_PORTFOLIO_UPDATE_INTERVAL " +
    "seconds. On this channel, subscribe `symbols` name accounts. With WEBSOCKET_AUTH=jwt, a client receives only " +
    'the portfolios of the accounts its token lists (an update naming no account belongs to account "default").',
  subject: "portfolio.updates",
  inbound: portfolioSnapshot,
  outbound: portfolioUpdateFrame,
  examples: [
    {
      positions: {
        AAPL: {
          symbol: "AAPL",
          quantity: 10,
          average_price: 150.25,
          market_price: 151.5,
          unrealized_pnl: 12.5,
          unrealized_pnl_pct: 0.83,
        },
      },
      total_pnl: 12.5,
      position_count: 1,
      timestamp: "2024-12-19T12:00:00Z",
    },
  ],
  delivery: {
    mode: "conflate",
    intervalMs: (config) => config.WEBSOCKET_PORTFOLIO_UPDATE_INTERVAL * 1000,
    merge: false,
  },
  // Stale after three intervals without data, and never sooner than 10 s.
  staleAfterMs: (config) => Math.max(10_000, 3 * config.WEBSOCKET_PORTFOLIO_UPDATE_INTERVAL * 1000),
  key: (snapshot) => snapshot.account ?? DEFAULT_ACCOUNT,
  // The upstream's own time, when it sent one: gateway_upstream_lag_seconds (docs/latency.md).
  publishedAt: (snapshot) => snapshot.timestamp,
  account: (snapshot) => snapshot.account ?? DEFAULT_ACCOUNT,
  toFrame: (snapshot, now) => ({
    type: "portfolio_update" as const,
    channel: "portfolio" as const,
    // Only when upstream named one, so that the seed's frames stay exactly the seed's.
    ...(snapshot.account === undefined ? {} : { account: snapshot.account }),
    timestamp: frameTimestamp(snapshot.timestamp, now),
    data: {
      positions: snapshot.positions,
      total_pnl: snapshot.total_pnl,
      position_count: snapshot.position_count ?? Object.keys(snapshot.positions).length,
    },
  }),
});
