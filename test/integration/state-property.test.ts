/**
 * Property (issue #19), through a real nats-server and real sockets: whatever the sequence of
 * upstream snapshots, deltas, gaps, redeliveries and deltas before any snapshot, and of clients
 * subscribing late, re-subscribing (some onto another interval) and pausing their reads, every
 * client that applies the order_books frames it receives, in order,
 * - only gets an update that chains (its `prev_sequence` is the last sequence that client got for
 *   the symbol) onto a book it holds (none after a `state_status` stale until a snapshot);
 * - holds, after each frame, exactly the view (top 3) a model of the upstream rules computes at
 *   that frame's `sequence` (a sequence at which the view changed, or of a snapshot), and the
 *   frame's checksum verifies against it (the rule written out, not the gateway's function);
 * - at a `settle` step, comes to hold the model's current view (or nothing, while the book is
 *   stale or before any snapshot) from the frames it gets, without another message upstream, and
 *   a client without interval_ms the model's sequence too (upstream now and then resends the book
 *   unchanged as a snapshot: every gateway must move its clients to that sequence);
 * - once the run's final delta has reached it, holds the model's final view.
 * Each run has a fresh symbol, one immediate client and one with `interval_ms: 100` from the start,
 * plus the late ones; one gateway (depth 3, nothing auto-subscribed) serves every run. The model
 * applies the rules independently of StateDelivery, using plugins/order_books/book.ts for the book
 * arithmetic only.
 *
 * Not reached here: a paused client over loopback is absorbed by the kernel's socket buffers, so
 * the gateway's queue never passes WEBSOCKET_CONFLATED_DROP_BYTES and its skip-and-re-snapshot
 * path stays unused. That path is covered by the in-process property test
 * (test/unit/state-delivery.test.ts) and by "a client that stops reading" in
 * test/integration/order-books.test.ts.
 */
import { isDeepStrictEqual } from "node:util";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { Book, type BookView, type Level } from "../../plugins/order_books/book.js";
import {
  type BookMessage,
  checksumByTheRule,
  bookDelta as delta,
  publishBook,
  bookSnapshot as snapshot,
} from "../helpers/book-messages.js";
import type { Frame, TestClient } from "../helpers/test-client.js";
import { withGateway } from "../helpers/with-gateway.js";

const DEPTH = 3;
/** A size no generated message uses: the run's final delta changes every view anyone can hold. */
const FINAL_SIZE = 99;

const copy = (view: BookView): BookView => ({
  bids: view.bids.map(([price, size]) => [price, size]),
  asks: view.asks.map(([price, size]) => [price, size]),
});

/**
 * The gateway's view of one symbol as the contract's rules give it: a snapshot above the last
 * sequence taken in (or the first one) replaces the book; a delta at the last sequence + 1 of a
 * usable book applies; one past it (a gap) makes the book unusable until the next snapshot; every
 * other message (at or below the last sequence, before any snapshot, while unusable) is ignored.
 */
class Model {
  private book: Book | undefined;
  private started = false;
  /** The last sequence taken in. */
  head = 0;
  usable = false;
  /** The sequence of the last snapshot or of the last delta that changed the view. */
  private emitted = 0;
  private current: BookView = { bids: [], asks: [] };
  /** The view after every message taken in, by its sequence. */
  readonly views = new Map<number, BookView>();
  /** Sequences a frame may carry: snapshots, and deltas that changed the view. */
  readonly emittedAt = new Set<number>();
  /** The sequence a `state_status` stale carries: the emitted one at each gap. */
  readonly staleAt = new Set<number>();

  take(message: BookMessage): void {
    const { kind, sequence, bids, asks } = message;
    if (kind === "snapshot") {
      if (this.started && sequence <= this.head) return;
      this.book = new Book(bids, asks);
      this.started = true;
      this.usable = true;
      this.record(sequence, true);
      return;
    }
    if (!this.started || sequence <= this.head || !this.usable) return;
    if (sequence !== this.head + 1) {
      this.usable = false;
      this.book = undefined;
      this.staleAt.add(this.emitted);
      return;
    }
    this.book?.applyDelta(bids, asks);
    this.record(sequence, false);
  }

  /** The view now (the book is usable). */
  view(): BookView {
    return this.current;
  }

  /** The sequence an immediate client's last frame carries once it has caught up. */
  get emittedSequence(): number {
    return this.emitted;
  }

