/**
 * The upstream of the order-books benchmark (bench/books.ts), as a child process: the demo's order
 * books (src/demo/simulated-books.ts: 40 levels a side, a delta every 50 ms per symbol, a snapshot
 * every 5 s instead of one of them) for the demo's symbols, following the demo market's prices
 * (src/demo/simulated-market.ts), published on market.books.<SYMBOL>. Driven over IPC:
 *
 *   start  -> started       connect, publish every symbol's first snapshot, then step on schedule
 *   window -> window-open   zero the counters
 *   report -> report        what was published since `window`, and the view changes it made
 *   close                   flush, close, exit
 *
 * Stamps: a book message's `timestamp` is the time its step() was given. The books are stepped on
 * a fixed schedule (every deltaMs from the start, on whole milliseconds, so that the ISO timestamp
 * holds the time exactly) and each step is given its *scheduled* time, on the preciseNow() clock
 * the clients read too. A publisher that falls behind sends what it owes late but stamped on time,
 * so a stall shows up as latency, not as a lower load (as bench/load/publisher.ts does).
 *
 * View changes: each message is also applied to a book of our own with the order_books plugin's
 * arithmetic (plugins/order_books/book.ts), and a change of its top-BOOK_DEPTH view counted: what a
 * "full book on every change" gateway would send, and what an immediate client gets one update for.
 * The deliberate gaps the demo makes are off here: the benchmark measures the steady state.
 */
import { connect } from "@nats-io/transport-node";
import { Book, type BookView, diffViews, type Level } from "../../plugins/order_books/book.js";
import { SimulatedBooks } from "../../src/demo/simulated-books.js";
import { SimulatedMarket } from "../../src/demo/simulated-market.js";
import { preciseNow } from "../lib/now.js";

export type BooksPublisherCommand =
  | {
      type: "start";
      natsUrl: string;
      deltaMs: number;
      snapshotEveryMs: number;
      /** Step every symbol's book on the same tick (the demo's timer) instead of each on its own. */
      inStep?: boolean;
    }
  | { type: "window" }
  | { type: "report" }
  | { type: "close" };

export interface BooksPublisherReport {
  /** Since `window`, over all symbols. */
  deltas: number;
  snapshots: number;
  /** Messages that changed a symbol's top-BOOK_DEPTH view (the rest changed only deeper levels). */
  viewChanges: number;
  /** Upstream message bytes. */
  bytes: number;
  windowMs: number;
  /** How far behind schedule a step ran at worst, in ms. */
  maxLagMs: number;
}

/** The order_books plugin's default depth (ORDER_BOOKS_DEPTH), which the benchmark's gateway runs with. */
export const BOOK_DEPTH = 25;
const PRICES_SUBJECT = "market.prices.";
const BOOKS_SUBJECT = "market.books";
/** The market's own books are not used (ours are stepped on schedule): an hour between their deltas. */
const IDLE_MS = 3_600_000;

let counters = { deltas: 0, snapshots: 0, viewChanges: 0, bytes: 0, maxLagMs: 0 };
let windowAt = preciseNow();
let connection: Awaited<ReturnType<typeof connect>> | undefined;
let market: SimulatedMarket | undefined;
let timer: NodeJS.Timeout | undefined;

/** The plugin's view of each symbol's book, as the gateway keeps it: for counting view changes. */
const mirrors = new Map<string, { book: Book; view: BookView }>();

function mirror(payload: string): void {
  const message = JSON.parse(payload) as {
    symbol: string;
    kind: "snapshot" | "delta";
    bids: Level[];
    asks: Level[];
  };
  if (message.kind === "snapshot") counters.snapshots++;
  else counters.deltas++;
  const held = mirrors.get(message.symbol);
  let book = held?.book;
  if (message.kind === "snapshot" || book === undefined) book = new Book(message.bids, message.asks);
  else book.applyDelta(message.bids, message.asks);
  const view = book.view(BOOK_DEPTH);
  if (held === undefined || diffViews(held.view, view) !== undefined) counters.viewChanges++;
  mirrors.set(message.symbol, { book, view });
}

