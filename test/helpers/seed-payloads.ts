/**
 * What upstream services publish to produce the seed's example frames: the plugins' own
 * `examples`, which are the seed's data. Tests publish these and compare the frames with the
 * seed's literal JSON, so the data lives in one place and the expectations stay literal.
 */
import portfolio from "../../plugins/portfolio/index.js";
import priceUpdates from "../../plugins/price-updates/index.js";
import signals from "../../plugins/signals/index.js";
import trades from "../../plugins/trades/index.js";

export const SEED_UPSTREAM = {
  /** market.prices.AAPL: every quote field. */
  aaplTick: priceUpdates.examples[0],
  /** market.prices.MSFT: price, change, change_pct, volume. */
  msftTick: priceUpdates.examples[1],
  /** strategy.signals.*: BUY AAPL @ 150.25, confidence 0.85, at 2024-12-19T12:00:00Z. */
  signal: signals.examples[0],
  /** execution.trades.*: BUY 10 AAPL @ 150.25, at 2024-12-19T12:00:00Z. */
  trade: trades.examples[0],
  /** portfolio.updates: one AAPL position, total P&L 12.5, at 2024-12-19T12:00:00Z. */
  portfolio: portfolio.examples[0],
};
