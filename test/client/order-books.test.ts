/**
 * The SDK's verified order books (src/client/order-books.ts, wired in gateway-client.ts): every
 * order_book_snapshot and order_book_update is applied to its symbol's book and checked (checksum,
 * chain); a break resubscribes that symbol alone and says so (`resync`); state_status stale marks
 * the book until the next snapshot; books end with their connection and come back from the
 * snapshots of the next one.
 *
 * Against a gateway the test plays frame by frame (a scripted WebSocket, a manual clock), so that
 * each break is exactly the one the test means; the frames are made with the gateway's own book
 * arithmetic (plugins/order_books/book.ts).
 */
import { afterEach, describe, expect, it, vi } from "vitest";
import { Book, type BookView, bookChecksum, diffViews, type Level } from "../../plugins/order_books/book.js";
import {
  GatewayClient,
  type GatewayClientEvents,
  type GatewayClientOptions,
  type OrderBookView,
  type WebSocketConstructor,
  type WebSocketLike,
} from "../../src/client/index.js";
import { ManualClock } from "./helpers/manual-clock.js";

// --- A gateway played by the test ---------------------------------------------------------------

type Listener = (event: object) => void;

/** The client's WebSocket: the test opens it, sends it frames, drops it, and reads what it sent. */
class ScriptedSocket implements WebSocketLike {
  readyState = 0;
  readonly sent: Record<string, unknown>[] = [];
  private readonly listeners = new Map<string, Listener[]>();

  send(data: string): void {
    this.sent.push(JSON.parse(data) as Record<string, unknown>);
  }

  close(code = 1000, reason = ""): void {
    this.drop(code, reason);
  }

  addEventListener(type: string, listener: (event: never) => void): void {
    this.listeners.set(type, [...(this.listeners.get(type) ?? []), listener as Listener]);
  }

  open(): void {
    this.readyState = 1;
    this.fire("open", {});
  }

  receive(frame: unknown): void {
    this.fire("message", { data: JSON.stringify(frame) });
  }

  drop(code = 1006, reason = ""): void {
    if (this.readyState === 3) return;
    this.readyState = 3;
    this.fire("close", { code, reason });
  }

  /** The subscribe frames the client sent for order_books. */
  get bookSubscribes(): Record<string, unknown>[] {
    return this.sent.filter((frame) => frame.type === "subscribe" && frame.channel === "order_books");
  }

  private fire(type: string, event: object): void {
    for (const listener of this.listeners.get(type) ?? []) listener(event);
  }
}

const now = () => new Date().toISOString();

/** The gateway's side of one symbol: its book, and the frames the gateway makes of it. */
class UpstreamBook {
  private readonly book: Book;
  private shown: BookView;
  sequence: number;

  constructor(
    readonly symbol: string,
    bids: Level[],
    asks: Level[],
    sequence = 1000,
    private readonly depth = 25,
  ) {
    this.book = new Book(bids, asks);
    this.shown = this.book.view(depth);
    this.sequence = sequence;
  }

  /** The top-depth view a client should hold now. */
  get view(): BookView {
    return { bids: this.shown.bids.map(([p, s]) => [p, s]), asks: this.shown.asks.map(([p, s]) => [p, s]) };
  }

  snapshot(): Record<string, unknown> {
    return {
      type: "order_book_snapshot",
      symbol: this.symbol,
      sequence: this.sequence,
      ...this.view,
      checksum: bookChecksum(this.shown),
      timestamp: now(),
    };
  }

  /** Apply an upstream delta; the update frame for it (undefined when the view did not change). */
  delta(bids: Level[], asks: Level[] = []): Record<string, unknown> {
    const before = this.shown;
    this.book.applyDelta(bids, asks);
    this.shown = this.book.view(this.depth);
    const changes = diffViews(before, this.shown);
    if (changes === undefined) throw new Error("the test's delta does not change the view");
    const prev = this.sequence++;
    return {
      type: "order_book_update",
      symbol: this.symbol,
      sequence: this.sequence,
      prev_sequence: prev,
      ...changes,
      checksum: bookChecksum(this.shown),
      timestamp: now(),
    };
  }
}

const AAPL_BIDS: Level[] = [
  [150.24, 300],
  [150.23, 100],
  [150.2, 50],
];
const AAPL_ASKS: Level[] = [
  [150.25, 200],
  [150.26, 500],
  [150.3, 75],
];

