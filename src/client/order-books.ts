/**
 * The client's verified order books: one OrderBook (order-book.ts) per symbol of the order_books
 * channel, the gateway's first `state` channel, kept from the frames of the open connection (they
 * end with it: the next connection's snapshots rebuild them), and what the client must do when
 * one of them can no longer be trusted.
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
 * The frames arrive validated (frames.ts: the plugin's and the protocol's own schemas), so this
 * file only decides what they mean for the books. Browser-safe: the checksum is order-book.ts's
 * own CRC-32.
 */
import type {
  OrderBookSnapshotFrame,
  OrderBookUpdateFrame,
  ServerFrame,
  StateStatusFrame,
  UnknownFrame,
} from "./frames.js";
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
  readonly timestamp: string;
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
    reason: StateStatusFrame["reason"];
    sequence: number;
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

/** What a frame did to the books, told after the frame's own events; undefined: nothing to tell. */
export type OrderBookAnnouncement = (() => void) | undefined;

interface SymbolBook {
  book: OrderBook;
  stale: boolean;
  /** A resubscribe is on its way: updates failing until its snapshot ask nothing again. */
  resyncing: boolean;
  /** The last applied frame's (a book has one as soon as it has a sequence). */
  timestamp: string;
}

export class OrderBooks {
  private readonly books = new Map<string, SymbolBook>();

  constructor(private readonly hooks: OrderBookHooks) {}

  /** The symbol's verified book; undefined before its first snapshot and while it is resynced. */
  view(symbol: string): OrderBookView | undefined {
    const entry = this.books.get(symbol);
    return entry === undefined ? undefined : viewOf(symbol, entry);
  }

  /**
   * Take what concerns the books from any frame the client delivers. A frame of one of these
   * types has passed its schema (parseServerFrame) before it is delivered, hence the casts.
   */
  receive(frame: ServerFrame | UnknownFrame): OrderBookAnnouncement {
    switch (frame.type) {
      case "order_book_snapshot":
        return this.apply(frame as OrderBookSnapshotFrame);
      case "order_book_update":
        return this.apply(frame as OrderBookUpdateFrame);
      case "state_status": {
        const status = frame as StateStatusFrame;
        return status.channel === ORDER_BOOKS_CHANNEL ? this.staled(status) : undefined;
      }
      case "unsubscribed":
        if (frame.channel === ORDER_BOOKS_CHANNEL) this.keepOnly(frame.symbols);
        return undefined;
      default:
        return undefined;
    }
  }

  /** The connection is over: its books end with it (the next one starts from new snapshots). */
  clear(): void {
    this.books.clear();
  }

  private apply(frame: OrderBookSnapshotFrame | OrderBookUpdateFrame): OrderBookAnnouncement {
    const { symbol } = frame;
    const snapshot = frame.type === "order_book_snapshot";
    const kind = snapshot ? "snapshot" : "update";
    const entry = this.entryOf(symbol);
    const result = snapshot ? entry.book.applySnapshot(frame) : entry.book.applyUpdate(frame);
    if (result === "applied") {
      entry.timestamp = frame.timestamp;
      // Only a snapshot is a fresh start: it ends a resync and a stale period.
      if (snapshot) {
        entry.stale = false;
        entry.resyncing = false;
      }
      return this.announced(symbol, entry, () => {
        const book = viewOf(symbol, entry);
        if (book !== undefined) this.hooks.emit("order_book", { symbol, book, kind });
      });
    }
    if (!this.hooks.wants(symbol)) {
      this.books.delete(symbol);
      return undefined;
    }
    // Updates still in flight on the broken chain: the snapshot asked for is on its way. A
    // snapshot that fails asks again (one request per snapshot received: no loop of our own).
    if (entry.resyncing && !snapshot) return undefined;
    entry.resyncing = true;
    return this.announced(symbol, entry, () => {
      this.hooks.resubscribe(symbol);
      this.hooks.emit("resync", { channel: ORDER_BOOKS_CHANNEL, symbol, reason: result.reason });
    });
  }

  private staled(frame: StateStatusFrame): OrderBookAnnouncement {
    const { symbol, reason, sequence } = frame;
    const entry = this.entryOf(symbol);
    entry.stale = true;
    return this.announced(symbol, entry, () =>
      this.hooks.emit("book_stale", { channel: ORDER_BOOKS_CHANNEL, symbol, reason, sequence }),
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
      entry = { book: new OrderBook(), stale: false, resyncing: false, timestamp: "" };
      this.books.set(symbol, entry);
    }
    return entry;
  }

  /** Announce only if the book is still this client's when the frame's own events are over. */
  private announced(symbol: string, entry: SymbolBook, announce: () => void): OrderBookAnnouncement {
    return () => {
      if (this.books.get(symbol) === entry) announce();
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
