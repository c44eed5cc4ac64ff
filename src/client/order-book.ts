/**
 * A verified local copy of one symbol's order book, kept from the order_books channel's frames:
 * an order_book_snapshot replaces it, an order_book_update (the levels that changed in the
 * top-depth view, size 0 for a level that left it) is applied to it only when it continues from
 * the book's sequence, and the result is kept only when its checksum matches the frame's.
 *
 * A failure (a missed update, a checksum that does not match, an update before any snapshot)
 * empties the book: nothing unverified is ever shown, and every later update answers
 * `no_snapshot` until the next snapshot (the gateway sends one when a client resubscribes).
 *
 * Browser-safe like the rest of the SDK: the checksum's CRC-32 is computed here, in plain
 * JavaScript, not with node:zlib.
 */

/** A price level as frames carry it: [price, size]. */
export type PriceLevel = readonly [price: number, size: number];

/** The fields of an order_book_snapshot frame the book reads. */
export interface OrderBookSnapshotFields {
  sequence: number;
  bids: readonly PriceLevel[];
  asks: readonly PriceLevel[];
  checksum: number;
}

/** The fields of an order_book_update frame the book reads. */
export interface OrderBookUpdateFields extends OrderBookSnapshotFields {
  prev_sequence: number;
}

export type OrderBookFailureReason = "gap" | "checksum_mismatch" | "no_snapshot";
export type OrderBookApplyResult = "applied" | { reason: OrderBookFailureReason };

/** Levels per side the checksum covers. */
const CHECKSUM_LEVELS = 10;

/** The CRC-32 (IEEE 802.3, reflected, polynomial 0xEDB88320) of each byte value. */
const CRC_TABLE = (() => {
  const table = new Uint32Array(256);
  for (let byte = 0; byte < 256; byte++) {
    let crc = byte;
    for (let bit = 0; bit < 8; bit++) crc = crc & 1 ? 0xedb88320 ^ (crc >>> 1) : crc >>> 1;
    table[byte] = crc;
  }
  return table;
})();

const utf8 = new TextEncoder();

/** CRC-32 of a string's UTF-8 bytes, as zlib's crc32 computes it: an unsigned 32-bit integer. */
export function crc32(text: string): number {
  let crc = 0xffffffff;
  for (const byte of utf8.encode(text)) crc = (CRC_TABLE[(crc ^ byte) & 0xff] as number) ^ (crc >>> 8);
  return (crc ^ 0xffffffff) >>> 0;
}

const formatLevels = (levels: readonly PriceLevel[]): string =>
  levels
    .slice(0, CHECKSUM_LEVELS)
    .map(([price, size]) => `${JSON.stringify(price)}:${JSON.stringify(size)}`)
    .join(",");

/**
 * The gateway's checksum of a book: CRC-32 of the top 10 asks (ascending), `|`, the top 10 bids
 * (descending), each level `price:size` as JSON writes the numbers, levels joined with `,`.
 */
export function orderBookChecksum(bids: readonly PriceLevel[], asks: readonly PriceLevel[]): number {
  return crc32(`${formatLevels(asks)}|${formatLevels(bids)}`);
}

/** The index of `price` in a side sorted best first, or where it would be inserted. */
function indexOf(levels: readonly PriceLevel[], price: number, descending: boolean): number {
  let low = 0;
  let high = levels.length;
  while (low < high) {
    const middle = (low + high) >>> 1;
    const here = (levels[middle] as PriceLevel)[0];
    if (descending ? here > price : here < price) low = middle + 1;
    else high = middle;
  }
  return low;
}

/**
 * One side with an update's changes applied, as a new array: each change sets its level's size,
 * size 0 removes it. `descending` for bids (best = highest first), not for asks. A side longer
 * than `depth` afterwards is cut to it; an update from the gateway never needs that (it lists the
 * level that enters the view from below as well as the one that leaves it).
 */
export function applyLevels(
  side: readonly PriceLevel[],
  changes: readonly PriceLevel[],
  descending: boolean,
  depth = Number.POSITIVE_INFINITY,
): PriceLevel[] {
  const levels = [...side];
  for (const [price, size] of changes) {
    const index = indexOf(levels, price, descending);
    const present = levels[index]?.[0] === price;
    if (size === 0) {
      if (present) levels.splice(index, 1);
    } else if (present) levels[index] = [price, size];
    else levels.splice(index, 0, [price, size]);
  }
  if (levels.length > depth) levels.length = depth;
  return levels;
}

/** One symbol's book, from its order_book_snapshot and order_book_update frames. */
export class OrderBook {
  private bidLevels: readonly PriceLevel[] = [];
  private askLevels: readonly PriceLevel[] = [];
  private lastSequence: number | undefined;

  /** Bids, best (highest price) first. */
  get bids(): readonly PriceLevel[] {
    return this.bidLevels;
  }

  /** Asks, best (lowest price) first. */
  get asks(): readonly PriceLevel[] {
    return this.askLevels;
  }

  /** The sequence the book is at; undefined before the first snapshot and after a failure. */
  get sequence(): number | undefined {
    return this.lastSequence;
  }

  /**
   * Replace the book with a snapshot's levels, as the gateway sends them: best first, as many as
   * the subscription's depth. The book keeps all of them: an update relies on the whole view.
   */
  applySnapshot(frame: OrderBookSnapshotFields): OrderBookApplyResult {
    return this.commit(frame, frame.bids, frame.asks);
  }

  /** Apply an update that continues from the book's sequence. */
  applyUpdate(frame: OrderBookUpdateFields): OrderBookApplyResult {
    if (this.lastSequence === undefined) return { reason: "no_snapshot" };
    if (frame.prev_sequence !== this.lastSequence) return this.fail("gap");
    return this.commit(
      frame,
      applyLevels(this.bidLevels, frame.bids, true),
      applyLevels(this.askLevels, frame.asks, false),
    );
  }

  /** Keep the new levels if they are what the gateway checksummed. */
  private commit(
    frame: OrderBookSnapshotFields,
    bids: readonly PriceLevel[],
    asks: readonly PriceLevel[],
  ): OrderBookApplyResult {
    if (orderBookChecksum(bids, asks) !== frame.checksum) return this.fail("checksum_mismatch");
    this.bidLevels = bids;
    this.askLevels = asks;
    this.lastSequence = frame.sequence;
    return "applied";
  }

  /** The book can no longer be trusted: empty it until the next snapshot. */
  private fail(reason: OrderBookFailureReason): OrderBookApplyResult {
    this.bidLevels = [];
    this.askLevels = [];
    this.lastSequence = undefined;
    return { reason };
  }
}
