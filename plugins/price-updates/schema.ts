import { schemas } from "trading-stream-gateway";
import { z } from "zod";

const { number } = schemas;

/** The quote fields a price_update carries per symbol, in the seed's order. */
export const QUOTE_FIELDS = [
  "price",
  "change",
  "change_pct",
  "volume",
  "high",
  "low",
  "open",
  "close",
] as const;

export const priceTick = z
  .object({
    symbol: schemas.symbol.describe("Instrument symbol; by convention also the last subject token"),
    price: number.describe("Last traded price"),
    change: number.optional().describe("Absolute change since the previous close"),
    change_pct: number.optional().describe("Change since the previous close, in percent"),
    volume: number.nonnegative().optional().describe("Traded volume"),
    high: number.optional().describe("Session high"),
    low: number.optional().describe("Session low"),
    open: number.optional().describe("Session open"),
    close: number.optional().describe("Previous close"),
    timestamp: schemas.timestamp.optional(),
  })
  .meta({
    title: "Upstream price tick",
    description: "One price tick for one symbol, published on market.prices.<SYMBOL>",
  });

export const quote = z
  .object({
    price: number,
    change: number.optional(),
    change_pct: number.optional(),
    volume: number.optional(),
    high: number.optional(),
    low: number.optional(),
    open: number.optional(),
    close: number.optional(),
  })
  .meta({ title: "Price entry", description: "One symbol's quote: the fields its latest tick carried" });

export const priceUpdateFrame = z
  .object({
    type: z.literal("price_update"),
    symbols: z
      .record(z.string(), quote)
      .describe("Latest quote per symbol that changed since the client's last frame"),
    timestamp: schemas.utcTimestamp,
  })
  .meta({
    title: "Price update",
    description:
      "Conflated prices: one frame per interval with only the client's symbols that changed since its last frame",
  });

export type PriceTick = z.output<typeof priceTick>;
export type Quote = z.output<typeof quote>;
