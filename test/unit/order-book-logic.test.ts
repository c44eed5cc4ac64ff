/**
 * The order_books channel's book arithmetic (plugins/order_books/book.ts): deltas on the whole
 * book, the top-depth view, the update between two views and the checksum. The property at the
 * end is the channel's promise to clients: the SDK's applyLevels, given an update's levels and
 * the view at prev_sequence, rebuilds exactly the view at sequence.
 */
import { crc32 } from "node:zlib";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { Book, bookChecksum, checksumText, diffViews, type Level } from "../../plugins/order_books/book.js";
import { applyLevels } from "../../src/client/order-book.js";
// The example book: bids 150.24 x 300, 150.23 x 100; asks 150.25 x 200, 150.26 x 500.
import { EXAMPLE_BOOK as EXAMPLE } from "../helpers/book-messages.js";

/** A book with `count` levels per side, one cent apart around 100.00, every size 100. */
function ladder(count: number): Book {
  const bids: Level[] = [];
  const asks: Level[] = [];
  for (let cent = 0; cent < count; cent++) {
    bids.push([(9999 - cent) / 100, 100]);
    asks.push([(10001 + cent) / 100, 100]);
  }
  return new Book(bids, asks);
}

describe("checksum", () => {
  it("is the CRC-32 of asks ascending | bids descending, price:size as JSON writes them", () => {
    expect(checksumText(EXAMPLE)).toBe("150.25:200,150.26:500|150.24:300,150.23:100");
    expect(bookChecksum(EXAMPLE)).toBe(crc32("150.25:200,150.26:500|150.24:300,150.23:100"));
    expect(bookChecksum(EXAMPLE)).toBe(1_199_320_608);
  });

  it("covers the top 10 levels per side only", () => {
    const view = ladder(25).view(25);
    const text = checksumText(view);
    expect(text.split("|").map((side) => side.split(",").length)).toEqual([10, 10]);
    expect(text.startsWith("100.01:100,100.02:100,")).toBe(true);
    expect(
      text.endsWith(
        "|99.99:100,99.98:100,99.97:100,99.96:100,99.95:100,99.94:100,99.93:100,99.92:100,99.91:100,99.9:100",
      ),
    ).toBe(true);
    expect(bookChecksum(view)).toBe(bookChecksum(ladder(10).view(25)));
  });

  it("writes an empty side as nothing", () => {
    expect(checksumText({ bids: [], asks: [[1.5, 2]] })).toBe("1.5:2|");
    expect(checksumText({ bids: [], asks: [] })).toBe("|");
  });
});

describe("Book", () => {
  it("sorts a snapshot's levels best first", () => {
    const book = new Book(
      [
        [150.23, 100],
        [150.24, 300],
      ],
      [
        [150.26, 500],
        [150.25, 200],
      ],
    );
    expect(book.view(25)).toEqual(EXAMPLE);
  });

  it("applies a delta: sizes set, new levels in place, size 0 removes", () => {
    const book = new Book(EXAMPLE.bids, EXAMPLE.asks);
    book.applyDelta(
      [
        [150.24, 0],
        [150.22, 50],
      ],
      [
        [150.25, 250],
        [150.255, 10],
      ],
    );
    expect(book.view(25)).toEqual({
      bids: [
        [150.23, 100],
        [150.22, 50],
      ],
      asks: [
        [150.25, 250],
        [150.255, 10],
        [150.26, 500],
      ],
    });
  });

  it("ignores the removal of a level it does not have", () => {
    const book = new Book(EXAMPLE.bids, EXAMPLE.asks);
    book.applyDelta([[149, 0]], [[151, 0]]);
    expect(book.view(25)).toEqual(EXAMPLE);
  });

  it("keeps every level, and a view shows the top depth of each side", () => {
    const book = ladder(40);
    expect(book.levelCount).toEqual({ bids: 40, asks: 40 });
    const view = book.view(25);
    expect([view.bids.length, view.asks.length]).toEqual([25, 25]);
    expect(view.bids[0]).toEqual([99.99, 100]);
    expect(view.bids[24]).toEqual([99.75, 100]);
    expect(view.asks[24]).toEqual([100.25, 100]);
  });

  it("a view taken earlier does not change with the book", () => {
    const book = new Book(EXAMPLE.bids, EXAMPLE.asks);
    const before = book.view(25);
    book.applyDelta([[150.24, 1]], [[150.25, 0]]);
    expect(before).toEqual(EXAMPLE);
  });
});

