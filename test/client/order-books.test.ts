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
import {
  type BookMessage,
  bookDelta,
  bookSnapshot,
  forgedUpdate,
  publishBook,
  snapshotFrame,
  updateFrame,
} from "../helpers/book-messages.js";
import { waitForIngest } from "../helpers/gateway.js";
import { withGateway } from "../helpers/with-gateway.js";
import { ManualClock } from "./helpers/manual-clock.js";
import { openThroughProxy } from "./helpers/sdk.js";
import { webSocketFrame } from "./helpers/tcp-proxy.js";

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

  /** Every level of the book, as upstream would send it in a snapshot. */
  get whole(): BookView {
    return this.book.view(Number.MAX_SAFE_INTEGER);
  }

  /** The top-depth view a client should hold now. */
  get view(): BookView {
    return { bids: this.shown.bids.map(([p, s]) => [p, s]), asks: this.shown.asks.map(([p, s]) => [p, s]) };
  }

  snapshot(): Record<string, unknown> {
    return snapshotFrame(this.symbol, this.sequence, this.view, now());
  }

  /** Apply an upstream delta; the update frame for it (undefined when the view did not change). */
  delta(bids: Level[], asks: Level[] = []): Record<string, unknown> {
    const before = this.shown;
    this.book.applyDelta(bids, asks);
    this.shown = this.book.view(this.depth);
    const changes = diffViews(before, this.shown);
    if (changes === undefined) throw new Error("the test's delta does not change the view");
    const prev = this.sequence++;
    return updateFrame(this.symbol, this.sequence, prev, changes, bookChecksum(this.shown), now());
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

/**
 * A client subscribed to these books on an open connection (acknowledged), with the gateway's
 * AAPL and MSFT books.
 */
function subscribedTo(symbols: string[], { options = {}, interval, msftSequence }: SubscribedOptions = {}) {
  const scripted = scriptedClient(options);
  scripted.client.subscribe("order_books", symbols, interval === undefined ? {} : { intervalMs: interval });
  scripted.client.connect();
  welcome(scripted.socket());
  acknowledge(scripted.socket(), symbols);
  const aapl = new UpstreamBook("AAPL", AAPL_BIDS, AAPL_ASKS);
  const msft = new UpstreamBook("MSFT", [[380.1, 10]], [[380.2, 20]], msftSequence);
  return { ...scripted, aapl, msft };
}

interface SubscribedOptions {
  options?: Partial<GatewayClientOptions>;
  /** The channel's interval the client asks for (intervalMs). */
  interval?: number;
  /** Where the gateway's MSFT book starts (default 1000). */
  msftSequence?: number;
}

/** A client subscribed to AAPL's book on an open connection, with the gateway's AAPL book. */
const subscribedToAapl = (options: Partial<GatewayClientOptions> = {}, interval?: number) =>
  subscribedTo(["AAPL"], { options, interval });

/** The gateway's state_status: AAPL's book is stale (upstream skipped an update) after `sequence`. */
const aaplStale = (sequence: number) => ({
  type: "state_status",
  channel: "order_books",
  symbol: "AAPL",
  status: "stale",
  reason: "upstream_gap",
  sequence,
  timestamp: now(),
});

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
    const { client, socket, of, aapl, msft } = subscribedTo(["AAPL", "MSFT"], { msftSequence: 7 });
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
    socket().receive(aaplStale(1001));
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
    socket().receive(aaplStale(999));
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
    const { client, socket, of, aapl, msft } = subscribedTo(["AAPL", "MSFT"]);
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

  it("never applies a frame that fails its schema: an invalid_frame error, and the chain breaks there", () => {
    const { client, socket, aapl, of } = subscribedToAapl();
    socket().receive(aapl.snapshot());
    const update = aapl.delta([[150.24, 250]]);
    socket().receive({ ...update, bids: [[150.24, "250"]] });
    expect(of("error")).toEqual([
      {
        kind: "invalid_frame",
        message: "Invalid order_book_update frame",
        data: expect.objectContaining({ type: "order_book_update" }),
        issues: [expect.objectContaining({ path: "bids.0.1" })],
      },
    ]);
    expect(client.orderBook("AAPL")?.sequence).toBe(1000);
    // The next one does not continue from what the client has: a gap, and a resync.
    socket().receive(aapl.delta([[150.24, 240]]));
    expect(of("resync")).toEqual([{ channel: "order_books", symbol: "AAPL", reason: "gap" }]);
    expect(client.orderBook("AAPL")).toBeUndefined();
  });

  it("applies the frames of the symbols it asked for when order_books is on the gateway's default, before the ack", () => {
    // A gateway configured to auto-subscribe order_books: until it has applied the client's own
    // subscription, the SDK hides the other symbols' frames but must keep those of its own.
    const { client, socket, of } = scriptedClient();
    client.subscribe("order_books", ["AAPL"]);
    client.connect();
    welcome(socket(), { subscriptions: { order_books: "*", price_updates: "*" } });
    const aapl = new UpstreamBook("AAPL", AAPL_BIDS, AAPL_ASKS);
    const msft = new UpstreamBook("MSFT", [[380.1, 10]], [[380.2, 20]]);
    socket().receive(msft.snapshot());
    socket().receive(aapl.snapshot());
    acknowledge(socket(), ["AAPL"]);
    socket().receive(aapl.delta([[150.24, 1]]));
    expect(client.orderBook("MSFT")).toBeUndefined();
    expect(client.orderBook("AAPL")?.sequence).toBe(1001);
    expect(of("resync")).toEqual([]);
  });

  it("keeps a state channel's snapshot and updates in order while its frame schema is being fetched", async () => {
    // A state channel this SDK has no types for: the welcome names its snapshot frame type, whose
    // frames wait for GET /websocket/channels; its updates (another type) must wait behind them.
    let answer: (response: Response) => void = () => {};
    vi.stubGlobal(
      "fetch",
      vi.fn(() => new Promise<Response>((resolve) => (answer = resolve))),
    );
    const { client, socket, of } = scriptedClient();
    client.subscribe("depth", ["AAPL"]);
    client.connect();
    const info = { frame_type: "depth_snapshot", update_frame_type: "depth_update", delivery: "state" };
    welcome(socket(), { channels: ["depth", "order_books"], channel_info: { depth: info } });
    socket().receive({ type: "subscribed", channel: "depth", symbols: ["AAPL"], timestamp: now() });
    for (const [type, sequence] of [
      ["depth_snapshot", 1],
      ["depth_update", 2],
      ["depth_update", 3],
    ] as const)
      socket().receive({ type, symbol: "AAPL", sequence });
    expect(of("frame").map(({ type }) => type)).toEqual(["welcome", "subscribed"]);

    answer(new Response(JSON.stringify({ depth: { ...info, frame_schema: { type: "object" } } })));
    await vi.waitFor(() => expect(of("frame")).toHaveLength(5));
    expect(of("frame").map((frame) => `${frame.type} ${(frame as { sequence?: number }).sequence}`)).toEqual([
      "welcome undefined",
      "subscribed undefined",
      "depth_snapshot 1",
      "depth_update 2",
      "depth_update 3",
    ]);
  });
});

