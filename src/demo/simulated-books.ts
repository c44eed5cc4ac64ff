/**
 * Simulated order books for the demo start and `npm run feed`: one deep book per symbol around
 * its simulated price, published as upstream would on `market.books.<SYMBOL>`: a snapshot every
 * few seconds and deltas in between (about 20 a second per symbol, a few levels each, some
 * removals), with a strictly increasing sequence per symbol.
 *
 * Now and then (about once a minute per symbol, at random) a delta is lost on purpose: the book
 * changes, its sequence number is used, but nothing is published, and a snapshot follows shortly
 * after. The demo thereby shows the order_books channel's gap handling, not just the happy path.
 *
 * Prices are whole cents internally, so that a level's price is the same number every time it is
 * written (JSON carries cents / 100, e.g. 150.24).
 */

type Publish = (subject: string, payload: string) => void;

export interface SimulatedBooksOptions {
  /** Milliseconds between two deltas of a symbol (50: about 20 a second). */
  deltaMs?: number;
  /** Milliseconds between a symbol's regular snapshots. */
  snapshotEveryMs?: number;
  /** Mean milliseconds between deliberate gaps per symbol; 0 for none. */
  gapEveryMs?: number;
  /** Levels each side keeps (the gateway's default view is the top 25: deeper, so it stays full). */
  levelsPerSide?: number;
  /** Subject prefix; the symbol is appended. */
  subject?: string;
}

/** How far from the mid a side's levels reach, in cents: room for holes between levels. */
const BAND_PER_LEVEL = 1.5;
/** The most a book's mid moves per delta, in cents: it follows the price, a few cents at a time. */
const MAX_MID_STEP = 3;
/** After a lost delta, the repairing snapshot comes within this many milliseconds. */
const REPAIR_WITHIN_MS = 1000;

/** One side of a simulated book: price in cents -> size. */
type Side = Map<number, number>;

interface SimulatedBook {
  symbol: string;
  bids: Side;
  asks: Side;
  /** The price (cents) between the sides: bids are below it, asks above. */
  mid: number;
  sequence: number;
  nextSnapshotAt: number;
  /** Set after a lost delta: when the snapshot that repairs it is due. */
  repairAt: number | undefined;
}

/** The levels changed by one delta, per side: price in cents -> new size (0: removed). */
interface Changes {
  bids: Side;
  asks: Side;
}

export class SimulatedBooks {
  private readonly books: SimulatedBook[] = [];
  private timer: NodeJS.Timeout | undefined;
  private readonly deltaMs: number;
  private readonly snapshotEveryMs: number;
  private readonly gapEveryMs: number;
  private readonly levelsPerSide: number;
  private readonly subject: string;

  constructor(
    private readonly publish: Publish,
    private readonly symbols: readonly string[],
    /** The symbol's current simulated price: each book follows it. */
    private readonly priceOf: (symbol: string) => number,
    options: SimulatedBooksOptions = {},
    private readonly random: () => number = Math.random,
  ) {
    this.deltaMs = options.deltaMs ?? 50;
    this.snapshotEveryMs = options.snapshotEveryMs ?? 5000;
    this.gapEveryMs = options.gapEveryMs ?? 60_000;
    this.levelsPerSide = options.levelsPerSide ?? 40;
    this.subject = options.subject ?? "market.books";
  }