  /** The whole book now, every level (the book is usable): to send it again as a snapshot. */
  wholeBook(): BookView | undefined {
    return this.usable ? copy((this.book as Book).view(Number.MAX_SAFE_INTEGER)) : undefined;
  }

  private record(sequence: number, snapshot: boolean): void {
    const view = copy((this.book as Book).view(DEPTH));
    this.head = sequence;
    this.views.set(sequence, view);
    if (snapshot || !isDeepStrictEqual(view, this.current)) {
      this.emitted = sequence;
      this.emittedAt.add(sequence);
    }
    this.current = view;
  }
}

/** One side's levels after an update's changes (0: the level left the view), best first. */
function applyChanges(levels: Level[], changes: Level[], bids: boolean, what: string): Level[] {
  const sizes = new Map(levels);
  for (const [price, size] of changes) {
    if (size === 0) {
      expect(sizes.has(price), `${what}: removes ${price}, which it does not hold`).toBe(true);
      sizes.delete(price);
    } else sizes.set(price, size);
  }
  return [...sizes].sort(([a], [b]) => (bids ? b - a : a - b));
}

/** A client's book of the run's symbol, built from its frames as a third party would, and checked. */
class ClientBook {
  bids: Level[] = [];
  asks: Level[] = [];
  sequence: number | undefined;
  /** Holds a book it may apply updates to: a snapshot since the start and since any stale. */
  current = false;

  apply(frame: Frame, model: Model, what: string): void {
    if (frame.type === "state_status") {
      expect(frame, what).toMatchObject({
        channel: "order_books",
        status: "stale",
        reason: "upstream_gap",
      });
      expect(model.staleAt.has(frame.sequence as number), `${what}: stale at a gap's sequence`).toBe(true);
      this.current = false;
      return;
    }
    if (frame.type === "order_book_snapshot") {
      this.bids = frame.bids as Level[];
      this.asks = frame.asks as Level[];
      this.current = true;
    } else {
      expect(this.current, `${what}: an update onto a book it holds`).toBe(true);
      expect(frame.prev_sequence, `${what}: chains to the last frame`).toBe(this.sequence);
      this.bids = applyChanges(this.bids, frame.bids as Level[], true, what);
      this.asks = applyChanges(this.asks, frame.asks as Level[], false, what);
    }
    const sequence = frame.sequence as number;
    this.sequence = sequence;
    expect(model.emittedAt.has(sequence), `${what}: a sequence at which the view changed`).toBe(true);
    expect({ bids: this.bids, asks: this.asks }, `${what}: the model's view`).toEqual(
      model.views.get(sequence),
    );
    expect(checksumByTheRule(this.bids, this.asks), `${what}: checksum verifies`).toBe(frame.checksum);
  }
}

type Levels = { bids: Level[]; asks: Level[] };

type Action =
  /** A snapshot at the last sequence taken in + 1 + skip. */
  | { type: "snapshot"; skip: number; book: Levels }
  /** A delta at the last sequence taken in + 1 (before any snapshot: ignored). */
  | { type: "delta"; book: Levels }
  /** A delta past the next sequence. */
  | { type: "gap"; skip: number; book: Levels }
  /** A message at or below the last sequence taken in. */
  | { type: "redelivery"; kind: "snapshot" | "delta"; back: number; book: Levels }
  /** A new client subscribes now. */
  | { type: "late"; intervalMs: 100 | undefined }
  /** A client subscribes again (onto interval 200, or keeping its own). */
  | { type: "resubscribe"; client: number; intervalMs: 200 | undefined }
  /** A client stops reading for the next `actions` actions. */
  | { type: "pause"; client: number; actions: number }
  /** Every client that reads comes to hold the model's view (interval clients: at their next flush). */
  | { type: "settle" }
  /** Upstream's periodic snapshot of the book as it is: the view does not change. */
  | { type: "same-snapshot" };

/** Bids at 1..6, asks at 7..12, at most 5 levels a side. */
const side = (low: number, high: number, minSize: number) =>
  fc.uniqueArray(fc.tuple(fc.integer({ min: low, max: high }), fc.integer({ min: minSize, max: 3 })), {
    maxLength: 5,
    selector: ([price]) => price,
  }) as fc.Arbitrary<Level[]>;
const snapshotBook = fc.record({ bids: side(1, 6, 1), asks: side(7, 12, 1) });
const deltaBook = fc.record({ bids: side(1, 6, 0), asks: side(7, 12, 0) });