// --- Against a real gateway ---------------------------------------------------------------------

/** The events of the SDK's books, in order, awaitable like ClientRecorder's. */
class BookEvents {
  readonly books: GatewayClientEvents["order_book"][] = [];
  readonly resyncs: GatewayClientEvents["resync"][] = [];
  readonly stale: GatewayClientEvents["book_stale"][] = [];
  /** Every applied frame's checksum compared with the book the SDK holds right after it. */
  readonly verified: boolean[] = [];
  private waiters: (() => void)[] = [];

  constructor(sdk: GatewayClient) {
    let last: Record<string, unknown> | undefined;
    sdk.on("frame", (frame) => {
      if (frame.type === "order_book_snapshot" || frame.type === "order_book_update")
        last = frame as Record<string, unknown>;
    });
    sdk.on("order_book", (event) => {
      const { book } = event;
      this.verified.push(
        last?.sequence === book.sequence &&
          last.checksum === bookChecksum({ bids: [...book.bids], asks: [...book.asks] } as BookView),
      );
      this.push(this.books, event);
    });
    sdk.on("resync", (event) => this.push(this.resyncs, event));
    sdk.on("book_stale", (event) => this.push(this.stale, event));
  }

  /** Resolves once `list` has an entry that matches (those already there count). */
  async until<T>(list: T[], match: (entry: T) => boolean, timeoutMs = 10_000): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = list.find(match);
      if (found !== undefined) return found;
      const remaining = deadline - Date.now();
      if (remaining <= 0)
        throw new Error(
          `timed out; books at ${this.books.map(({ book }) => book.sequence).join(", ")}; resyncs ${JSON.stringify(this.resyncs)}`,
        );
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, remaining);
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  private push<T>(list: T[], entry: T): void {
    list.push(entry);
    for (const wake of this.waiters.splice(0)) wake();
  }
}

