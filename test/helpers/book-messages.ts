/**
 * What the order book tests publish upstream and play as the gateway, in one place:
 *
 * - BOOK_UPSTREAM: the order_books plugin's own examples (the issue's AAPL snapshot at 1001 and
 *   delta at 1002), as seed-payloads.ts gives the seed's channels' examples; EXAMPLE_BOOK is that
 *   snapshot's book;
 * - bookSnapshot() / bookDelta() (bookMessage()): upstream messages of market.books.<symbol>, and
 *   publishBook();
 * - snapshotFrame() / updateFrame(): the frames a gateway sends, for tests that play the gateway;
 *   forgedUpdate(): a frame no gateway sent, which a relay injects to break a client's chain;
 * - checksumByTheRule(): the issue's checksum rule written out, independently of the gateway's
 *   and the SDK's code, for tests that check what a gateway sent.
 */
import { crc32 } from "node:zlib";
import type { NatsConnection } from "@nats-io/transport-node";
import { type BookView, bookChecksum, type Level } from "../../plugins/order_books/book.js";
import orderBooks from "../../plugins/order_books/index.js";

export { type BookView, bookChecksum, type Level };

/** What the book service publishes on market.books.<symbol> (the plugin's inbound). */
export type BookMessage = {
  symbol: string;
  kind: "snapshot" | "delta";
  sequence: number;
  bids: Level[];
  asks: Level[];
  timestamp?: string;
};

const [snapshotExample, deltaExample] = orderBooks.examples as BookMessage[];

export const BOOK_UPSTREAM = {
  /**
   * market.books.AAPL: AAPL's book at 1001, bids 150.24 x 300 and 150.23 x 100, asks 150.25 x 200
   * and 150.26 x 500, at 2024-12-19T12:00:00Z.
   */
  snapshot: snapshotExample as BookMessage,
  /** market.books.AAPL at 1002: the bid at 150.24 leaves, the ask at 150.25 becomes 250; at 12:00:00.1Z. */
  delta: deltaExample as BookMessage,
};

/** The example snapshot's book (a copy): AAPL, two levels a side, best first. */
export const EXAMPLE_BOOK: BookView = structuredClone({
  bids: BOOK_UPSTREAM.snapshot.bids,
  asks: BOOK_UPSTREAM.snapshot.asks,
});

/** When the examples were published: the time of the messages these builders make. */
export const BOOK_TIME = "2024-12-19T12:00:00Z";

/** An upstream book message of `symbol` at `sequence`: a snapshot (its whole book) or a delta. */
export function bookMessage(
  kind: BookMessage["kind"],
  symbol: string,
  sequence: number,
  bids: Level[],
  asks: Level[],
  timestamp = BOOK_TIME,
): BookMessage {
  return { symbol, kind, sequence, bids, asks, timestamp };
}

/** An upstream snapshot: `symbol`'s whole book at `sequence`. */
export const bookSnapshot = (
  symbol: string,
  sequence: number,
  bids: Level[],
  asks: Level[],
  timestamp?: string,
) => bookMessage("snapshot", symbol, sequence, bids, asks, timestamp);

/** An upstream delta: each listed level's new size (0 removes it) at `sequence`. */
export const bookDelta = (
  symbol: string,
  sequence: number,
  bids: Level[],
  asks: Level[],
  timestamp?: string,
) => bookMessage("delta", symbol, sequence, bids, asks, timestamp);

/** Publish a book message (or an invalid one: any object with a symbol) on its symbol's subject. */
export function publishBook(
  publisher: NatsConnection,
  message: { symbol: string; [field: string]: unknown },
): void {
  publisher.publish(`market.books.${message.symbol}`, JSON.stringify(message));
}

/** A gateway's order_book_snapshot of `view`, with the checksum the gateway computes. */
export function snapshotFrame(symbol: string, sequence: number, view: BookView, timestamp: string) {
  const { bids, asks } = view;
  return {
    type: "order_book_snapshot",
    symbol,
    sequence,
    bids,
    asks,
    checksum: bookChecksum(view),
    timestamp,
  };
}

/** A gateway's order_book_update: the `changes` that turn the view at `prevSequence` into the one at `sequence`. */
export function updateFrame(
  symbol: string,
  sequence: number,
  prevSequence: number,
  changes: BookView,
  checksum: number,
  timestamp: string,
) {
  const { bids, asks } = changes;
  return {
    type: "order_book_update",
    symbol,
    sequence,
    prev_sequence: prevSequence,
    bids,
    asks,
    checksum,
    timestamp,
  };
}

/**
 * An order_book_update no gateway sent: it continues the chain at `prevSequence` with new `bids`,
 * and its checksum (1) matches no book.
 */
export function forgedUpdate(
  symbol: string,
  prevSequence: number,
  bids: Level[],
  timestamp = new Date().toISOString(),
) {
  return updateFrame(symbol, prevSequence + 1, prevSequence, { bids, asks: [] }, 1, timestamp);
}

/** The checksum rule, written out independently of the gateway's and the SDK's code. */
export function checksumByTheRule(bids: Level[], asks: Level[]): number {
  const side = (levels: Level[]) =>
    levels
      .slice(0, 10)
      .map(([price, size]) => `${JSON.stringify(price)}:${JSON.stringify(size)}`)
      .join(",");
  return crc32(`${side(asks)}|${side(bids)}`);
}