async function start(command: Extract<BooksPublisherCommand, { type: "start" }>): Promise<string[]> {
  connection = await connect({ servers: command.natsUrl, name: "bench-books-publisher" });
  const nats = connection;
  // The demo market, only for its symbols and their random-walk prices (its price ticks are read
  // here, nothing of it is published): the books follow those prices as they do in the demo.
  const prices = new Map<string, number>();
  market = new SimulatedMarket(
    (subject, payload) => {
      if (!subject.startsWith(PRICES_SUBJECT)) return;
      prices.set(subject.slice(PRICES_SUBJECT.length), (JSON.parse(payload) as { price: number }).price);
    },
    { books: { deltaMs: IDLE_MS, gapEveryMs: 0 } },
  );
  market.start(); // ticks every symbol once, synchronously: `prices` holds them all from here
  const symbols = [...prices.keys()];
  // One SimulatedBooks per symbol, each on its own schedule: upstream books of different symbols
  // are independent, and a real feed does not send them all in the same millisecond. In step (the
  // demo's own timer, one tick for every book) every 50 ms the gateway would get every book's
  // change at once, and the clients 6,000 frames in one burst: that measures the burst, which the
  // `inStep` option keeps available for comparison.
  const offsetOf = (index: number) => (command.inStep ? 0 : (index * command.deltaMs) / symbols.length);
  const startAt = Math.ceil(preciseNow());
  const schedules = symbols.map((symbol, index) => {
    const books = new SimulatedBooks(
      (subject, payload) => {
        nats.publish(subject, payload);
        counters.bytes += payload.length;
        mirror(payload);
      },
      [symbol],
      (name) => prices.get(name) as number,
      {
        deltaMs: command.deltaMs,
        snapshotEveryMs: command.snapshotEveryMs,
        gapEveryMs: 0,
        subject: BOOKS_SUBJECT,
      },
    );
    // start() publishes the first snapshot and sets the book up; its own timer (which would step
    // at whatever time it fires) is stopped at once: the schedule below steps it instead. The
    // snapshots that follow replace the first step due after each period, so they are staggered
    // as the steps are.
    books.start(startAt);
    books.stop();
    // Whole milliseconds, so that the ISO timestamp holds the scheduled time exactly.
    return { books, firstAt: startAt + Math.round(offsetOf(index)), step: 1 };
  });
  const next = () => {
    const now = preciseNow();
    let soonest = Number.POSITIVE_INFINITY;
    for (const schedule of schedules) {
      for (; schedule.firstAt + schedule.step * command.deltaMs <= now; schedule.step++) {
        const scheduled = schedule.firstAt + schedule.step * command.deltaMs;
        counters.maxLagMs = Math.max(counters.maxLagMs, now - scheduled);
        schedule.books.step(scheduled);
      }
      soonest = Math.min(soonest, schedule.firstAt + schedule.step * command.deltaMs);
    }
    timer = setTimeout(next, Math.max(0, soonest - preciseNow()));
  };
  next();
  return symbols;
}

process.on("message", async (command: BooksPublisherCommand) => {
  switch (command.type) {
    case "start":
      process.send?.({ type: "started", symbols: await start(command) });
      break;
    case "window":
      counters = { deltas: 0, snapshots: 0, viewChanges: 0, bytes: 0, maxLagMs: 0 };
      windowAt = preciseNow();
      process.send?.({ type: "window-open" });
      break;
    case "report": {
      const report: BooksPublisherReport = { ...counters, windowMs: preciseNow() - windowAt };
      process.send?.({ type: "report", report });
      break;
    }
    case "close":
      clearTimeout(timer);
      market?.stop();
      await connection?.flush().catch(() => undefined);
      await connection?.close().catch(() => undefined);
      process.exit(0);
  }
});