describe("diffViews", () => {
  it("is undefined when the view did not change (a delta below the view)", () => {
    const book = ladder(30);
    const before = book.view(25);
    book.applyDelta([[99.7, 999]], [[100.3, 0]]);
    expect(diffViews(before, book.view(25))).toBeUndefined();
  });

  it("lists changed sizes and removed levels (size 0), bids descending, asks ascending", () => {
    const book = new Book(EXAMPLE.bids, EXAMPLE.asks);
    const before = book.view(25);
    book.applyDelta(
      [
        [150.22, 50],
        [150.24, 0],
      ],
      [
        [150.26, 400],
        [150.25, 250],
      ],
    );
    expect(diffViews(before, book.view(25))).toEqual({
      bids: [
        [150.24, 0],
        [150.22, 50],
      ],
      asks: [
        [150.25, 250],
        [150.26, 400],
      ],
    });
  });

  it("a better level pushes the view's last level out: it is listed with size 0", () => {
    const book = ladder(30);
    const before = book.view(25);
    book.applyDelta([[99.995, 7]], []);
    expect(diffViews(before, book.view(25))).toEqual({
      bids: [
        [99.995, 7],
        [99.75, 0],
      ],
      asks: [],
    });
  });

  it("a level removed from the view lets the next one in from below, with its size", () => {
    const book = ladder(30);
    book.applyDelta([], [[100.26, 321]]);
    const before = book.view(25);
    book.applyDelta([], [[100.01, 0]]);
    expect(diffViews(before, book.view(25))).toEqual({
      bids: [],
      asks: [
        [100.01, 0],
        [100.26, 321],
      ],
    });
  });
});

/** Prices from a small grid, so that deltas often hit levels the book has. */
const price = fc.integer({ min: 1, max: 60 }).map((cents) => 100 + cents / 100);
const levels = (minSize: number) =>
  fc.array(fc.tuple(price, fc.integer({ min: minSize, max: 1000 })), { maxLength: 40 });
const delta = fc.record({ bids: levels(0), asks: levels(0) });

/** What a book holds after these levels were set in order, by the definition, not by Book. */
function naiveView(sets: Level[][], descending: boolean, depth: number): Level[] {
  const sizes = new Map<number, number>();
  for (const [levelPrice, size] of sets.flat()) {
    if (size === 0) sizes.delete(levelPrice);
    else sizes.set(levelPrice, size);
  }
  return [...sizes]
    .sort(([a], [b]) => (descending ? b - a : a - b))
    .slice(0, depth)
    .map(([levelPrice, size]): Level => [levelPrice, size]);
}

describe("properties", () => {
  it("Book holds what its snapshot and deltas set, sorted best first", () => {
    fc.assert(
      fc.property(
        levels(1),
        levels(1),
        fc.array(delta, { maxLength: 10 }),
        fc.integer({ min: 1, max: 30 }),
        (bids, asks, deltas, depth) => {
          const book = new Book(bids, asks);
          for (const change of deltas) book.applyDelta(change.bids, change.asks);
          expect(book.view(depth)).toEqual({
            bids: naiveView([bids, ...deltas.map((change) => change.bids)], true, depth),
            asks: naiveView([asks, ...deltas.map((change) => change.asks)], false, depth),
          });
        },
      ),
      { numRuns: 500 },
    );
  });

  it("applying diffViews(before, after) to before gives exactly after (the SDK's applyLevels)", () => {
    fc.assert(
      fc.property(
        levels(1),
        levels(1),
        fc.array(delta, { minLength: 1, maxLength: 10 }),
        fc.integer({ min: 1, max: 30 }),
        (bids, asks, deltas, depth) => {
          const book = new Book(bids, asks);
          let client = book.view(depth);
          for (const change of deltas) {
            const before = book.view(depth);
            book.applyDelta(change.bids, change.asks);
            const after = book.view(depth);
            const update = diffViews(before, after);
            if (update === undefined) {
              expect(after).toEqual(before);
              continue;
            }
            // No truncation on the client's side: the update alone must keep the view's depth.
            client = {
              bids: applyLevels(client.bids, update.bids, true) as Level[],
              asks: applyLevels(client.asks, update.asks, false) as Level[],
            };
            expect(client).toEqual(after);
            expect(bookChecksum(client)).toBe(bookChecksum(after));
          }
        },
      ),
      { numRuns: 500 },
    );
  });
});
