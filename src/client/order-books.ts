/**
 * The client's verified order books: one OrderBook (order-book.ts) per symbol of the order_books
 * channel, the gateway's first `state` channel, kept from its frames whatever connection they came
 * on, and what the client must do when one of them can no longer be trusted.
 *
 * - `order_book_snapshot` replaces the symbol's book, `order_book_update` changes it; each is kept
 *   only when its checksum matches and (an update) it continues from the book's sequence. After
 *   each one kept: `order_book`.
 * - One that is not kept (a missed update, a checksum that does not match, an update before any
 *   snapshot) empties the book, and the only way back is a fresh snapshot, which the gateway sends
 *   to a subscribe: the client subscribes to that symbol again and says so (`resync`). The updates
 *   still in flight on the broken chain are dropped without asking again.
 * - `state_status` stale (upstream skipped a sequence: the gateway stopped the symbol's updates)
 *   marks the book stale (`book_stale`); it keeps its last verified levels until the next
 *   snapshot makes it current.
 *
 * The three frame types are recognised by their `type` (the SDK has no schema of its own for them
 * yet), so each is checked here for what the book reads, and a frame that lacks it is an
 * `invalid_frame` error, never a thrown TypeError in the middle of the client's bookkeeping.
 *
 * Browser-safe and free of the gateway's modules: the checksum is order-book.ts's own CRC-32.
 */
import type { FrameIssue } from "./frames.js";
import { OrderBook, type OrderBookFailureReason, type PriceLevel } from "./order-book.js";

/** The channel whose frames this module keeps books from. */
export const ORDER_BOOKS_CHANNEL = "order_books";

/** One symbol's verified book, as `client.orderBook(symbol)` and the `order_book` event give it. */
export interface OrderBookView {
  readonly symbol: string;
  /** Best (highest price) first, as many levels as the gateway's depth. */
  readonly bids: readonly PriceLevel[];
  /** Best (lowest price) first. */
  readonly asks: readonly PriceLevel[];
  /** The sequence the book is verified at. */
  readonly sequence: number;
  /** The gateway said upstream skipped a sequence: these levels are the last good ones. */
  readonly stale: boolean;
  /** The `timestamp` of the last frame applied. */
  readonly timestamp: string | undefined;
}

export interface OrderBookEvents {
  /** A snapshot or an update was verified and applied: `book` is the symbol's book after it. */
  order_book: { symbol: string; book: OrderBookView; kind: "snapshot" | "update" };
  /**
   * The symbol's book broke (`gap`: an update did not continue from it; `checksum_mismatch`;
   * `no_snapshot`: an update for a book the client does not have): it is gone until the snapshot
   * the client has just asked for by subscribing to the symbol again.
   */
  resync: { channel: typeof ORDER_BOOKS_CHANNEL; symbol: string; reason: OrderBookFailureReason };
  /**
   * The gateway stopped the symbol's updates (`reason`, e.g. `upstream_gap`); `sequence` is the
   * last one its book was good at. The book is kept, `stale`, until the next snapshot.
   */
  book_stale: {
    channel: typeof ORDER_BOOKS_CHANNEL;
    symbol: string;
    reason: string;
    sequence: number | undefined;
  };
}

/** What the books need from the client that owns them. */
export interface OrderBookHooks {
  /** Did the client ask for this symbol's book (a broken book of any other is just dropped)? */
  wants(symbol: string): boolean;
  /** Subscribe to the symbol again: the gateway answers with a fresh snapshot. */
  resubscribe(symbol: string): void;
  emit<K extends keyof OrderBookEvents>(event: K, payload: OrderBookEvents[K]): void;
}

/**
 * What receive() made of a frame: `announce` tells it (after the frame's own events), or the
 * frame is not what the book needs and must not be delivered.
 */
export type OrderBookReceipt =
  | { ok: true; announce: (() => void) | undefined }
  | { ok: false; message: string; issues: FrameIssue[] };

interface SymbolBook {
  book: OrderBook;
  stale: boolean;
  /** A resubscribe is on its way: updates failing until its snapshot ask nothing again. */
  resyncing: boolean;
  timestamp: string | undefined;
}

const PASS: OrderBookReceipt = { ok: true, announce: undefined };

export class OrderBooks {
  private readonly books = new Map<string, SymbolBook>();

  constructor(private readonly hooks: OrderBookHooks) {}

  /** The symbol's verified book; undefined before its first snapshot and while it is resynced. */
  view(symbol: string): OrderBookView | undefined {
    const entry = this.books.get(symbol);
    return entry === undefined ? undefined : viewOf(symbol, entry);
  }

  /** Take what concerns the books from any frame the client delivers. */
  receive(delivered: { readonly type: string }): OrderBookReceipt {
    const frame = delivered as { type: string; [field: string]: unknown };
    switch (frame.type) {
      case "order_book_snapshot":
      case "order_book_update":
        return this.apply(frame);
      case "state_status":
        return frame.channel === ORDER_BOOKS_CHANNEL ? this.staled(frame) : PASS;
      case "unsubscribed":
        if (frame.channel === ORDER_BOOKS_CHANNEL) this.keepOnly(frame.symbols);
        return PASS;
      default:
        return PASS;
    }
  }

  /** The connection is over: its books end with it (the next one starts from new snapshots). */
  clear(): void {
    this.books.clear();
  }

