/**
 * The SDK's verified local order book (src/client/order-book.ts): its own CRC-32 against zlib's,
 * its checksum against the gateway's (plugins/order_books/book.ts), and what it does with
 * snapshots, updates, gaps and checksums that do not match.
 */
import { crc32 as zlibCrc32 } from "node:zlib";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { Book, type BookView, bookChecksum, diffViews, type Level } from "../../plugins/order_books/book.js";
import {
  applyLevels,
  crc32,
  OrderBook,
  type OrderBookSnapshotFields,
  type OrderBookUpdateFields,
  orderBookChecksum,
  type PriceLevel,
} from "../../src/client/order-book.js";

const BIDS: Level[] = [
  [150.24, 300],
  [150.23, 100],
];
const ASKS: Level[] = [
  [150.25, 200],
  [150.26, 500],
];

/** A snapshot frame's fields, with the gateway's checksum of its levels. */
function snapshot(sequence: number, bids: Level[] = BIDS, asks: Level[] = ASKS): OrderBookSnapshotFields {
  return { sequence, bids, asks, checksum: bookChecksum({ bids, asks }) };
}

/** An update frame's fields, with the checksum of `result`, the view it should produce. */
function update(
  prev_sequence: number,
  sequence: number,
  changes: BookView,
  result: BookView,
): OrderBookUpdateFields {
  return { prev_sequence, sequence, ...changes, checksum: bookChecksum(result) };
}

describe("crc32", () => {
  it("is the standard CRC-32 (IEEE)", () => {
    expect(crc32("")).toBe(0);
    expect(crc32("123456789")).toBe(0xcbf43926);
    expect(crc32("150.25:200,150.26:500|150.24:300,150.23:100")).toBe(1_199_320_608);
  });

  it("equals node:zlib's crc32 on any string, over its UTF-8 bytes", () => {
    // Any code point, lone surrogates included (both encode those as U+FFFD); fast-check's own
    // "binary" unit does the same but takes seconds to start.
    expect(crc32("a\uD800b")).toBe(zlibCrc32("a\uD800b"));
    const anyCodePoint = fc.integer({ min: 0, max: 0x10ffff }).map((point) => String.fromCodePoint(point));
    fc.assert(
      fc.property(
        fc.oneof(fc.string(), fc.string({ unit: "grapheme" }), fc.string({ unit: anyCodePoint })),
        (text) => {
          expect(crc32(text)).toBe(zlibCrc32(text));
        },
      ),
      { numRuns: 1000 },
    );
  });
});

describe("orderBookChecksum", () => {
  it("equals the gateway's checksum of the same view", () => {
    const level = fc.tuple(
      fc.double({ min: 0.0001, max: 1e6, noNaN: true }),
      fc.integer({ min: 1, max: 1e9 }),
    );
    fc.assert(
      fc.property(fc.array(level, { maxLength: 30 }), fc.array(level, { maxLength: 30 }), (bids, asks) => {
        expect(orderBookChecksum(bids, asks)).toBe(bookChecksum({ bids, asks }));
      }),
    );
  });
});

describe("applyLevels", () => {
  it("sets sizes, inserts in order, removes size 0, and leaves its input alone", () => {
    const side: PriceLevel[] = [...BIDS];
    const changes: PriceLevel[] = [
      [150.24, 0],
      [150.235, 7],
      [150.23, 150],
      [150.3, 1],
    ];
    expect(applyLevels(side, changes, true)).toEqual([
      [150.3, 1],
      [150.235, 7],
      [150.23, 150],
    ]);
    expect(applyLevels(ASKS, [[150.255, 9]], false)).toEqual([
      [150.25, 200],
      [150.255, 9],
      [150.26, 500],
    ]);
    expect(side).toEqual(BIDS);
  });

  it("cuts the side to depth", () => {
    expect(applyLevels(ASKS, [[150.2, 1]], false, 2)).toEqual([
      [150.2, 1],
      [150.25, 200],
    ]);
  });
});