  /** Publish every symbol's first snapshot, then deltas and snapshots until stop(). */
  start(now = Date.now()): void {
    this.books.length = 0;
    this.symbols.forEach((symbol, index) => {
      const mid = this.midOf(symbol);
      const book: SimulatedBook = {
        symbol,
        bids: new Map(),
        asks: new Map(),
        mid,
        // From the clock, so that a restarted feed continues above where the last run left
        // (sequences are strictly increasing per symbol, and a book moves far slower than 1/ms).
        sequence: now,
        // Spread over one period, so that the symbols' snapshots do not all fall on one tick.
        nextSnapshotAt: now + this.snapshotEveryMs * (1 + index / this.symbols.length),
        repairAt: undefined,
      };
      this.refill(book, { bids: new Map(), asks: new Map() });
      this.books.push(book);
      this.publishSnapshot(book, now);
    });
    this.timer = setInterval(() => this.step(Date.now()), this.deltaMs);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  /** One delta per symbol, or the snapshot that is due instead (public: a test can drive it). */
  step(now: number): void {
    for (const book of this.books) {
      if (now >= book.nextSnapshotAt || (book.repairAt !== undefined && now >= book.repairAt)) {
        this.publishSnapshot(book, now);
        book.nextSnapshotAt = now + this.snapshotEveryMs;
        book.repairAt = undefined;
        continue;
      }
      const changes = this.move(book);
      book.sequence++;
      if (
        book.repairAt === undefined &&
        this.gapEveryMs > 0 &&
        this.random() < this.deltaMs / this.gapEveryMs
      ) {
        // Lost on purpose: the book changed and the sequence number is gone, nothing published.
        book.repairAt = now + this.random() * REPAIR_WITHIN_MS;
        continue;
      }
      this.publish(
        `${this.subject}.${book.symbol}`,
        JSON.stringify({
          symbol: book.symbol,
          kind: "delta",
          sequence: book.sequence,
          bids: levels(changes.bids, true),
          asks: levels(changes.asks, false),
          timestamp: new Date(now).toISOString(),
        }),
      );
    }
  }

  private publishSnapshot(book: SimulatedBook, now: number): void {
    book.sequence++;
    this.publish(
      `${this.subject}.${book.symbol}`,
      JSON.stringify({
        symbol: book.symbol,
        kind: "snapshot",
        sequence: book.sequence,
        bids: levels(book.bids, true),
        asks: levels(book.asks, false),
        timestamp: new Date(now).toISOString(),
      }),
    );
  }

  private midOf(symbol: string): number {
    return Math.round(this.priceOf(symbol) * 100);
  }

  /**
   * One delta's worth of change: the mid moves toward the price (levels it crosses leave), a few
   * levels near the top change size, leave or arrive, and the sides are refilled to their depth.
   */
  private move(book: SimulatedBook): Changes {
    const changes: Changes = { bids: new Map(), asks: new Map() };
    const step = Math.max(-MAX_MID_STEP, Math.min(MAX_MID_STEP, this.midOf(book.symbol) - book.mid));
    book.mid += step;
    for (const price of book.bids.keys()) if (price >= book.mid) setLevel(book.bids, changes.bids, price, 0);
    for (const price of book.asks.keys()) if (price <= book.mid) setLevel(book.asks, changes.asks, price, 0);
    const count = 1 + Math.floor(this.random() * 4);
    for (let change = 0; change < count; change++) {
      const bid = this.random() < 0.5;
      const [side, changed] = bid ? [book.bids, changes.bids] : [book.asks, changes.asks];
      const action = this.random();
      if (action < 0.6) {
        const price = this.nearTop([...side.keys()], bid);
        if (price !== undefined) setLevel(side, changed, price, this.size());
      } else if (action < 0.8) {
        const price = this.nearTop([...side.keys()], bid);
        if (price !== undefined) setLevel(side, changed, price, 0);
      } else this.addLevel(book, bid, changed);
    }
    this.refill(book, changes);
    return changes;
  }

  /** Drop the levels the mid has left behind, then add levels until each side is full again. */
  private refill(book: SimulatedBook, changes: Changes): void {
    const band = Math.ceil(this.levelsPerSide * BAND_PER_LEVEL);
    for (const price of book.bids.keys())
      if (price < book.mid - band) setLevel(book.bids, changes.bids, price, 0);
    for (const price of book.asks.keys())
      if (price > book.mid + band) setLevel(book.asks, changes.asks, price, 0);
    while (book.bids.size < this.levelsPerSide) this.addLevel(book, true, changes.bids);
    while (book.asks.size < this.levelsPerSide) this.addLevel(book, false, changes.asks);
  }

  /** A new level at a free price within the side's band, more often near the top. */
  private addLevel(book: SimulatedBook, bid: boolean, changed: Side): void {
    const side = bid ? book.bids : book.asks;
    const band = Math.ceil(this.levelsPerSide * BAND_PER_LEVEL);
    const free: number[] = [];
    for (let offset = 1; offset <= band; offset++) {
      const price = bid ? book.mid - offset : book.mid + offset;
      if (price > 0 && !side.has(price)) free.push(price);
    }
    const price = free[Math.floor(this.random() ** 2 * free.length)];
    if (price !== undefined) setLevel(side, changed, price, this.size());
  }

  /** One of a side's prices, the best ones far more often (where real books change most). */
  private nearTop(prices: number[], bid: boolean): number | undefined {
    prices.sort((a, b) => (bid ? b - a : a - b));
    return prices[Math.floor(this.random() ** 3 * prices.length)];
  }

  /** A size: whole round lots of 100, up to 5,000. */
  private size(): number {
    return 100 * (1 + Math.floor(this.random() * 50));
  }
}

/** Set a level in the book and record the change (removing a level the book lacks is none). */
function setLevel(side: Side, changed: Side, price: number, size: number): void {
  if (size === 0 && !side.has(price)) return;
  if (size === 0) side.delete(price);
  else side.set(price, size);
  changed.set(price, size);
}

/** A side's levels as JSON carries them, best first: bids by descending price, asks ascending. */
function levels(side: Side, descending: boolean): [price: number, size: number][] {
  return [...side]
    .sort(([a], [b]) => (descending ? b - a : a - b))
    .map(([cents, size]) => [cents / 100, size]);
}