  private apply(frame: { type: string; [field: string]: unknown }): OrderBookReceipt {
    const snapshot = frame.type === "order_book_snapshot";
    const issues = bookFrameIssues(frame, snapshot);
    if (issues.length > 0) return { ok: false, message: `Invalid ${frame.type} frame`, issues };
    const fields = frame as unknown as BookFrameFields;
    const { symbol } = fields;
    const entry = this.entryOf(symbol);
    const result = snapshot ? entry.book.applySnapshot(fields) : entry.book.applyUpdate(fields);
    if (result === "applied") {
      entry.timestamp = fields.timestamp;
      // Only a snapshot is a fresh start: it ends a resync and a stale period.
      if (snapshot) {
        entry.stale = false;
        entry.resyncing = false;
      }
      const kind = snapshot ? "snapshot" : "update";
      return this.announced(symbol, entry, () => {
        const book = viewOf(symbol, entry);
        if (book !== undefined) this.hooks.emit("order_book", { symbol, book, kind });
      });
    }
    if (!this.hooks.wants(symbol)) {
      this.books.delete(symbol);
      return PASS;
    }
    // Updates still in flight on the broken chain: the snapshot asked for is on its way. A
    // snapshot that fails asks again (one request per snapshot received: no loop of our own).
    if (entry.resyncing && !snapshot) return PASS;
    entry.resyncing = true;
    return this.announced(symbol, entry, () => {
      this.hooks.resubscribe(symbol);
      this.hooks.emit("resync", { channel: ORDER_BOOKS_CHANNEL, symbol, reason: result.reason });
    });
  }

  private staled(frame: { [field: string]: unknown }): OrderBookReceipt {
    const { symbol, status, reason, sequence } = frame;
    if (typeof symbol !== "string" || typeof status !== "string")
      return {
        ok: false,
        message: "Invalid state_status frame",
        issues: [{ path: typeof symbol === "string" ? "status" : "symbol", message: "Expected a string" }],
      };
    // Only `stale` is defined; the next snapshot, not a status, makes a book current again.
    if (status !== "stale") return PASS;
    const entry = this.entryOf(symbol);
    entry.stale = true;
    return this.announced(symbol, entry, () =>
      this.hooks.emit("book_stale", {
        channel: ORDER_BOOKS_CHANNEL,
        symbol,
        reason: typeof reason === "string" ? reason : "unknown",
        sequence: typeof sequence === "number" ? sequence : undefined,
      }),
    );
  }

  /** After an unsubscribe: the books of symbols the client no longer has are dropped. */
  private keepOnly(symbols: unknown): void {
    if (symbols === "*" || !Array.isArray(symbols)) return;
    for (const symbol of [...this.books.keys()]) if (!symbols.includes(symbol)) this.books.delete(symbol);
  }

  private entryOf(symbol: string): SymbolBook {
    let entry = this.books.get(symbol);
    if (entry === undefined) {
      entry = { book: new OrderBook(), stale: false, resyncing: false, timestamp: undefined };
      this.books.set(symbol, entry);
    }
    return entry;
  }

  /** Announce only if the book is still this client's when the frame's own events are over. */
  private announced(symbol: string, entry: SymbolBook, announce: () => void): OrderBookReceipt {
    return {
      ok: true,
      announce: () => {
        if (this.books.get(symbol) === entry) announce();
      },
    };
  }
}

function viewOf(symbol: string, entry: SymbolBook): OrderBookView | undefined {
  const { book } = entry;
  if (book.sequence === undefined) return undefined;
  return Object.freeze({
    symbol,
    bids: book.bids,
    asks: book.asks,
    sequence: book.sequence,
    stale: entry.stale,
    timestamp: entry.timestamp,
  });
}

/** The fields of a snapshot or an update that the book reads, once checked. */
interface BookFrameFields {
  symbol: string;
  sequence: number;
  prev_sequence: number;
  bids: PriceLevel[];
  asks: PriceLevel[];
  checksum: number;
  timestamp: string | undefined;
}

const isSequence = (value: unknown) => typeof value === "number" && Number.isSafeInteger(value) && value >= 0;
const isLevel = (value: unknown) =>
  Array.isArray(value) &&
  value.length === 2 &&
  value.every((number) => typeof number === "number" && Number.isFinite(number)) &&
  (value[1] as number) >= 0;

/** What a snapshot or an update lacks of what the book reads (nothing: it can be applied). */
function bookFrameIssues(frame: { [field: string]: unknown }, snapshot: boolean): FrameIssue[] {
  const issues: FrameIssue[] = [];
  const expect = (path: string, ok: boolean, message: string) => {
    if (!ok) issues.push({ path, message });
  };
  expect("symbol", typeof frame.symbol === "string" && frame.symbol.length > 0, "Expected a symbol");
  expect("sequence", isSequence(frame.sequence), "Expected a sequence number");
  if (!snapshot) expect("prev_sequence", isSequence(frame.prev_sequence), "Expected a sequence number");
  for (const side of ["bids", "asks"] as const) {
    const levels = frame[side];
    expect(side, Array.isArray(levels) && levels.every(isLevel), "Expected an array of [price, size] levels");
  }
  const { checksum } = frame;
  expect(
    "checksum",
    typeof checksum === "number" && Number.isInteger(checksum) && checksum >= 0 && checksum <= 0xffffffff,
    "Expected an unsigned 32-bit integer",
  );
  expect(
    "timestamp",
    frame.timestamp === undefined || typeof frame.timestamp === "string",
    "Expected a string",
  );
  return issues;
}
