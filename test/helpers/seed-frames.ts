/**
 * What the seed documents clients receiving, written out literally (not derived from the code or
 * the plugins under test), for the facts more than one test file checks:
 *
 * - SEED_FRAMES: the seed's signal and trade_executed frames for SEED_UPSTREAM's signal and trade,
 *   in the seed's field order (a lossless channel's frames carry `seq` and `epoch` after these);
 * - SEED_AAPL_POSITION: the seed portfolio's one position, which upstream sends and the
 *   portfolio_update frame carries unchanged;
 * - STATUS_FIELDS: the fields of GET /websocket/status, in the seed's order;
 * - INVALID_MESSAGE_REPLY: the seed's error frame, as it answers a request (one with an `id`) the
 *   gateway cannot take.
 */
import { expect } from "vitest";

export const SEED_FRAMES = {
  signal: {
    type: "signal",
    signal_type: "BUY",
    symbol: "AAPL",
    price: 150.25,
    quantity: 10,
    confidence: 0.85,
    timestamp: "2024-12-19T12:00:00Z",
  },
  trade: {
    type: "trade_executed",
    symbol: "AAPL",
    side: "BUY",
    quantity: 10,
    price: 150.25,
    timestamp: "2024-12-19T12:00:00Z",
  },
};

export const SEED_AAPL_POSITION = {
  symbol: "AAPL",
  quantity: 10,
  average_price: 150.25,
  market_price: 151.5,
  unrealized_pnl: 12.5,
  unrealized_pnl_pct: 0.83,
};

export const STATUS_FIELDS = [
  "enabled",
  "active_connections",
  "max_connections",
  "ping_interval",
  "price_update_interval",
  "portfolio_update_interval",
  "stream_health",
  "mode",
  "upstream",
  "version",
];

/** The seed's "Invalid message format", then what to fix (integration/error-messages.test.ts has each rule's words). */
export const INVALID_MESSAGE_REPLY = {
  type: "error",
  error: expect.stringMatching(/^Invalid message format: \S/),
  code: "INVALID_MESSAGE",
  id: expect.anything(),
  timestamp: expect.stringMatching(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/),
};
