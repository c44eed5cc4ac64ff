import { schemas } from "trading-stream-gateway";
import { z } from "zod";

const price = schemas.number.positive().describe("Price of the level, greater than 0");

/** A level: [price, size]. In a delta size 0 removes the level; in a snapshot sizes are > 0. */
const level = z
  .tuple([price, schemas.number.nonnegative().describe("Size at the level; in a delta, 0 removes it")])
  .meta({ title: "Book level" });

/**
 * What the book service publishes on market.books.<SYMBOL>: a snapshot (the whole book, which
 * replaces the gateway's copy) or a delta (each listed level's new size), per symbol. One object
 * rather than a union of two, so that every generated client model stays a plain class.
 */
export const bookMessage = z
  .object({
    symbol: schemas.symbol,
    kind: z.enum(["snapshot", "delta"]).meta({ title: "Book message kind" }),
    sequence: z
      .number()
      .int()
      .nonnegative()
      .describe("The upstream's own sequence, strictly increasing per symbol"),
    bids: z.array(level).describe("Bid levels: the whole side (snapshot) or those that change (delta)"),
    asks: z.array(level).describe("Ask levels: the whole side (snapshot) or those that change (delta)"),
    timestamp: schemas.timestamp
      .optional()
      .describe("When upstream produced it; the gateway's time if absent"),
  })
  .refine(
    (message) => message.kind === "delta" || [...message.bids, ...message.asks].every(([, size]) => size > 0),
    { message: "a snapshot's sizes must be greater than 0 (only a delta removes a level with 0)" },
  )
  .meta({
    title: "Upstream book message",
    description:
      "A snapshot replaces the symbol's book; a delta sets each listed level's size (0 removes it) and must follow the symbol's last sequence",
  });

/** A level as clients see it: [price, size]. */
const viewLevel = z
  .tuple([z.number().describe("Price"), z.number().describe("Size")])
  .meta({ title: "Order book level" });
const changedLevel = z
  .tuple([z.number().describe("Price"), z.number().describe("New size; 0: the level left the view")])
  .meta({ title: "Order book level change" });

const checksum = z
  .number()
  .int()
  .nonnegative()
  .describe(
    "CRC-32 (IEEE, as zlib's crc32), unsigned, of the UTF-8 text: the top 10 asks ascending, then the top 10 bids descending, each level price:size with numbers as JSON.stringify writes them, levels joined with ',' and the two sides with '|'",
  );

export const orderBookSnapshotFrame = z
  .object({
    type: z.literal("order_book_snapshot"),
    symbol: z.string(),
    sequence: z.number().int().describe("The upstream sequence the view is at"),
    bids: z.array(viewLevel).describe("Best (highest) first, at most depth levels"),
    asks: z.array(viewLevel).describe("Best (lowest) first, at most depth levels"),
    checksum,
    timestamp: schemas.utcTimestamp,
  })
  .meta({
    title: "Order book snapshot",
    description:
      "The top depth levels per side of a symbol's book. It replaces the client's book whenever it comes: on subscribing (or, for a symbol the gateway had no book of then, when its first upstream snapshot arrives), after an upstream gap, after the client fell behind and drained, and on an upstream snapshot that changed nothing in the view (every gateway on the subject then sends the same sequence)",
  });

export const orderBookUpdateFrame = z
  .object({
    type: z.literal("order_book_update"),
    symbol: z.string(),
    sequence: z.number().int().describe("The upstream sequence the view is at after this update"),
    prev_sequence: z
      .number()
      .int()
      .describe("The sequence of the view this update applies to: the last one this client received"),
    bids: z.array(changedLevel).describe("Every bid level whose size in the view changed, best first"),
    asks: z.array(changedLevel).describe("Every ask level whose size in the view changed, best first"),
    checksum,
    timestamp: schemas.utcTimestamp,
  })
  .meta({
    title: "Order book update",
    description:
      "Apply each level (size 0 removes it) to the view at prev_sequence to get the view at sequence: no truncation is left to the client",
  });
