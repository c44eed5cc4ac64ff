import { schemas } from "trading-stream-gateway";
import { z } from "zod";

const signalType = z
  .enum(["BUY", "SELL", "HOLD"])
  .meta({ title: "Signal type", description: "What the strategy recommends" });

export const tradingSignal = z
  .object({
    signal_type: signalType,
    symbol: schemas.symbol,
    price: schemas.number.positive().describe("Reference price of the signal"),
    quantity: schemas.number.nonnegative().describe("Suggested quantity"),
    confidence: schemas.number.min(0).max(1).describe("Model confidence, 0 to 1"),
    timestamp: schemas.timestamp
      .optional()
      .describe("When the signal was generated; the gateway's time if absent"),
  })
  .meta({
    title: "Upstream trading signal",
    description: "A trading signal, published on strategy.signals.<strategy or symbol>",
  });

export const signalFrame = z
  .object({
    type: z.literal("signal"),
    signal_type: signalType,
    symbol: z.string(),
    price: z.number(),
    quantity: z.number(),
    confidence: z.number(),
    timestamp: schemas.utcTimestamp,
  })
  .meta({ title: "Trading signal", description: "A trading signal, delivered as soon as it is generated" });
