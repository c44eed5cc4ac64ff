import { defineStatePlugin, frameTimestamp } from "trading-stream-gateway";
import { z } from "zod";
import { Book, type BookView, bookChecksum, diffViews } from "./book.js";
import { bookMessage, orderBookSnapshotFrame, orderBookUpdateFrame } from "./schema.js";

/**
 * Order books as a state channel: upstream sends each symbol's book as a snapshot followed by
 * sequenced deltas; clients get a snapshot of its top `depth` levels per side, then checksummed
 * updates (the gateway's core does the sequencing, gaps and slow clients: state-delivery.ts).
 */
export default defineStatePlugin({
  name: "order_books",
  description:
    "Order books: a snapshot of the top levels per side, then updates that carry every level whose size changed, each with a CRC-32 checksum of the top 10 levels per side.",
  subject: "market.books.>",
  settings: z.object({
    /** ORDER_BOOKS_DEPTH: levels per side clients see. */
    depth: z.coerce
      .number()
      .int()
      .min(1)
      .max(1000)
      .default(25)
      .describe("Levels per side clients see of each book (the whole book is kept)"),
  }),
  // Clients pick the books they want: a book on every connection would cost far more than quotes.
  autoSubscribe: false,
  inbound: bookMessage,
  frames: { snapshot: orderBookSnapshotFrame, update: orderBookUpdateFrame },
  examples: [
    {
      symbol: "AAPL",
      kind: "snapshot",
      sequence: 1001,
      bids: [
        [150.24, 300],
        [150.23, 100],
      ],
      asks: [
        [150.25, 200],
        [150.26, 500],
      ],
      timestamp: "2024-12-19T12:00:00Z",
    },
    {
      symbol: "AAPL",
      kind: "delta",
      sequence: 1002,
      bids: [[150.24, 0]],
      asks: [[150.25, 250]],
      timestamp: "2024-12-19T12:00:00.1Z",
    },
  ],
  delivery: { mode: "state" },
  key: (message) => message.symbol,
  // The upstream's own time: gateway_upstream_lag_seconds (docs/latency.md).
  publishedAt: (message) => message.timestamp,
  state: {
    sequence: (message) => message.sequence,
    isSnapshot: (message) => message.kind === "snapshot",
    apply: (book: Book | undefined, message) => {
      if (message.kind === "snapshot" || book === undefined) return new Book(message.bids, message.asks);
      book.applyDelta(message.bids, message.asks);
      return book;
    },
    view: (book, settings): BookView => book.view(settings.depth),
    diff: (before, after) => diffViews(before, after),
    checksum: (view) => bookChecksum(view),
  },
  toSnapshot: (symbol, view, { sequence, checksum }, message) => ({
    type: "order_book_snapshot" as const,
    symbol,
    sequence,
    bids: view.bids,
    asks: view.asks,
    checksum,
    timestamp: frameTimestamp(message.timestamp, new Date()),
  }),
  toUpdate: (symbol, changes, { sequence, prevSequence, checksum }, message) => ({
    type: "order_book_update" as const,
    symbol,
    sequence,
    prev_sequence: prevSequence,
    bids: changes.bids,
    asks: changes.asks,
    checksum,
    timestamp: frameTimestamp(message.timestamp, new Date()),
  }),
});