describe("the SDK's order books, against a real gateway", () => {
  const stack = withGateway();
  /** Upstream messages published on market.books.* in this suite (what the gateway has taken in). */
  let published = 0;

  /** Publish a book message upstream and wait until the gateway has taken it in. */
  async function publish(message: BookMessage): Promise<void> {
    publishBook(stack.publisher, message);
    await waitForIngest(stack.running, stack.publisher, "order_books", ++published);
  }

  const publishSnapshot = ({ symbol, sequence, whole }: UpstreamBook) =>
    publish(bookSnapshot(symbol, sequence, whole.bids, whole.asks));

  /** Publish a delta that changes the view; `upstream` (the test's copy) moves with it. */
  function publishDelta(upstream: UpstreamBook, bids: Level[], asks: Level[] = []): Promise<void> {
    upstream.delta(bids, asks);
    return publish(bookDelta(upstream.symbol, upstream.sequence, bids, asks));
  }

  /**
   * `count` deltas of every kind on both sides (a size changed, a level added, the worst level
   * removed), around the book's best prices at the start; each changes the view.
   */
  async function publishDeltas(upstream: UpstreamBook, count: number): Promise<void> {
    const cents = (price: number) => Math.round(price * 100);
    const bestBid = cents((upstream.view.bids[0] as Level)[0]);
    const bestAsk = cents((upstream.view.asks[0] as Level)[0]);
    /** The side's worst level removed, or (one level left) a level added below it. */
    const shrink = (side: Level[], away: number): Level =>
      side.length > 1 ? [(side.at(-1) as Level)[0], 0] : [(cents((side[0] as Level)[0]) + away) / 100, 5];
    for (let step = 1; step <= count; step++) {
      const { bids, asks } = upstream.view;
      const offset = step % 6;
      // Sizes from the sequence: never the size a level already has, however often this runs.
      const bid: Level = [(bestBid - offset) / 100, upstream.sequence * 10 + 1];
      const ask: Level = [(bestAsk + offset) / 100, upstream.sequence * 10 + 3];
      switch (step % 4) {
        case 0:
          await publishDelta(upstream, [bid]);
          break;
        case 1:
          await publishDelta(upstream, [], [ask]);
          break;
        case 2:
          await publishDelta(upstream, [shrink(bids, -1)]);
          break;
        default:
          await publishDelta(upstream, [bid], [shrink(asks, 1)]);
      }
    }
  }

  /** An SDK client through a relay, subscribed to `symbol`'s book, and the events of its books. */
  async function subscribedClient(symbol: string, intervalMs?: number) {
    const client = await openThroughProxy(stack);
    const books = new BookEvents(client.sdk);
    client.sdk.subscribe("order_books", [symbol], intervalMs === undefined ? {} : { intervalMs });
    await client.events.next("subscribed", (ack) => ack.channel === "order_books");
    return { ...client, books };
  }

  const viewOf = (book: OrderBookView | undefined) => book && { bids: [...book.bids], asks: [...book.asks] };

  it("keeps the book the gateway shows, every snapshot and update verified against the gateway's checksum", async () => {
    const aapl = new UpstreamBook("AAPL", AAPL_BIDS, AAPL_ASKS, 5000);
    await publishSnapshot(aapl);
    const { sdk, events, books } = await subscribedClient("AAPL");
    await books.until(books.books, ({ kind }) => kind === "snapshot");
    expect(viewOf(sdk.orderBook("AAPL"))).toEqual(aapl.view);

    await publishDeltas(aapl, 40);
    await books.until(books.books, ({ book }) => book.sequence === aapl.sequence);
    expect(viewOf(sdk.orderBook("AAPL"))).toEqual(aapl.view);
    expect(sdk.orderBook("AAPL")).toMatchObject({ symbol: "AAPL", sequence: 5040, stale: false });
    // One snapshot, then one update per delta, each checked against the gateway's own checksum.
    expect(books.books.map(({ kind }) => kind)).toEqual(["snapshot", ...Array(40).fill("update")]);
    expect(books.verified).toEqual(Array(41).fill(true));
    expect(books.resyncs).toEqual([]);
    expect(events.all("error")).toEqual([]);
  });

  it("a corrupted chain (a frame injected by a relay): resync, a resubscribe, and a book consistent again", async () => {
    const msft = new UpstreamBook(
      "MSFT",
      [
        [380.1, 10],
        [380, 40],
      ],
      [
        [380.2, 20],
        [380.3, 60],
      ],
      70,
    );
    await publishSnapshot(msft);
    const { sdk, events, books, proxy } = await subscribedClient("MSFT", 100);
    await books.until(books.books, ({ kind }) => kind === "snapshot");
    await publishDeltas(msft, 5);
    await books.until(books.books, ({ book }) => book.sequence === msft.sequence);

    // A frame the gateway never sent: it continues the chain, but its checksum is wrong.
    const forged = forgedUpdate("MSFT", msft.sequence, [[380.15, 1]]);
    proxy.inject(webSocketFrame(Buffer.from(JSON.stringify(forged))));
    expect(await books.until(books.resyncs, () => true)).toEqual({
      channel: "order_books",
      symbol: "MSFT",
      reason: "checksum_mismatch",
    });
    expect(sdk.orderBook("MSFT")).toBeUndefined();

    // The gateway answers the resubscribe (the channel's interval kept) with a fresh snapshot.
    const ack = await events.next("subscribed", (frame) => frame.channel === "order_books");
    expect(ack).toMatchObject({ symbols: ["MSFT"], interval_ms: 100 });
    await books.until(books.books, () => books.books.filter(({ kind }) => kind === "snapshot").length === 2);
    expect(viewOf(sdk.orderBook("MSFT"))).toEqual(msft.view);

    await publishDeltas(msft, 8);
    await books.until(books.books, ({ book }) => book.sequence === msft.sequence);
    expect(viewOf(sdk.orderBook("MSFT"))).toEqual(msft.view);
    expect(books.resyncs).toHaveLength(1);
    expect(books.verified.every(Boolean)).toBe(true);
  });

  it("an upstream gap: the book is stale (state_status), also for a client subscribing meanwhile, until the next snapshot", async () => {
    const goog = new UpstreamBook("GOOG", [[170.1, 5]], [[170.2, 7]], 300);
    await publishSnapshot(goog);
    const { sdk, books } = await subscribedClient("GOOG");
    await publishDeltas(goog, 3);
    await books.until(books.books, ({ book }) => book.sequence === goog.sequence);

    // Upstream skips a sequence: the gateway stops GOOG's updates and says so.
    const lastGood = goog.sequence;
    await publish(bookDelta("GOOG", lastGood + 2, [[170.05, 1]], []));
    expect(await books.until(books.stale, () => true)).toEqual({
      channel: "order_books",
      symbol: "GOOG",
      reason: "upstream_gap",
      sequence: lastGood,
    });
    expect(sdk.orderBook("GOOG")).toMatchObject({ stale: true, sequence: lastGood });
    expect(viewOf(sdk.orderBook("GOOG"))).toEqual(goog.view);

    // A client that subscribes now is told at once, and has no book yet.
    const late = await subscribedClient("GOOG");
    await late.books.until(late.books.stale, () => true);
    expect(late.sdk.orderBook("GOOG")).toBeUndefined();

    // Upstream's next snapshot makes the book current again, for both.
    goog.sequence = lastGood + 2;
    goog.delta([[170.08, 2]]); // the test's copy only (now at lastGood + 3): the snapshot carries it
    await publishSnapshot(goog);
    for (const client of [{ sdk, books }, late]) {
      await client.books.until(client.books.books, ({ book }) => book.sequence === goog.sequence);
      expect(client.sdk.orderBook("GOOG")).toMatchObject({ stale: false, sequence: goog.sequence });
      expect(viewOf(client.sdk.orderBook("GOOG"))).toEqual(goog.view);
    }
    await publishDeltas(goog, 3);
    await books.until(books.books, ({ book }) => book.sequence === goog.sequence);
    expect(viewOf(sdk.orderBook("GOOG"))).toEqual(goog.view);
    expect(books.resyncs).toEqual([]);
    expect(books.verified.every(Boolean)).toBe(true);
  });

  it("after a reconnection the book is rebuilt from the new connection's snapshot", async () => {
    const tsla = new UpstreamBook(
      "TSLA",
      [
        [250.5, 3],
        [250.4, 9],
      ],
      [[250.6, 4]],
      10,
    );
    await publishSnapshot(tsla);
    const { sdk, events, books, proxy } = await subscribedClient("TSLA");
    await publishDeltas(tsla, 4);
    await books.until(books.books, ({ book }) => book.sequence === tsla.sequence);

    proxy.dropAll();
    await events.next("closed");
    expect(sdk.orderBook("TSLA")).toBeUndefined();
    await events.next("open");
    // Restored like every subscription; the gateway answers with a snapshot.
    expect(await events.next("subscribed", (ack) => ack.channel === "order_books")).toMatchObject({
      symbols: ["TSLA"],
    });
    await books.until(books.books, () => books.books.filter(({ kind }) => kind === "snapshot").length === 2);
    expect(viewOf(sdk.orderBook("TSLA"))).toEqual(tsla.view);

    await publishDeltas(tsla, 4);
    await books.until(books.books, ({ book }) => book.sequence === tsla.sequence);
    expect(viewOf(sdk.orderBook("TSLA"))).toEqual(tsla.view);
    expect(books.resyncs).toEqual([]);
    expect(books.verified.every(Boolean)).toBe(true);
  });
});
