/**
 * The state channel's delivery engine (StateDelivery) with the real order_books plugin, driven by
 * random sequences of snapshots, deltas, gaps, redeliveries, slow reads, drains and flushes
 * (fast-check). Whatever the sequence:
 * - every frame a client receives verifies: an update's prev_sequence is the last sequence that
 *   client received for the symbol, and the checksum matches the book it then holds;
 * - once everyone has drained and every interval has flushed, each client holds exactly the
 *   gateway's view of every current book it subscribes to, as a model applying the same upstream
 *   messages by the contract's rules computes it.
 */
import fc from "fast-check";
import pino from "pino";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { Book, bookChecksum, type Level } from "../../plugins/order_books/book.js";
import orderBooks from "../../plugins/order_books/index.js";
import { applyLevels } from "../../src/client/order-book.js";
import type { ClientSession, FrameQueue } from "../../src/core/client-session.js";
import { StateDelivery } from "../../src/core/delivery/state-delivery.js";
import type { AnyStatePlugin, StateChannel } from "../../src/core/plugin.js";
import { SubscriptionIndex } from "../../src/core/subscription-index.js";
import { fakeSession, framePayload } from "../helpers/fake-session.js";

const DEPTH = 3;
const SYMBOLS = ["AAPL", "MSFT"] as const;
const DROP_BYTES = 1_000_000;

interface Frame {
  type: string;
  symbol: string;
  sequence: number;
  prev_sequence?: number;
  bids: Level[];
  asks: Level[];
  checksum: number;
}

/** A client that applies what it receives, as the SDK does, and checks every frame. */
class Client {
  readonly books = new Map<string, { bids: Level[]; asks: Level[]; sequence: number } | undefined>();
  accepting = true;
  readonly session: ClientSession;
  readonly socket: { bufferedAmount: number };

  constructor(
    readonly name: string,
    readonly intervalMs: number | undefined,
  ) {
    const writer: FrameQueue = {
      enqueue: (_session, frame) => {
        if (!this.accepting) return false;
        this.receive(framePayload(frame) as Frame);
        return true;
      },
    };
    const fake = fakeSession({ clientId: name, writer });
    this.session = fake.session;
    this.socket = fake.socket;
    if (intervalMs !== undefined) this.session.intervals = new Map([["order_books", intervalMs]]);
  }

  private receive(frame: Frame): void {
    if (frame.type === "state_status") {
      this.books.set(frame.symbol, undefined);
      return;
    }
    if (frame.type === "order_book_snapshot") {
      this.books.set(frame.symbol, { bids: frame.bids, asks: frame.asks, sequence: frame.sequence });
    } else {
      const book = this.books.get(frame.symbol);
      expect(book, `${this.name}: an update for ${frame.symbol} without a snapshot`).toBeDefined();
      expect(frame.prev_sequence, `${this.name}: ${frame.symbol} chain`).toBe(book?.sequence);
      this.books.set(frame.symbol, {
        bids: applyLevels(book?.bids ?? [], frame.bids, true) as Level[],
        asks: applyLevels(book?.asks ?? [], frame.asks, false) as Level[],
        sequence: frame.sequence,
      });
    }
    const held = this.books.get(frame.symbol);
    expect(bookChecksum({ bids: held?.bids ?? [], asks: held?.asks ?? [] }), `${this.name}: checksum`).toBe(
      frame.checksum,
    );
  }
}

/** What the gateway should hold: the contract's rules applied to the same messages. */
class Model {
  readonly books = new Map<string, { book: Book | undefined; sequence: number; usable: boolean }>();

  take(message: { symbol: string; kind: string; sequence: number; bids: Level[]; asks: Level[] }): void {
    const entry = this.books.get(message.symbol);
    if (message.kind === "snapshot") {
      if (entry !== undefined && message.sequence <= entry.sequence) return;
      this.books.set(message.symbol, {
        book: new Book(message.bids, message.asks),
        sequence: message.sequence,
        usable: true,
      });
      return;
    }
    if (entry === undefined || message.sequence <= entry.sequence || !entry.usable) return;
    if (message.sequence !== entry.sequence + 1) {
      entry.usable = false;
      return;
    }
    entry.book?.applyDelta(message.bids, message.asks);
    entry.sequence = message.sequence;
  }
}

const price = fc.integer({ min: 1, max: 12 }).map((tick) => 100 + tick / 4);
const levels = (minSize: number) =>
  fc.array(fc.tuple(price, fc.integer({ min: minSize, max: 5 })), { maxLength: 6 }) as fc.Arbitrary<Level[]>;
const symbol = fc.constantFrom(...SYMBOLS);
const command = fc.oneof(
  {
    weight: 1,
    arbitrary: fc.record({ op: fc.constant("snapshot" as const), symbol, bids: levels(1), asks: levels(1) }),
  },
  {
    weight: 6,
    arbitrary: fc.record({ op: fc.constant("delta" as const), symbol, bids: levels(0), asks: levels(0) }),
  },
  { weight: 1, arbitrary: fc.record({ op: fc.constant("gap" as const), symbol }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant("redeliver" as const), symbol }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant("slow" as const), client: fc.nat(3) }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant("unblock" as const), client: fc.nat(3) }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant("drain" as const), client: fc.nat(3) }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant("flush" as const) }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant("resubscribe" as const), client: fc.nat(3) }) },
);