type Recorded = { [K in keyof GatewayClientEvents]: [K, GatewayClientEvents[K]] }[keyof GatewayClientEvents];
const RECORDED = ["order_book", "resync", "book_stale", "error", "frame"] as const;

/** A client on a scripted gateway, the events that matter here in order, and its sockets. */
function scriptedClient(options: Partial<GatewayClientOptions> = {}) {
  const sockets: ScriptedSocket[] = [];
  const WebSocket = class extends ScriptedSocket {
    constructor() {
      super();
      sockets.push(this);
    }
  } as unknown as WebSocketConstructor;
  const clock = new ManualClock();
  const client = new GatewayClient({
    url: "ws://gateway.test/ws",
    WebSocket,
    clock,
    random: () => 0,
    ...options,
  });
  const events: Recorded[] = [];
  for (const name of RECORDED)
    client.on(name, (payload: unknown) => {
      events.push([name, payload] as Recorded);
    });
  const socket = () => sockets.at(-1) as ScriptedSocket;
  const of = <K extends (typeof RECORDED)[number]>(name: K) =>
    events.filter((event) => event[0] === name).map((event) => event[1]) as GatewayClientEvents[K][];
  return { client, clock, sockets, socket, events, of };
}

/** Open the socket and send the welcome: order_books starts with nothing (not on the default). */
function welcome(socket: ScriptedSocket, extra: Record<string, unknown> = {}): void {
  socket.open();
  socket.receive({
    type: "welcome",
    client_id: "desk-1",
    channels: ["order_books", "price_updates"],
    subscriptions: { order_books: [], price_updates: "*" },
    ping_interval: 30,
    price_update_interval: 3,
    portfolio_update_interval: 5,
    max_message_bytes: 4096,
    timestamp: now(),
    ...extra,
  });
}

/** Answer the client's last order_books subscribe as the gateway does. */
function acknowledge(socket: ScriptedSocket, symbols: string[]): void {
  const request = socket.bookSubscribes.at(-1);
  if (request === undefined) throw new Error("the client sent no order_books subscribe");
  socket.receive({
    type: "subscribed",
    channel: "order_books",
    symbols,
    id: request.id,
    ...(request.interval_ms === undefined ? {} : { interval_ms: request.interval_ms }),
    timestamp: now(),
  });
}

/** A client subscribed to AAPL's book on an open connection, with the gateway's AAPL book. */
function subscribedToAapl(options: Partial<GatewayClientOptions> = {}, interval?: number) {
  const scripted = scriptedClient(options);
  scripted.client.subscribe("order_books", ["AAPL"], interval === undefined ? {} : { intervalMs: interval });
  scripted.client.connect();
  welcome(scripted.socket());
  acknowledge(scripted.socket(), ["AAPL"]);
  const aapl = new UpstreamBook("AAPL", AAPL_BIDS, AAPL_ASKS);
  return { ...scripted, aapl };
}

const levelsOf = (book: OrderBookView | undefined) => book && { bids: book.bids, asks: book.asks };

afterEach(() => {
  vi.unstubAllGlobals();
});

// --- The tests ----------------------------------------------------------------------------------

