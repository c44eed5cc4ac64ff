/**
 * One symbol's order book and the pure arithmetic the order_books channel needs on it: the
 * top-`depth` view clients see, the levels that changed between two views (an
 * order_book_update's content), and the checksum clients verify their local book with.
 *
 * No I/O and nothing from the gateway: the channel's plugin calls this on every upstream delta,
 * and tests call it directly.
 *
 * Each side is an array sorted best first (bids by descending price, asks by ascending price), so
 * a view is a slice of its first `depth` entries: views are taken on every delta (about 20 a
 * second per symbol), changes are a few levels each, near the top, and a binary search plus a
 * splice of a few dozen entries is cheaper than sorting a Map's entries each time.
 */
import { crc32 } from "node:zlib";

/**
 * A price level. Levels are never changed in place (a new size is a new tuple), so a view can
 * share them with the book and still show the book as it was when the view was taken.
 */
export type Level = [price: number, size: number];

/** The top levels of a book: bids best (highest) first, asks best (lowest) first. */
export interface BookView {
  bids: Level[];
  asks: Level[];
}

/** Levels per side the checksum covers (the top of the view, whatever its depth). */
export const CHECKSUM_LEVELS = 10;

/** Does price `a` come before price `b` on this side (is it the better price)? */
type Better = (a: number, b: number) => boolean;
const HIGHER_IS_BETTER: Better = (a, b) => a > b;
const LOWER_IS_BETTER: Better = (a, b) => a < b;

/** The index of `price` in `levels` if it is there, else where it would be inserted. */
function indexOf(levels: readonly Level[], price: number, better: Better): number {
  let low = 0;
  let high = levels.length;
  while (low < high) {
    const middle = (low + high) >>> 1;
    if (better((levels[middle] as Level)[0], price)) low = middle + 1;
    else high = middle;
  }
  return low;
}

/** One side of a book: its levels, best first, no price twice, every size > 0. */
class BookSide {
  private levels: Level[];

  constructor(
    levels: readonly Level[],
    private readonly better: Better,
  ) {
    // A snapshot is sorted once: the last size given for a price wins, as if set in order.
    const sizes = new Map<number, number>();
    for (const [price, size] of levels) sizes.set(price, size);
    this.levels = [...sizes]
      .filter(([, size]) => size > 0)
      .sort(([a], [b]) => (better(a, b) ? -1 : better(b, a) ? 1 : 0));
  }

  /** Set a level's size; 0 removes it (removing a level that is not there changes nothing). */
  set(price: number, size: number): void {
    const index = indexOf(this.levels, price, this.better);
    const present = this.levels[index]?.[0] === price;
    if (size === 0) {
      if (present) this.levels.splice(index, 1);
    } else if (present) this.levels[index] = [price, size];
    else this.levels.splice(index, 0, [price, size]);
  }

  top(depth: number): Level[] {
    return this.levels.slice(0, depth);
  }

  get size(): number {
    return this.levels.length;
  }
}

/** The whole book of one symbol: built from a snapshot's levels, changed by deltas. */
export class Book {
  private readonly bids: BookSide;
  private readonly asks: BookSide;

  constructor(bids: readonly Level[], asks: readonly Level[]) {
    this.bids = new BookSide(bids, HIGHER_IS_BETTER);
    this.asks = new BookSide(asks, LOWER_IS_BETTER);
  }

  /** Apply a delta: each listed level's size is set; size 0 removes the level. */
  applyDelta(bids: readonly Level[], asks: readonly Level[]): void {
    for (const [price, size] of bids) this.bids.set(price, size);
    for (const [price, size] of asks) this.asks.set(price, size);
  }

  /** The top `depth` levels per side (the book's own levels: do not change them). */
  view(depth: number): BookView {
    return { bids: this.bids.top(depth), asks: this.asks.top(depth) };
  }

  /** How many levels the whole book holds per side (the view shows at most `depth` of them). */
  get levelCount(): { bids: number; asks: number } {
    return { bids: this.bids.size, asks: this.asks.size };
  }
}

/**
 * The levels of one side whose size differs between two views of it, in the side's order: a
 * level that left the view has size 0, a level that entered it (new, or moved up from below the
 * view) has its size. Both views are sorted best first, so one merge walk finds them all.
 */
function diffSide(before: readonly Level[], after: readonly Level[], better: Better): Level[] {
  const changed: Level[] = [];
  let i = 0;
  let j = 0;
  while (i < before.length || j < after.length) {
    const old = before[i];
    const now = after[j];
    if (old !== undefined && now !== undefined && old[0] === now[0]) {
      if (old[1] !== now[1]) changed.push(now);
      i++;
      j++;
    } else if (old !== undefined && (now === undefined || better(old[0], now[0]))) {
      changed.push([old[0], 0]);
      i++;
    } else {
      changed.push(now as Level);
      j++;
    }
  }
  return changed;
}

/**
 * What changed from one view to the next (both of the same depth): applying it to `before`
 * level by level gives exactly `after`, with nothing left to truncate. Undefined when nothing
 * changed, so that a delta below the view sends no update.
 */
export function diffViews(before: BookView, after: BookView): BookView | undefined {
  const bids = diffSide(before.bids, after.bids, HIGHER_IS_BETTER);
  const asks = diffSide(before.asks, after.asks, LOWER_IS_BETTER);
  return bids.length === 0 && asks.length === 0 ? undefined : { bids, asks };
}

const formatLevels = (levels: readonly Level[]): string =>
  levels
    .slice(0, CHECKSUM_LEVELS)
    .map(([price, size]) => `${JSON.stringify(price)}:${JSON.stringify(size)}`)
    .join(",");

/**
 * The text the checksum is computed over: the top 10 asks (ascending), `|`, the top 10 bids
 * (descending), each level `price:size` as JSON writes the numbers, e.g.
 * `150.25:200,150.26:500|150.24:300,150.23:100`. The SDK's order-book.ts writes the same text.
 */
export function checksumText(view: BookView): string {
  return `${formatLevels(view.asks)}|${formatLevels(view.bids)}`;
}

/** CRC-32 (IEEE, zlib's) of checksumText's UTF-8 bytes: an unsigned 32-bit integer. */
export function bookChecksum(view: BookView): number {
  return crc32(checksumText(view));
}