describe("StateDelivery with the order_books plugin", () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  it("keeps every client's books verified and, once drained, equal to the gateway's view", () => {
    fc.assert(
      fc.property(fc.array(command, { minLength: 1, maxLength: 80 }), (commands) => {
        const plugin = orderBooks as unknown as AnyStatePlugin;
        const channel: StateChannel = {
          kind: "state",
          plugin,
          settings: { depth: DEPTH },
          subject: "market.books.>",
          staleAfterMs: undefined,
          source: "order_books",
          autoSubscribe: false,
        };
        const index = new SubscriptionIndex(["order_books"], 100);
        // A failure inside a timer's flush is logged, not thrown: the test reads the log.
        const logged: string[] = [];
        const logger = pino({ level: "error" }, { write: (line: string) => logged.push(line) });
        const delivery = new StateDelivery(channel, index, logger, {
          maxKeys: 100,
          dropBytes: DROP_BYTES,
        });
        delivery.start();
        const clients = [
          new Client("immediate-all", undefined),
          new Client("immediate-aapl", undefined),
          new Client("interval-all", 100),
          new Client("interval-msft", 200),
        ];
        const subscribe = (client: Client) => {
          const symbols = client.name.endsWith("aapl")
            ? ["AAPL"]
            : client.name.endsWith("msft")
              ? ["MSFT"]
              : "*";
          index.subscribe(client.session, "order_books", symbols as "*" | string[]);
          delivery.snapshot(client.session, symbols as "*" | string[]);
        };
        for (const client of clients) subscribe(client);
        const model = new Model();
        const sequences = new Map<string, number>();
        const publish = (message: {
          symbol: string;
          kind: string;
          sequence: number;
          bids: Level[];
          asks: Level[];
        }) => {
          model.take(message);
          const parsed = plugin.inbound.safeParse(message);
          if (parsed.success) delivery.accept(parsed.data);
        };
        for (const step of commands) {
          switch (step.op) {
            case "snapshot":
            case "delta": {
              const sequence = (sequences.get(step.symbol) ?? 0) + 1;
              sequences.set(step.symbol, sequence);
              publish({ symbol: step.symbol, kind: step.op, sequence, bids: step.bids, asks: step.asks });
              break;
            }
            case "gap": {
              const sequence = (sequences.get(step.symbol) ?? 0) + 2;
              sequences.set(step.symbol, sequence);
              publish({ symbol: step.symbol, kind: "delta", sequence, bids: [[100.25, 1]], asks: [] });
              break;
            }
            case "redeliver":
              publish({
                symbol: step.symbol,
                kind: "delta",
                sequence: sequences.get(step.symbol) ?? 0,
                bids: [],
                asks: [[102, 1]],
              });
              break;
            case "slow":
              (clients[step.client] as Client).accepting = false;
              (clients[step.client] as Client).socket.bufferedAmount = DROP_BYTES;
              break;
            case "unblock":
              // Frames are taken again, but the queue is still long: not drained enough to resync.
              (clients[step.client] as Client).accepting = true;
              break;
            case "drain":
              (clients[step.client] as Client).accepting = true;
              (clients[step.client] as Client).socket.bufferedAmount = 0;
              vi.advanceTimersByTime(100);
              break;
            case "flush":
              vi.advanceTimersByTime(200);
              break;
            case "resubscribe":
              if ((clients[step.client] as Client).accepting) subscribe(clients[step.client] as Client);
              break;
          }
        }
        // Everyone drains, every interval flushes, and the resync check runs.
        for (const client of clients) {
          client.accepting = true;
          client.socket.bufferedAmount = 0;
        }
        vi.advanceTimersByTime(400);
        for (const client of clients) {
          for (const key of SYMBOLS) {
            if (client.name.endsWith("aapl") && key !== "AAPL") continue;
            if (client.name.endsWith("msft") && key !== "MSFT") continue;
            const expected = model.books.get(key);
            if (expected === undefined || !expected.usable) continue;
            const view = expected.book?.view(DEPTH);
            const held = client.books.get(key);
            expect({ bids: held?.bids, asks: held?.asks }, `${client.name} ${key}`).toEqual({
              bids: view?.bids,
              asks: view?.asks,
            });
          }
        }
        delivery.stop();
        expect(logged, "errors logged by timer flushes").toEqual([]);
      }),
      {
        numRuns: 300,
        examples: [
          [
            // A view that changes and changes back within one interval sends nothing to the
            // interval clients, who still hold the first sequence: the next update chains to it.
            [
              { op: "snapshot", symbol: "AAPL", bids: [[100.5, 1]], asks: [[101, 1]] },
              { op: "flush" },
              { op: "delta", symbol: "AAPL", bids: [[100.5, 2]], asks: [] },
              { op: "delta", symbol: "AAPL", bids: [[100.5, 1]], asks: [] },
              { op: "flush" },
              { op: "delta", symbol: "AAPL", bids: [[100.5, 3]], asks: [] },
              { op: "flush" },
            ],
          ],
          [
            [
              { op: "snapshot", symbol: "AAPL", bids: [[100.5, 1]], asks: [[101, 1]] },
              { op: "slow", client: 0 },
              { op: "delta", symbol: "AAPL", bids: [[100.5, 2]], asks: [] },
              { op: "unblock", client: 0 },
              { op: "delta", symbol: "AAPL", bids: [[100.5, 3]], asks: [] },
            ],
          ],
        ],
      },
    );
  });
});