const action: fc.Arbitrary<Action> = fc.oneof(
  {
    weight: 2,
    arbitrary: fc.record({
      type: fc.constant("snapshot" as const),
      skip: fc.integer({ min: 0, max: 2 }),
      book: snapshotBook,
    }),
  },
  { weight: 6, arbitrary: fc.record({ type: fc.constant("delta" as const), book: deltaBook }) },
  {
    weight: 2,
    arbitrary: fc.record({
      type: fc.constant("gap" as const),
      skip: fc.integer({ min: 1, max: 3 }),
      book: deltaBook,
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      type: fc.constant("redelivery" as const),
      kind: fc.constantFrom("snapshot" as const, "delta" as const),
      back: fc.integer({ min: 0, max: 3 }),
      book: snapshotBook,
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      type: fc.constant("late" as const),
      intervalMs: fc.constantFrom(undefined, 100 as const),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      type: fc.constant("resubscribe" as const),
      client: fc.nat(7),
      intervalMs: fc.constantFrom(undefined, 200 as const),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      type: fc.constant("pause" as const),
      client: fc.nat(7),
      actions: fc.integer({ min: 1, max: 6 }),
    }),
  },
  { weight: 1, arbitrary: fc.record({ type: fc.constant("settle" as const) }) },
  { weight: 1, arbitrary: fc.record({ type: fc.constant("same-snapshot" as const) }) },
);

/** Deltas published before the run's first action: before any snapshot of the symbol. */
const early = fc.array(fc.record({ sequence: fc.integer({ min: 0, max: 5 }), book: deltaBook }), {
  maxLength: 2,
});

const isBookFrame = (frame: Frame) =>
  frame.type === "order_book_snapshot" || frame.type === "order_book_update" || frame.type === "state_status";

/** One client of a run: its book holds the frames up to `applied` (an index into client.frames). */
interface Reader {
  name: string;
  client: TestClient;
  book: ClientBook;
  applied: number;
  /** Paused: the index of the action before which it reads again. */
  resumeAt: number | undefined;
  /** Its interval_ms, undefined for every change at once. */
  intervalMs: number | undefined;
}