describe("OrderBook", () => {
  it("takes a snapshot, then updates that continue from its sequence", () => {
    const book = new OrderBook();
    expect(book.sequence).toBeUndefined();
    expect(book.applySnapshot(snapshot(1001))).toBe("applied");
    expect([book.sequence, book.bids, book.asks]).toEqual([1001, BIDS, ASKS]);

    const changes = { bids: [[150.24, 0]] as Level[], asks: [[150.25, 250]] as Level[] };
    const result: BookView = {
      bids: [[150.23, 100]],
      asks: [
        [150.25, 250],
        [150.26, 500],
      ],
    };
    expect(book.applyUpdate(update(1001, 1002, changes, result))).toBe("applied");
    expect({ sequence: book.sequence, bids: book.bids, asks: book.asks }).toEqual({
      sequence: 1002,
      ...result,
    });
  });

  it("an update before any snapshot: no_snapshot", () => {
    const book = new OrderBook();
    const view = { bids: BIDS, asks: ASKS };
    expect(book.applyUpdate(update(1000, 1001, view, view))).toEqual({ reason: "no_snapshot" });
  });

  it("a gap empties the book until the next snapshot", () => {
    const book = new OrderBook();
    book.applySnapshot(snapshot(1001));
    const view = { bids: BIDS, asks: ASKS };
    expect(book.applyUpdate(update(1002, 1003, { bids: [], asks: [] }, view))).toEqual({ reason: "gap" });
    expect([book.sequence, book.bids, book.asks]).toEqual([undefined, [], []]);
    expect(book.applyUpdate(update(1003, 1004, { bids: [], asks: [] }, view))).toEqual({
      reason: "no_snapshot",
    });
    expect(book.applySnapshot(snapshot(1010))).toBe("applied");
    expect(book.sequence).toBe(1010);
  });

  it("an update whose result does not match its checksum: checksum_mismatch, and the book is emptied", () => {
    const book = new OrderBook();
    book.applySnapshot(snapshot(1001));
    const claimed = { bids: [[150.24, 301]] as Level[], asks: [] };
    const wrong = update(1001, 1002, { bids: [[150.24, 300]], asks: [] }, { bids: claimed.bids, asks: ASKS });
    expect(book.applyUpdate(wrong)).toEqual({ reason: "checksum_mismatch" });
    expect([book.sequence, book.bids, book.asks]).toEqual([undefined, [], []]);
  });

  it("a snapshot that does not match its checksum: checksum_mismatch, nothing kept", () => {
    const book = new OrderBook();
    book.applySnapshot(snapshot(1001));
    expect(book.applySnapshot({ ...snapshot(1002), checksum: 42 })).toEqual({ reason: "checksum_mismatch" });
    expect([book.sequence, book.bids, book.asks]).toEqual([undefined, [], []]);
  });

  it("follows the frames the gateway's book logic makes, verifying each", () => {
    const price = fc.integer({ min: 1, max: 60 }).map((cents) => 100 + cents / 100);
    const levels = (minSize: number) =>
      fc.array(fc.tuple(price, fc.integer({ min: minSize, max: 1000 })), { maxLength: 40 });
    fc.assert(
      fc.property(
        levels(1),
        levels(1),
        fc.array(fc.record({ bids: levels(0), asks: levels(0) }), { maxLength: 15 }),
        fc.integer({ min: 1, max: 25 }),
        (bids, asks, deltas, depth) => {
          const gateway = new Book(bids, asks);
          const client = new OrderBook();
          let sequence = 1;
          const first = gateway.view(depth);
          expect(client.applySnapshot({ sequence, ...first, checksum: bookChecksum(first) })).toBe("applied");
          for (const delta of deltas) {
            const before = gateway.view(depth);
            gateway.applyDelta(delta.bids, delta.asks);
            const after = gateway.view(depth);
            const changes = diffViews(before, after);
            if (changes === undefined) continue;
            expect(client.applyUpdate(update(sequence, sequence + 1, changes, after))).toBe("applied");
            sequence++;
            expect({ bids: client.bids, asks: client.asks }).toEqual(after);
          }
        },
      ),
      { numRuns: 300 },
    );
  });
});
