/**
 * The order books of the demo start and `npm run feed` (src/demo/simulated-books.ts), driven on
 * vitest's fake clock (its interval fires at exact times, nothing sleeps) with a seeded random
 * source, and checked from what they publish, message by message, per symbol:
 *
 * - one snapshot per symbol first, then a message every 50 ms (20 a second), a snapshot every 5 s
 *   in place of a delta;
 * - every message valid against the order_books plugin's inbound schema, and the deltas, applied
 *   with the plugin's own book arithmetic, give exactly the next snapshot's book;
 * - now and then a deliberate gap (a lost delta: one sequence skipped), repaired by a snapshot
 *   within 1 s;
 * - the demo (main.ts) and the feed (scripts/feed.ts) publish the same books.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { Book, type Level } from "../../plugins/order_books/book.js";
import orderBooks from "../../plugins/order_books/index.js";
import { SimulatedBooks, type SimulatedBooksOptions } from "../../src/demo/simulated-books.js";
import { SimulatedMarket } from "../../src/demo/simulated-market.js";

/** The six demo symbols (simulated-market.ts), with their starting prices. */
const PRICES: Record<string, number> = {
  AAPL: 150.25,
  MSFT: 380.5,
  GOOGL: 141.8,
  AMZN: 178.2,
  NVDA: 495.1,
  TSLA: 242.6,
};
const SYMBOLS = Object.keys(PRICES);

/** The rates issue #19 asks of the demo: a delta every 50 ms (20 a second), a snapshot every 5 s. */
const DEFAULTS = { deltaMs: 50, snapshotEveryMs: 5000, subject: "market.books" };
/** simulated-books.ts: the snapshot that repairs a lost delta comes within this many ms of it. */
const REPAIR_WITHIN_MS = 1000;
/** The order_books plugin's default depth: the view clients see, per side. */
const DEFAULT_DEPTH = 25;

const START = Date.parse("2024-12-19T12:00:00Z");

/** A seeded random source (mulberry32): the same run every time. */
function seeded(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let value = state;
    value = Math.imul(value ^ (value >>> 15), value | 1);
    value ^= value + Math.imul(value ^ (value >>> 7), value | 61);
    return ((value ^ (value >>> 14)) >>> 0) / 4294967296;
  };
}

/** A price that wanders a few percent around the symbol's start, so that the books' mids move. */
function wanderingPrice(symbol: string): number {
  const phase = SYMBOLS.indexOf(symbol);
  return (PRICES[symbol] as number) * (1 + 0.03 * Math.sin((Date.now() - START) / 4000 + phase));
}

interface BookMessage {
  symbol: string;
  kind: "snapshot" | "delta";
  sequence: number;
  bids: Level[];
  asks: Level[];
  timestamp: string;
}

interface Received {
  subject: string;
  message: BookMessage;
  /** When it was published: its timestamp, which the fake clock makes exact. */
  at: number;
}

interface Published {
  subject: string;
  payload: string;
}

/**
 * Per symbol, what was published on the books' subject, in order; and every payload the
 * order_books plugin's inbound schema rejects.
 */
function bySymbol(
  published: Published[],
  subject: string,
): { streams: Map<string, Received[]>; invalid: string[] } {
  const streams = new Map<string, Received[]>();
  const invalid: string[] = [];
  for (const { subject: on, payload } of published) {
    if (!on.startsWith(`${subject}.`)) continue;
    const parsed = orderBooks.inbound.safeParse(JSON.parse(payload));
    if (!parsed.success) {
      if (invalid.length < 10) invalid.push(`${payload.slice(0, 120)}: ${parsed.error.message}`);
      continue;
    }
    const message = parsed.data as BookMessage;
    const stream = streams.get(message.symbol) ?? [];
    streams.set(message.symbol, stream);
    stream.push({ subject: on, message, at: Date.parse(message.timestamp) });
  }
  return { streams, invalid };
}

interface StreamReport {
  /** When each snapshot was published, the first (at start) included. */
  snapshots: number[];
  /** When each lost delta would have been published. */
  gaps: number[];
  problems: string[];
}

/** Do the levels of `book` equal those of the snapshot (both best first)? */
function sameBook(book: Book, snapshot: BookMessage): boolean {
  const whole = book.view(Number.MAX_SAFE_INTEGER);
  return (
    JSON.stringify(whole.bids) === JSON.stringify(snapshot.bids) &&
    JSON.stringify(whole.asks) === JSON.stringify(snapshot.asks)
  );
}

/**
 * Check one symbol's stream, published from `startedAt` to `endedAt` (its last tick), against the
 * rates, and keep a copy of its book with book.ts as the gateway would: deltas applied while the
 * sequence follows, nothing after a gap until the next snapshot.
 */
