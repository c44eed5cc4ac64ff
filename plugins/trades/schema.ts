import { schemas } from "trading-stream-gateway";
import { z } from "zod";

const side = z.enum(["BUY", "SELL"]).meta({ title: "Trade side" });

export const tradeExecution = z
  .object({
    symbol: schemas.symbol,
    side,
    quantity: schemas.number.positive().describe("Executed quantity"),
    price: schemas.number.positive().describe("Execution price"),
    timestamp: schemas.timestamp.optional().describe("Execution time; the gateway's time if absent"),
    account: z
      .string()
      .min(1)
      .max(64)
      .optional()
      .describe("Account the trade belongs to; with WEBSOCKET_AUTH=jwt only its holders see the trade"),
    trade_id: z
      .string()
      .min(1)
      .max(128)
      .optional()
      .describe("The execution id of the venue or system of record, passed through for reconciliation"),
  })
  .meta({
    title: "Upstream trade execution",
    description: "A trade execution, published on execution.trades.<venue or account>",
  });

export const tradeExecutedFrame = z
  .object({
    type: z.literal("trade_executed"),
    symbol: z.string(),
    side,
    quantity: z.number(),
    price: z.number(),
    timestamp: schemas.utcTimestamp,
    account: z.string().optional().describe("The trade's account, when upstream named one"),
    trade_id: z.string().optional().describe("The upstream execution id, when upstream gave one"),
  })
  .meta({ title: "Trade executed", description: "A trade execution notification, delivered immediately" });