describe("order_books property: real nats-server, real sockets", () => {
  const stack = withGateway({ env: { ORDER_BOOKS_DEPTH: String(DEPTH), WEBSOCKET_AUTO_SUBSCRIBE: "false" } });
  let runs = 0;

  it("every client applying its frames holds the gateway's view, and every checksum verifies", async () => {
    const started = Date.now();
    await fc.assert(
      fc.asyncProperty(
        early,
        fc.array(action, { minLength: 4, maxLength: 20, size: "max" }),
        async (before, actions) => {
          const symbol = `PROP${runs++}`;
          const model = new Model();
          const readers: Reader[] = [];
          const publish = async (message: BookMessage) => {
            model.take(message);
            publishBook(stack.publisher, message);
            await stack.publisher.flush();
          };
          const subscribe = async (name: string, intervalMs: number | undefined) => {
            const client = await stack.connect();
            const extra = intervalMs === undefined ? {} : { interval_ms: intervalMs };
            const ack = await client.request({
              type: "subscribe",
              channel: "order_books",
              symbols: [symbol],
              ...extra,
            });
            expect(ack).toMatchObject({ type: "subscribed", channel: "order_books", symbols: [symbol] });
            readers.push({
              name,
              client,
              book: new ClientBook(),
              applied: 0,
              resumeAt: undefined,
              intervalMs,
            });
          };
          /** Apply (and check) every frame of the symbol the reader has received and not applied yet. */
          const catchUp = (reader: Reader) => {
            const { client, book, name } = reader;
            while (reader.applied < client.frames.length) {
              const position = reader.applied++;
              const frame = client.frames[position] as Frame;
              if (isBookFrame(frame) && frame.symbol === symbol)
                book.apply(frame, model, `${symbol} ${name} frame ${position} ${JSON.stringify(frame)}`);
            }
          };
          /**
           * Does the reader hold what the model holds: the view, or nothing (no book yet, or stale)?
           * An immediate reader also holds its sequence: that of the last snapshot or view change,
           * as every gateway on the subject sends it.
           */
          const holdsModel = ({ book, intervalMs }: Reader) =>
            model.usable
              ? book.current &&
                isDeepStrictEqual({ bids: book.bids, asks: book.asks }, model.view()) &&
                (intervalMs !== undefined || book.sequence === model.emittedSequence)
              : !book.current;
          /** Wait for frames until the reader holds what the model holds. */
          const settle = async (reader: Reader) => {
            for (catchUp(reader); !holdsModel(reader); catchUp(reader))
              await reader.client.next().catch((error: Error) => {
                const held = { bids: reader.book.bids, asks: reader.book.asks, current: reader.book.current };
                const wanted = model.usable ? model.view() : "no book";
                throw new Error(
                  `${symbol} ${reader.name} holds ${JSON.stringify(held)}, not ${JSON.stringify(wanted)}: ${error.message}`,
                );
              });
          };
          const resume = (reader: Reader) => {
            if (reader.resumeAt === undefined) return;
            reader.client.socket.resume();
            reader.resumeAt = undefined;
          };
          try {
            await subscribe("immediate", undefined);
            await subscribe("interval-100", 100);
            for (const { sequence, book } of before)
              await publish(delta(symbol, sequence, book.bids, book.asks));
            for (const [index, step] of actions.entries()) {
              for (const reader of readers)
                if (reader.resumeAt !== undefined && reader.resumeAt <= index) resume(reader);
              const next = model.head + 1;
              switch (step.type) {
                case "snapshot":
                  await publish(snapshot(symbol, next + step.skip, step.book.bids, step.book.asks));
                  break;
                case "delta":
                  await publish(delta(symbol, next, step.book.bids, step.book.asks));
                  break;
                case "gap":
                  await publish(delta(symbol, next + step.skip, step.book.bids, step.book.asks));
                  break;
                case "redelivery": {
                  const sequence = Math.max(0, model.head - step.back);
                  const message = step.kind === "snapshot" ? snapshot : delta;
                  await publish(message(symbol, sequence, step.book.bids, step.book.asks));
                  break;
                }
                case "late":
                  await subscribe(
                    `late-${index}${step.intervalMs === undefined ? "" : "-100"}`,
                    step.intervalMs,
                  );
                  break;
                case "resubscribe": {
                  const reader = readers[step.client % readers.length] as Reader;
                  const frame = {
                    type: "subscribe",
                    channel: "order_books",
                    symbols: [symbol],
                    ...(step.intervalMs === undefined ? {} : { interval_ms: step.intervalMs }),
                  };
                  // A paused client cannot read its ack yet: it reads it once it resumes.
                  if (reader.resumeAt !== undefined) reader.client.send(frame);
                  else expect(await reader.client.request(frame)).toMatchObject({ type: "subscribed" });
                  reader.intervalMs = step.intervalMs;
                  break;
                }
                case "pause": {
                  const reader = readers[step.client % readers.length] as Reader;
                  if (reader.resumeAt === undefined) reader.client.socket.pause();
                  reader.resumeAt = index + 1 + step.actions;
                  break;
                }
                case "settle":
                  await Promise.all(readers.filter((reader) => reader.resumeAt === undefined).map(settle));
                  break;
                case "same-snapshot": {
                  const whole = model.wholeBook();
                  if (whole !== undefined) await publish(snapshot(symbol, next, whole.bids, whole.asks));
                  break;
                }
              }
            }
            for (const reader of readers) resume(reader);

            // The final state, known and usable, and a delta that changes every view anyone holds.
            if (!model.usable) await publish(snapshot(symbol, model.head + 1, [[5, 1]], [[8, 1]]));
            const best = model.view().bids[0];
            const final = model.head + 1;
            await publish(delta(symbol, final, [[best === undefined ? 6 : best[0], FINAL_SIZE]], []));
            expect(model.usable && model.head === final).toBe(true);
            await Promise.all(
              readers.map(({ client }) =>
                client.next(
                  undefined,
                  (frame) => isBookFrame(frame) && frame.symbol === symbol && frame.sequence === final,
                ),
              ),
            );
            for (const reader of readers) {
              catchUp(reader);
              const { name, client, book } = reader;
              expect(
                client.frames.filter((frame) => frame.type === "error"),
                name,
              ).toEqual([]);
              expect({ bids: book.bids, asks: book.asks, sequence: book.sequence }, `${name} ends`).toEqual({
                ...model.view(),
                sequence: final,
              });
            }
          } finally {
            for (const reader of readers) resume(reader);
            await Promise.all(readers.map(({ client }) => client.close()));
          }
        },
      ),
      { numRuns: 25, interruptAfterTimeLimit: 45_000, markInterruptAsFailure: true },
    );
    expect(Date.now() - started).toBeLessThan(50_000);
  }, 55_000);
});