function checkStream(
  symbol: string,
  stream: Received[],
  rates: { deltaMs: number; snapshotEveryMs: number; subject: string },
  startedAt: number,
  endedAt: number,
): StreamReport {
  const problems: string[] = [];
  const problem = (at: number, text: string) => {
    if (problems.length < 10) problems.push(`${symbol} at +${at - startedAt} ms: ${text}`);
  };
  const snapshots: number[] = [];
  const gaps: number[] = [];
  /** A lost delta no snapshot has repaired yet: when it would have been published. */
  let lostAt: number | undefined;
  let gapSinceSnapshot = false;
  /** The copy of the book; undefined before the first snapshot and after a gap, until the next. */
  let book: Book | undefined;
  let previous: Received | undefined;
  /** The longest a snapshot may be due after the one at `last` (the first regular one: spread). */
  const snapshotDue = (last: number) => (last === startedAt ? 2 : 1) * rates.snapshotEveryMs;

  for (const received of stream) {
    const { message, at } = received;
    if (received.subject !== `${rates.subject}.${symbol}`) problem(at, `published on ${received.subject}`);
    if (previous === undefined) {
      if (message.kind !== "snapshot" || at !== startedAt) problem(at, "the first message is not a snapshot");
    } else {
      const step = message.sequence - previous.message.sequence;
      const elapsed = at - previous.at;
      if (step === 2 && elapsed === 2 * rates.deltaMs) {
        // A deliberate gap: the tick between published nothing, and its sequence number is gone.
        if (lostAt !== undefined) problem(at, "a second gap before a snapshot repaired the first");
        lostAt = previous.at + rates.deltaMs;
        gaps.push(lostAt);
        gapSinceSnapshot = true;
        book = undefined;
      } else if (step !== 1 || elapsed !== rates.deltaMs)
        problem(at, `sequence +${step} after ${elapsed} ms (expected +1 after ${rates.deltaMs} ms)`);
    }
    if (lostAt !== undefined && at > lostAt + REPAIR_WITHIN_MS)
      problem(at, `no snapshot within ${REPAIR_WITHIN_MS} ms of the gap at +${lostAt - startedAt} ms`);

    if (message.kind === "snapshot") {
      const last = snapshots.at(-1);
      if (last !== undefined) {
        const since = at - last;
        // Without a gap, exactly one period after the last (the first: spread over one period).
        const regular =
          last === startedAt
            ? since >= rates.snapshotEveryMs && since < 2 * rates.snapshotEveryMs
            : since === rates.snapshotEveryMs;
        if (gapSinceSnapshot ? since > snapshotDue(last) : !regular)
          problem(at, `snapshot ${since} ms after the last one`);
      }
      if (book !== undefined && !sameBook(book, message))
        problem(at, "the deltas since the last snapshot do not give this snapshot's book");
      book = new Book(message.bids, message.asks);
      snapshots.push(at);
      lostAt = undefined;
      gapSinceSnapshot = false;
    } else book?.applyDelta(message.bids, message.asks);

    if (book !== undefined) {
      const view = book.view(DEFAULT_DEPTH);
      if (view.bids.length < DEFAULT_DEPTH || view.asks.length < DEFAULT_DEPTH)
        problem(at, `only ${view.bids.length} bids and ${view.asks.length} asks`);
      const bestBid = view.bids[0]?.[0] ?? 0;
      const bestAsk = view.asks[0]?.[0] ?? Number.POSITIVE_INFINITY;
      if (bestBid >= bestAsk) problem(at, `crossed book: bid ${bestBid} >= ask ${bestAsk}`);
    }
    previous = received;
  }

  // At the end: the last tick published, or lost its delta (a gap nothing follows yet), and
  // nothing is overdue.
  if (previous === undefined) problems.push(`${symbol}: nothing published`);
  else if (previous.at === endedAt - rates.deltaMs) {
    if (lostAt !== undefined) problem(endedAt, "a second gap before a snapshot repaired the first");
    lostAt = endedAt;
    gaps.push(endedAt);
  } else if (previous.at !== endedAt)
    problem(previous.at, `the last message, though ticks ran until +${endedAt - startedAt} ms`);
  const last = snapshots.at(-1);
  if (last !== undefined && endedAt - last >= snapshotDue(last))
    problem(endedAt, `no snapshot since +${last - startedAt} ms`);
  if (lostAt !== undefined && endedAt >= lostAt + REPAIR_WITHIN_MS)
    problem(endedAt, `the gap at +${lostAt - startedAt} ms was never repaired`);
  return { snapshots, gaps, problems };
}

/** Run SimulatedBooks of the six symbols for `forMs` on the fake clock; what it published. */
function runBooks(options: SimulatedBooksOptions, forMs: number, seed = 19): Published[] {
  const published: Published[] = [];
  const books = new SimulatedBooks(
    (subject, payload) => published.push({ subject, payload }),
    SYMBOLS,
    wanderingPrice,
    options,
    seeded(seed),
  );
  books.start();
  vi.advanceTimersByTime(forMs);
  books.stop();
  return published;
}