describe("the SDK's order books, against a scripted gateway", () => {
  it("keeps each symbol's book from its snapshot and updates, verified, and says so after each", () => {
    const { client, socket, aapl, of } = subscribedToAapl();
    expect(client.orderBook("AAPL")).toBeUndefined();

    socket().receive(aapl.snapshot());
    expect(levelsOf(client.orderBook("AAPL"))).toEqual(aapl.view);
    expect(client.orderBook("AAPL")).toMatchObject({ symbol: "AAPL", sequence: 1000, stale: false });

    const updates = [
      aapl.delta([[150.24, 250]]), // a size changes
      aapl.delta([], [[150.25, 0]]), // the best ask leaves
      aapl.delta([[150.245, 10]]), // a better bid arrives
      aapl.delta([[150.2, 0]], [[150.27, 20]]), // both sides at once
    ];
    for (const update of updates) socket().receive(update);

    const book = client.orderBook("AAPL");
    expect(levelsOf(book)).toEqual(aapl.view);
    expect(book?.sequence).toBe(1004);
    expect(book?.asks[0]).toEqual([150.26, 500]);
    expect(book?.bids[0]).toEqual([150.245, 10]);
    expect(of("order_book").map(({ kind, book }) => [kind, book.sequence])).toEqual([
      ["snapshot", 1000],
      ["update", 1001],
      ["update", 1002],
      ["update", 1003],
      ["update", 1004],
    ]);
    // The book is read-only: a frozen view, replaced (not changed) by the next frame.
    expect(Object.isFrozen(book)).toBe(true);
    expect(of("resync")).toEqual([]);
    expect(socket().bookSubscribes).toHaveLength(1);
    // The frames themselves are delivered like any frame, each once.
    expect(of("frame").filter((frame) => frame.type.startsWith("order_book"))).toHaveLength(5);
  });

  it("announces a book after the frame's own events, with the book already up to date for them", () => {
    const { client, socket, aapl, events } = subscribedToAapl();
    let seenByFrameListener: number | undefined;
    client.on("frame", (frame) => {
      if (frame.type === "order_book_update") seenByFrameListener = client.orderBook("AAPL")?.sequence;
    });
    socket().receive(aapl.snapshot());
    events.length = 0;
    socket().receive(aapl.delta([[150.24, 1]]));
    expect(seenByFrameListener).toBe(1001);
    expect(events.map(([name]) => name)).toEqual(["frame", "order_book"]);
  });

  it("on a checksum that does not match: drops the book, resubscribes that symbol alone, and is whole again after the snapshot", () => {
    const { client, socket, aapl, of } = subscribedToAapl();
    socket().receive(aapl.snapshot());
    socket().receive(aapl.delta([[150.24, 250]]));

    const corrupted = { ...aapl.delta([[150.23, 120]]), checksum: 12345 };
    socket().receive(corrupted);
    expect(of("resync")).toEqual([{ channel: "order_books", symbol: "AAPL", reason: "checksum_mismatch" }]);
    expect(client.orderBook("AAPL")).toBeUndefined();
    expect(socket().bookSubscribes.at(-1)).toEqual({
      type: "subscribe",
      channel: "order_books",
      symbols: ["AAPL"],
      id: expect.any(String),
    });

    // Updates still in flight on the broken chain are dropped: nothing is asked twice.
    socket().receive(aapl.delta([[150.23, 130]]));
    socket().receive(aapl.delta([[150.23, 140]]));
    expect(of("resync")).toHaveLength(1);
    expect(socket().bookSubscribes).toHaveLength(2);
    expect(client.orderBook("AAPL")).toBeUndefined();

    // The gateway answers the resubscribe with its ack and a fresh snapshot, then updates again.
    acknowledge(socket(), ["AAPL"]);
    socket().receive(aapl.snapshot());
    socket().receive(aapl.delta([[150.24, 1]]));
    expect(levelsOf(client.orderBook("AAPL"))).toEqual(aapl.view);
    expect(client.orderBook("AAPL")?.sequence).toBe(aapl.sequence);
    expect(client.subscriptions.order_books).toEqual(["AAPL"]);
  });

  it("on a missed update (gap) and on an update before any snapshot, resyncs with that reason", () => {
    const { client, socket, aapl, of } = subscribedToAapl();
    // An update first: the client has no book to apply it to.
    socket().receive(aapl.delta([[150.24, 299]]));
    expect(of("resync")).toEqual([{ channel: "order_books", symbol: "AAPL", reason: "no_snapshot" }]);
    acknowledge(socket(), ["AAPL"]);
    socket().receive(aapl.snapshot());
    expect(client.orderBook("AAPL")?.sequence).toBe(1001);

    aapl.delta([[150.24, 298]]); // lost on the way
    socket().receive(aapl.delta([[150.24, 297]]));
    expect(of("resync").at(-1)).toEqual({ channel: "order_books", symbol: "AAPL", reason: "gap" });
    expect(client.orderBook("AAPL")).toBeUndefined();
    expect(socket().bookSubscribes).toHaveLength(3);
  });

  it("resubscribes with the interval the client chose for the channel", () => {
    const { socket, aapl } = subscribedToAapl({}, 500);
    expect(socket().bookSubscribes[0]).toMatchObject({ symbols: ["AAPL"], interval_ms: 500 });
    socket().receive(aapl.snapshot());
    socket().receive({ ...aapl.delta([[150.24, 1]]), checksum: 0 });
    expect(socket().bookSubscribes[1]).toMatchObject({ symbols: ["AAPL"], interval_ms: 500 });
  });

  it("resyncs one symbol without touching the others", () => {
    const { client, socket, of } = scriptedClient();
    client.subscribe("order_books", ["AAPL", "MSFT"]);
    client.connect();
    welcome(socket());
    acknowledge(socket(), ["AAPL", "MSFT"]);
    const aapl = new UpstreamBook("AAPL", AAPL_BIDS, AAPL_ASKS);
    const msft = new UpstreamBook("MSFT", [[380.1, 10]], [[380.2, 20]], 7);
    socket().receive(aapl.snapshot());
    socket().receive(msft.snapshot());
    socket().receive({ ...msft.delta([[380.1, 11]]), prev_sequence: 3 });
    socket().receive(aapl.delta([[150.24, 1]]));
    expect(of("resync")).toEqual([{ channel: "order_books", symbol: "MSFT", reason: "gap" }]);
    expect(socket().bookSubscribes.at(-1)).toMatchObject({ symbols: ["MSFT"] });
    expect(client.orderBook("MSFT")).toBeUndefined();
    expect(levelsOf(client.orderBook("AAPL"))).toEqual(aapl.view);
  });

  it("marks a book stale on state_status, keeps its last verified levels, and the next snapshot makes it current", () => {
    const { client, socket, aapl, of } = subscribedToAapl();
    socket().receive(aapl.snapshot());
    socket().receive(aapl.delta([[150.24, 250]]));
    const before = client.orderBook("AAPL");
    socket().receive({
      type: "state_status",
      channel: "order_books",
      symbol: "AAPL",
      status: "stale",
      reason: "upstream_gap",
      sequence: 1001,
      timestamp: now(),
    });
    expect(of("book_stale")).toEqual([
      { channel: "order_books", symbol: "AAPL", reason: "upstream_gap", sequence: 1001 },
    ]);
    expect(client.orderBook("AAPL")).toMatchObject({ stale: true, sequence: 1001 });
    expect(levelsOf(client.orderBook("AAPL"))).toEqual(levelsOf(before));
    // Not a break: nothing is resubscribed; the gateway sends the snapshot when the book is usable.
    expect(of("resync")).toEqual([]);
    expect(socket().bookSubscribes).toHaveLength(1);

    aapl.delta([[150.24, 1]]);
    aapl.delta([[150.23, 1]]);
    socket().receive(aapl.snapshot());
    expect(client.orderBook("AAPL")).toMatchObject({ stale: false, sequence: 1003 });
    expect(levelsOf(client.orderBook("AAPL"))).toEqual(aapl.view);
    expect(of("order_book").at(-1)).toMatchObject({ kind: "snapshot", book: { stale: false } });
  });

  it("reports a symbol stale right after its ack, before it has any book", () => {
    const { client, socket, aapl, of } = subscribedToAapl();
    socket().receive({
      type: "state_status",
      channel: "order_books",
      symbol: "AAPL",
      status: "stale",
      reason: "upstream_gap",
      sequence: 999,
      timestamp: now(),
    });
    expect(of("book_stale")).toHaveLength(1);
    expect(client.orderBook("AAPL")).toBeUndefined();
    socket().receive(aapl.snapshot());
    expect(client.orderBook("AAPL")).toMatchObject({ stale: false, sequence: 1000 });
  });

  it("clears the books with the connection and rebuilds them from the next connection's snapshots", () => {
    const { client, clock, sockets, socket, aapl, of } = subscribedToAapl({}, 250);
    socket().receive(aapl.snapshot());
    socket().receive(aapl.delta([[150.24, 250]]));
    expect(client.orderBook("AAPL")).toBeDefined();

    socket().drop();
    expect(client.state).toBe("reconnecting");
    expect(client.orderBook("AAPL")).toBeUndefined();
    clock.advance(0); // the first retry, at once with no jitter (random: 0)
    expect(sockets).toHaveLength(2);
    welcome(socket());
    // The subscription (and its interval) is restored as every subscription is.
    expect(socket().bookSubscribes).toEqual([
      {
        type: "subscribe",
        channel: "order_books",
        symbols: ["AAPL"],
        id: expect.any(String),
        interval_ms: 250,
      },
    ]);
    acknowledge(socket(), ["AAPL"]);
    aapl.delta([[150.23, 5]]); // while the client was away
    socket().receive(aapl.snapshot());
    expect(levelsOf(client.orderBook("AAPL"))).toEqual(aapl.view);
    expect(client.orderBook("AAPL")?.sequence).toBe(1002);
    expect(of("resync")).toEqual([]);
  });

  it("drops a book the client unsubscribed from, and never resubscribes a symbol it left", () => {
    const { client, socket, of } = scriptedClient();
    client.subscribe("order_books", ["AAPL", "MSFT"]);
    client.connect();
    welcome(socket());
    acknowledge(socket(), ["AAPL", "MSFT"]);
    const aapl = new UpstreamBook("AAPL", AAPL_BIDS, AAPL_ASKS);
    const msft = new UpstreamBook("MSFT", [[380.1, 10]], [[380.2, 20]]);
    socket().receive(aapl.snapshot());
    socket().receive(msft.snapshot());

    client.unsubscribe("order_books", ["MSFT"]);
    // An MSFT frame still in flight, and broken: the client left MSFT, nothing is asked.
    socket().receive({ ...msft.delta([[380.1, 1]]), checksum: 1 });
    expect(of("resync")).toEqual([]);
    expect(client.orderBook("MSFT")).toBeUndefined();

    const request = socket().sent.at(-1);
    socket().receive({
      type: "unsubscribed",
      channel: "order_books",
      symbols: ["AAPL"],
      id: request?.id,
      timestamp: now(),
    });
    expect(client.orderBook("AAPL")).toBeDefined();
    socket().receive({ type: "unsubscribed", channel: "order_books", symbols: [], timestamp: now() });
    expect(client.orderBook("AAPL")).toBeUndefined();
  });

  it("refuses an order-book frame it cannot read: an invalid_frame error, not delivered, and the chain breaks", () => {
    const { client, socket, aapl, of } = subscribedToAapl();
    socket().receive(aapl.snapshot());
    const update = aapl.delta([[150.24, 250]]);
    socket().receive({ ...update, bids: [[150.24, "250"]] });
    expect(of("error")).toEqual([
      {
        kind: "invalid_frame",
        message: "Invalid order_book_update frame",
        data: expect.objectContaining({ type: "order_book_update" }),
        issues: [{ path: "bids", message: "Expected an array of [price, size] levels" }],
      },
    ]);
    expect(of("frame").filter((frame) => frame.type === "order_book_update")).toEqual([]);
    // The next one does not continue from what the client has: a gap, and a resync.
    socket().receive(aapl.delta([[150.24, 240]]));
    expect(of("resync")).toEqual([{ channel: "order_books", symbol: "AAPL", reason: "gap" }]);
    expect(client.orderBook("AAPL")).toBeUndefined();
  });

  it("keeps snapshot and updates in order while the channel's frame schema is being fetched", async () => {
    // The welcome announces order_books as a channel this SDK has no types for: its snapshots wait
    // for GET /websocket/channels; its updates (another frame type) must wait behind them.
    let answer: (response: Response) => void = () => {};
    vi.stubGlobal(
      "fetch",
      vi.fn(() => new Promise<Response>((resolve) => (answer = resolve))),
    );
    const { client, socket, of } = scriptedClient();
    client.subscribe("order_books", ["AAPL"]);
    client.connect();
    welcome(socket(), {
      channel_info: {
        order_books: {
          frame_type: "order_book_snapshot",
          update_frame_type: "order_book_update",
          delivery: "state",
        },
      },
    });
    acknowledge(socket(), ["AAPL"]);
    const aapl = new UpstreamBook("AAPL", AAPL_BIDS, AAPL_ASKS);
    socket().receive(aapl.snapshot());
    socket().receive(aapl.delta([[150.24, 250]]));
    socket().receive(aapl.delta([[150.23, 90]]));
    expect(client.orderBook("AAPL")).toBeUndefined();

    answer(
      new Response(
        JSON.stringify({
          order_books: {
            frame_type: "order_book_snapshot",
            update_frame_type: "order_book_update",
            delivery: "state",
            frame_schema: { type: "object" },
          },
        }),
      ),
    );
    await vi.waitFor(() => expect(client.orderBook("AAPL")?.sequence).toBe(1002));
    expect(of("resync")).toEqual([]);
    expect(levelsOf(client.orderBook("AAPL"))).toEqual(aapl.view);
    expect(of("order_book").map(({ kind }) => kind)).toEqual(["snapshot", "update", "update"]);
  });
});
