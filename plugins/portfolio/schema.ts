import { schemas } from "trading-stream-gateway";
import { z } from "zod";

const { number } = schemas;

/** Account used for portfolio updates that name none. */
export const DEFAULT_ACCOUNT = "default";

export const position = z
  .object({
    symbol: schemas.symbol,
    quantity: number,
    average_price: number,
    market_price: number,
    unrealized_pnl: number,
    unrealized_pnl_pct: number,
  })
  .meta({ title: "Portfolio position", description: "One open position of an account" });

export const portfolioSnapshot = z
  .object({
    account: schemas.symbol
      .optional()
      .describe(`Account id; "${DEFAULT_ACCOUNT}" when absent. Clients filter on it via symbols`),
    positions: z
      .record(z.string(), position.meta({ title: "Upstream portfolio position" }))
      .describe("Open positions by symbol"),
    total_pnl: number.describe("Total unrealized P&L"),
    position_count: z
      .number()
      .int()
      .nonnegative()
      .optional()
      .describe("Number of positions; counted if absent"),
    timestamp: schemas.timestamp.optional(),
  })
  .meta({
    title: "Upstream portfolio snapshot",
    description: "The full portfolio of one account, published on portfolio.updates",
  });

export const portfolioUpdateFrame = z
  .object({
    type: z.literal("portfolio_update"),
    channel: z.literal("portfolio"),
    account: z.string().optional().describe("The portfolio's account, when upstream named one"),
    timestamp: schemas.utcTimestamp,
    data: z
      .object({
        positions: z.record(z.string(), position),
        total_pnl: z.number(),
        position_count: z.number().int(),
      })
      .meta({ title: "Portfolio data", description: "The account's positions and their totals" }),
  })
  .meta({
    title: "Portfolio update",
    description:
      "Latest portfolio of an account, conflated every WEBSOCKET_PORTFOLIO_UPDATE_INTERVAL seconds",
  });