beforeEach(() => {
  vi.useFakeTimers({ now: START });
});

afterEach(() => {
  vi.useRealTimers();
  vi.restoreAllMocks();
});

describe("SimulatedBooks", () => {
  it("publishes one snapshot per symbol at start, on market.books.<SYMBOL>, before any delta", () => {
    const published: Published[] = [];
    const books = new SimulatedBooks(
      (subject, payload) => published.push({ subject, payload }),
      SYMBOLS,
      wanderingPrice,
      { gapEveryMs: 0 },
      seeded(1),
    );
    books.start();
    const first = published.map(({ subject, payload }) => ({ subject, ...JSON.parse(payload) }));
    expect(first.map(({ subject, symbol, kind }) => `${subject} ${symbol} ${kind}`)).toEqual(
      SYMBOLS.map((symbol) => `market.books.${symbol} ${symbol} snapshot`),
    );
    for (const snapshot of first) {
      expect(orderBooks.inbound.safeParse(snapshot).success).toBe(true);
      // Sequences start from the clock: a restarted feed continues above the last run's.
      expect(snapshot.sequence).toBeGreaterThan(START);
      expect(snapshot.timestamp).toBe(new Date(START).toISOString());
      // Deeper than the default view of 25 levels per side, so that it stays full.
      expect(snapshot.bids.length).toBeGreaterThan(DEFAULT_DEPTH);
      expect(snapshot.asks.length).toBeGreaterThan(DEFAULT_DEPTH);
    }
    // Nothing more until the first tick, then one delta per symbol.
    vi.advanceTimersByTime(DEFAULTS.deltaMs - 1);
    expect(published).toHaveLength(SYMBOLS.length);
    vi.advanceTimersByTime(1);
    const tick = published.slice(SYMBOLS.length).map(({ payload }) => JSON.parse(payload));
    expect(tick.map(({ symbol, kind }) => `${symbol} ${kind}`)).toEqual(
      SYMBOLS.map((symbol) => `${symbol} delta`),
    );
    books.stop();
  });

  it("at its defaults (no gaps): one message per symbol every 50 ms, 20 a second, and a snapshot every 5 s in place of a delta", () => {
    const runMs = 30_000;
    const { streams, invalid } = bySymbol(runBooks({ gapEveryMs: 0 }, runMs), DEFAULTS.subject);
    expect(invalid).toEqual([]);
    expect([...streams.keys()]).toEqual(SYMBOLS);
    const firstRegular: number[] = [];
    for (const [symbol, stream] of streams) {
      const report = checkStream(symbol, stream, DEFAULTS, START, START + runMs);
      expect(report.problems).toEqual([]);
      expect(report.gaps).toEqual([]);
      // Exactly one message per tick: the first snapshot, then 20 a second for 30 s.
      expect(stream.map(({ at }) => at - START)).toEqual(
        Array.from({ length: 1 + runMs / 50 }, (_, tick) => tick * 50),
      );
      const [, first, ...rest] = report.snapshots.map((at) => at - START);
      firstRegular.push(first as number);
      // A snapshot every 5 s (the first one after start within one more period).
      expect(rest).toEqual(Array.from(rest, (_, index) => (first as number) + (index + 1) * 5000));
      expect(rest.length).toBeGreaterThanOrEqual(4);
      const sequences = stream.map(({ message }) => message.sequence);
      expect(sequences.at(-1)).toBe((sequences[0] as number) + runMs / 50);
    }
    // The symbols' snapshots are spread over the period, not all on one tick.
    expect(new Set(firstRegular).size).toBe(SYMBOLS.length);
  });

  it("at its defaults over ten minutes: every message valid, a sequence skipped only at a deliberate gap, which a snapshot repairs within 1 s, and the deltas rebuild every snapshot's book", () => {
    const runMs = 600_000;
    const { streams, invalid } = bySymbol(runBooks({}, runMs), DEFAULTS.subject);
    expect(invalid).toEqual([]);
    expect([...streams.keys()]).toEqual(SYMBOLS);
    let gaps = 0;
    for (const [symbol, stream] of streams) {
      const report = checkStream(symbol, stream, DEFAULTS, START, START + runMs);
      expect(report.problems).toEqual([]);
      // Every tick published a message but the lost ones: 20 a second.
      expect(stream.length + report.gaps.length).toBe(1 + runMs / DEFAULTS.deltaMs);
      // "Now and then": at least once in ten minutes for every symbol.
      expect(report.gaps.length, symbol).toBeGreaterThanOrEqual(1);
      gaps += report.gaps.length;
      // Snapshots at least every 5 s: 120 in ten minutes, more with the repairs.
      expect(report.snapshots.length).toBeGreaterThanOrEqual(1 + runMs / DEFAULTS.snapshotEveryMs - 1);
    }
    // About once a minute per symbol (at random): some 60 in ten minutes for six symbols.
    expect(gaps).toBeGreaterThanOrEqual(30);
    expect(gaps).toBeLessThanOrEqual(100);
  });

  it("follows its options (deltaMs, snapshotEveryMs, gapEveryMs, subject), and stop() ends it", () => {
    const rates = { deltaMs: 100, snapshotEveryMs: 1000, subject: "desk.books" };
    const runMs = 60_000;
    const published = runBooks({ ...rates, gapEveryMs: 2000 }, runMs, 7);
    const { streams, invalid } = bySymbol(published, rates.subject);
    expect(invalid).toEqual([]);
    expect(published.every(({ subject }) => subject.startsWith("desk.books."))).toBe(true);
    expect([...streams.keys()]).toEqual(SYMBOLS);
    for (const [symbol, stream] of streams) {
      const report = checkStream(symbol, stream, rates, START, START + runMs);
      expect(report.problems).toEqual([]);
      expect(stream.length + report.gaps.length).toBe(1 + runMs / rates.deltaMs);
      // A gap about every 2 s: many in a minute.
      expect(report.gaps.length, symbol).toBeGreaterThanOrEqual(5);
    }
    // runBooks stopped it: the fake clock moves on, nothing more is published.
    const count = published.length;
    vi.advanceTimersByTime(10_000);
    expect(published).toHaveLength(count);
  });

  it("the checks above fail on a stream that breaks the rules", () => {
    const runMs = 10_000;
    const { streams } = bySymbol(runBooks({ gapEveryMs: 0 }, runMs), DEFAULTS.subject);
    const stream = streams.get("AAPL") as Received[];
    const check = (changed: Received[], rates = DEFAULTS) =>
      checkStream("AAPL", changed, rates, START, START + runMs).problems;
    expect(check(stream)).toEqual([]);
    // Other rates than those published.
    expect(check(stream, { ...DEFAULTS, deltaMs: 40 })).not.toEqual([]);
    expect(check(stream, { ...DEFAULTS, snapshotEveryMs: 4000 })).not.toEqual([]);
    // A lost delta no snapshot repairs: the messages after it keep coming for more than 1 s.
    const lost = stream.findIndex(({ message }, index) => index > 10 && message.kind === "delta");
    const withoutOne = stream.filter((_, index) => index !== lost);
    expect(check(withoutOne).join()).toMatch(/no snapshot within 1000 ms/);
    // A delta with a changed level: the next snapshot's book is not what the deltas give.
    const altered = structuredClone(stream);
    const delta = altered[lost] as Received;
    delta.message.bids = [...delta.message.bids, [1, 100]];
    expect(check(altered).join()).toMatch(/do not give this snapshot's book/);
  });
});

describe("the demo and `npm run feed` publish the same books", () => {
  it("SimulatedMarket, as both construct it, publishes the six symbols' books at 20 a second with a snapshot every 5 s", () => {
    const runMs = 20_000;
    /** The book messages of a market run on the fake clock, with Math.random seeded. */
    const run = (construct: (publish: (subject: string, payload: string) => void) => SimulatedMarket) => {
      vi.setSystemTime(START);
      vi.spyOn(Math, "random").mockImplementation(seeded(21));
      const published: Published[] = [];
      const market = construct((subject, payload) => published.push({ subject, payload }));
      market.start();
      vi.advanceTimersByTime(runMs);
      market.stop();
      vi.restoreAllMocks();
      return published.filter(({ subject }) => subject.startsWith("market.books."));
    };
    // scripts/feed.ts: no options.
    const feed = run((publish) => new SimulatedMarket(publish));
    // main.ts without subject overrides: each subject undefined, so the defaults.
    const demo = run(
      (publish) =>
        new SimulatedMarket(publish, {
          subjects: { prices: undefined, signals: undefined, trades: undefined, books: undefined },
        }),
    );
    expect(demo).toEqual(feed);

    const { streams, invalid } = bySymbol(feed, DEFAULTS.subject);
    expect(invalid).toEqual([]);
    expect([...streams.keys()].sort()).toEqual([...SYMBOLS].sort());
    for (const [symbol, stream] of streams) {
      const report = checkStream(symbol, stream, DEFAULTS, START, START + runMs);
      expect(report.problems).toEqual([]);
      expect(stream.length + report.gaps.length).toBe(1 + runMs / DEFAULTS.deltaMs);
      expect(report.snapshots.length).toBeGreaterThanOrEqual(1 + runMs / DEFAULTS.snapshotEveryMs - 1);
    }
  });
});
