/**
 * The order_books state channel through a real nats-server and real sockets: snapshots then
 * checksummed updates, the top-`depth` view, sequencing (redeliveries, deltas before a snapshot,
 * gaps told in-band), invalid payloads counted, per-interval merging, the auto-subscribe default
 * left alone, and two gateways fed by one subject sending the same positions and checksums.
 */
import type { Socket } from "node:net";
import { crc32 } from "node:zlib";
import { describe, expect, it } from "vitest";
import { applyLevels } from "../../src/client/order-book.js";
import {
  BOOK_UPSTREAM,
  type BookMessage,
  checksumByTheRule,
  bookDelta as delta,
  type Level,
  publishBook,
  bookSnapshot as snapshot,
} from "../helpers/book-messages.js";
import { startGateway, upstreamMessages, waitUntilReady } from "../helpers/gateway.js";
import type { Frame, TestClient } from "../helpers/test-client.js";
import { withGateway } from "../helpers/with-gateway.js";

/** The issue's own example: a snapshot at 1001 and a delta at 1002 (the plugin's examples). */
const { snapshot: SNAPSHOT, delta: DELTA } = BOOK_UPSTREAM;

/** A client's book of one symbol, built from its frames as a third party would. */
class ClientBook {
  bids: Level[] = [];
  asks: Level[] = [];
  sequence: number | undefined;

  apply(frame: Frame): void {
    if (frame.type === "order_book_snapshot") {
      this.bids = frame.bids as Level[];
      this.asks = frame.asks as Level[];
    } else {
      expect(frame.prev_sequence, "update chains to the last frame").toBe(this.sequence);
      this.bids = applyLevels(this.bids, frame.bids as Level[], true) as Level[];
      this.asks = applyLevels(this.asks, frame.asks as Level[], false) as Level[];
    }
    this.sequence = frame.sequence as number;
    expect(checksumByTheRule(this.bids, this.asks), "checksum verifies").toBe(frame.checksum);
  }
}

const isBook = (frame: Frame) => frame.type === "order_book_snapshot" || frame.type === "order_book_update";

describe("order_books: a state channel", () => {
  const stack = withGateway({ env: { ORDER_BOOKS_DEPTH: "3" } });

  const publish = async (...messages: Parameters<typeof publishBook>[1][]) => {
    for (const message of messages) publishBook(stack.publisher, message);
    await stack.publisher.flush();
  };
  const subscribed = async (symbols: string[], extra: Record<string, unknown> = {}): Promise<TestClient> => {
    const client = await stack.connect();
    const ack = await client.request({ type: "subscribe", channel: "order_books", symbols, ...extra });
    expect(ack).toMatchObject({ type: "subscribed", channel: "order_books", symbols });
    return client;
  };
  /** Publish a snapshot, subscribe to its symbol, and wait for the snapshot the client gets. */
  const subscribedAfter = async (first: BookMessage): Promise<TestClient> => {
    await publish(first);
    const client = await subscribed([first.symbol]);
    await client.next("order_book_snapshot");
    return client;
  };
  const stateEvents = async (): Promise<Record<string, number>> => {
    const text = await (await fetch(`${stack.running.httpUrl}/metrics`)).text();
    const events: Record<string, number> = {};
    for (const match of text.matchAll(
      /^gateway_state_events_total\{channel="order_books",event="(\w+)"\} (\d+)$/gm,
    ))
      events[match[1] as string] = Number(match[2]);
    return events;
  };

  it("is not in the auto-subscribe default: a client that never subscribes gets no book", async () => {
    const idle = await stack.connect();
    const welcome = idle.frames[0] as Frame;
    expect((welcome.subscriptions as Record<string, unknown>).order_books).toEqual([]);
    expect((welcome.channel_info as Record<string, unknown>).order_books).toEqual({
      frame_type: "order_book_snapshot",
      update_frame_type: "order_book_update",
      delivery: "state",
      settings: { depth: 3 },
    });
    await subscribedAfter(snapshot("IDLE", 1, [[10, 1]], [[11, 1]]));
    // A ping answered after the snapshot went out: nothing of the book reached the idle client.
    await idle.drainUntilPong();
    expect(idle.frames.filter(isBook)).toEqual([]);
  });

  it("sends a snapshot, then updates that turn the view at prev_sequence into the view at sequence", async () => {
    await publish(SNAPSHOT);
    const client = await subscribed(["AAPL"]);
    expect(await client.next("order_book_snapshot")).toEqual({
      type: "order_book_snapshot",
      symbol: "AAPL",
      sequence: 1001,
      bids: [
        [150.24, 300],
        [150.23, 100],
      ],
      asks: [
        [150.25, 200],
        [150.26, 500],
      ],
      // The example string: 150.25:200,150.26:500|150.24:300,150.23:100
      checksum: crc32("150.25:200,150.26:500|150.24:300,150.23:100"),
      timestamp: "2024-12-19T12:00:00Z",
    });
    await publish(DELTA);
    expect(await client.next("order_book_update")).toEqual({
      type: "order_book_update",
      symbol: "AAPL",
      sequence: 1002,
      prev_sequence: 1001,
      bids: [[150.24, 0]],
      asks: [[150.25, 250]],
      checksum: crc32("150.25:250,150.26:500|150.23:100"),
      timestamp: "2024-12-19T12:00:00.1Z",
    });
  });

  it("shows the top depth levels: a level pushed out is sent with size 0, one coming up with its size", async () => {
    await publish(
      snapshot(
        "DEEP",
        1,
        [
          [9, 1],
          [8, 1],
          [7, 1],
          [6, 1],
        ],
        [
          [10, 1],
          [11, 1],
          [12, 1],
          [13, 1],
        ],
      ),
    );
    const client = await subscribed(["DEEP"]);
    const first = await client.next("order_book_snapshot");
    expect(first).toMatchObject({
      bids: [
        [9, 1],
        [8, 1],
        [7, 1],
      ],
      asks: [
        [10, 1],
        [11, 1],
        [12, 1],
      ],
    });
    const book = new ClientBook();
    book.apply(first);
    // A better bid pushes 7 out of the view; removing ask 10 brings 13 up into it.
    await publish(delta("DEEP", 2, [[9.5, 2]], [[10, 0]]));
    const update = await client.next("order_book_update");
    expect(update).toMatchObject({
      sequence: 2,
      prev_sequence: 1,
      bids: [
        [9.5, 2],
        [7, 0],
      ],
      asks: [
        [10, 0],
        [13, 1],
      ],
    });
    book.apply(update);
    // A change below the view sends nothing; the next update chains to the last one sent.
    await publish(delta("DEEP", 3, [[6, 5]], []), delta("DEEP", 4, [], [[11, 3]]));
    const next = await client.next("order_book_update");
    expect(next).toMatchObject({ sequence: 4, prev_sequence: 2, bids: [], asks: [[11, 3]] });
    book.apply(next);
  });

  it("ignores and counts redeliveries and deltas before any snapshot", async () => {
    const before = await stateEvents();
    await publish(delta("EARLY", 5, [[1, 1]], []));
    const client = await subscribedAfter(snapshot("REDO", 10, [[1, 1]], [[2, 1]]));
    await publish(
      delta("REDO", 10, [[1, 9]], []),
      delta("REDO", 9, [[1, 8]], []),
      delta("REDO", 11, [[1, 2]], []),
    );
    // The first update the client sees is 11's: 10 and 9 were ignored.
    expect(await client.next("order_book_update")).toMatchObject({
      sequence: 11,
      prev_sequence: 10,
      bids: [[1, 2]],
    });
    await expect.poll(stateEvents).toMatchObject({
      before_snapshot: (before.before_snapshot ?? 0) + 1,
      redelivered: (before.redelivered ?? 0) + 2,
    });
  });

  it("makes a book stale on a gap, says so in-band, and starts again from the next snapshot", async () => {
    const client = await subscribedAfter(snapshot("GAP", 1, [[5, 1]], [[6, 1]]));
    await publish(
      delta("GAP", 2, [[5, 2]], []),
      delta("GAP", 4, [[5, 4]], []),
      delta("GAP", 5, [[5, 5]], []),
    );
    expect(await client.next("order_book_update")).toMatchObject({ sequence: 2 });
    const stale = await client.next("state_status");
    expect(stale).toEqual({
      type: "state_status",
      channel: "order_books",
      symbol: "GAP",
      status: "stale",
      reason: "upstream_gap",
      sequence: 2,
      timestamp: expect.stringMatching(/Z$/),
    });
    // A client subscribing now is told the same, after its ack.
    const late = await subscribed(["GAP"]);
    expect(await late.next("state_status")).toMatchObject({ symbol: "GAP", sequence: 2 });
    await publish(snapshot("GAP", 9, [[5, 9]], [[6, 9]]));
    for (const each of [client, late])
      expect(await each.next("order_book_snapshot")).toMatchObject({
        symbol: "GAP",
        sequence: 9,
        bids: [[5, 9]],
      });
    // Nothing went out for 4 and 5.
    expect(client.frames.filter(isBook).map((frame) => frame.sequence)).toEqual([1, 2, 9]);
    expect((await stateEvents()).gap).toBeGreaterThanOrEqual(1);
  });

  it("counts invalid payloads in the stream's error_count and drops them", async () => {
    const status = async () =>
      (
        (await (await fetch(`${stack.running.httpUrl}/websocket/status`)).json()) as {
          stream_health: Record<string, { error_count: number }>;
        }
      ).stream_health.order_books?.error_count;
    const before = (await status()) as number;
    const seen = await upstreamMessages(stack.running, "order_books");
    // A snapshot size of 0, a negative price, a missing sequence.
    await publish(snapshot("BAD", 1, [[1, 0]], []), snapshot("BAD", 1, [[-1, 1]], []), {
      symbol: "BAD",
      kind: "delta",
      bids: [],
      asks: [],
    });
    await expect.poll(() => upstreamMessages(stack.running, "order_books")).toBe(seen + 3);
    expect(await status()).toBe(before + 3);
  });

  it("merges each interval's updates into one per symbol, chained to the client's previous frame", async () => {
    await publish(snapshot("MERGE", 1, [[1, 1]], [[2, 1]]));
    const client = await subscribed(["MERGE"], { interval_ms: 200 });
    const book = new ClientBook();
    book.apply(await client.next("order_book_snapshot"));
    await publish(
      delta("MERGE", 2, [[1, 2]], []),
      delta("MERGE", 3, [[1, 3]], []),
      delta("MERGE", 4, [], [[2, 4]]),
    );
    const merged = await client.next("order_book_update");
    expect(merged).toMatchObject({ sequence: 4, prev_sequence: 1, bids: [[1, 3]], asks: [[2, 4]] });
    book.apply(merged);
    await publish(delta("MERGE", 5, [[1, 5]], []));
    const next = await client.next("order_book_update");
    expect(next).toMatchObject({ sequence: 5, prev_sequence: 4 });
    book.apply(next);
  });

  it("starts again from a snapshot on a re-subscribe, and on a subscribe with since", async () => {
    await publish(snapshot("AGAIN", 1, [[1, 1]], [[2, 1]]), delta("AGAIN", 2, [[1, 2]], []));
    const client = await subscribed(["AGAIN"]);
    const types = (frames: Frame[]) => frames.map((frame) => `${frame.type}:${frame.sequence ?? ""}`);
    expect(types(await client.drainUntilPong())).toEqual(["order_book_snapshot:2"]);
    for (const extra of [{}, { since: { seq: 1, epoch: "any" } }]) {
      client.send({ type: "subscribe", channel: "order_books", symbols: ["AGAIN"], ...extra });
      expect(types(await client.drainUntilPong())).toEqual(["subscribed:", "order_book_snapshot:2"]);
    }
  });

  it("two gateways fed by one subject send the same sequences, levels and checksums", async () => {
    const other = await startGateway({ NATS_URL: stack.nats.url, ORDER_BOOKS_DEPTH: "3" });
    stack.track(other);
    await waitUntilReady(other);
    const first = await subscribed(["TWIN"]);
    const second = await stack.connect({ url: other.wsUrl });
    await second.request({ type: "subscribe", channel: "order_books", symbols: ["TWIN"] });
    await publish(
      snapshot(
        "TWIN",
        100,
        [
          [3, 1],
          [2, 1],
        ],
        [[4, 1]],
      ),
    );
    for (let sequence = 101; sequence <= 120; sequence++)
      await publish(
        delta(
          "TWIN",
          sequence,
          [[1 + (sequence % 5) / 10, sequence % 3]],
          [[4 + (sequence % 4) / 10, 1 + (sequence % 2)]],
        ),
      );
    // The last one changes the best ask, so it shows in both views.
    await publish(delta("TWIN", 121, [], [[4, 99]]));
    const last = async (client: TestClient) => {
      await client.next(undefined, (frame) => isBook(frame) && frame.sequence === 121);
      return client.frames.filter(isBook).map(({ timestamp: _time, ...frame }) => frame);
    };
    const [one, two] = await Promise.all([last(first), last(second)]);
    expect(one).toEqual(two);
    const book = new ClientBook();
    for (const frame of first.frames.filter(isBook)) book.apply(frame);
  });

  it("a gateway started mid-stream agrees with one that ran before it, from its first snapshot on", async () => {
    const bids: Level[] = [
      [3, 1],
      [2, 1],
      [1, 1],
    ];
    const asks: Level[] = [
      [4, 1],
      [5, 1],
      [6, 1],
    ];
    const early = await subscribed(["LATE"]);
    await publish(snapshot("LATE", 200, bids, asks));
    await early.next("order_book_snapshot");
    // Deltas below the top 3: the early gateway's clients see no change, and last heard of 200.
    for (let sequence = 201; sequence <= 205; sequence++)
      await publish(delta("LATE", sequence, [[0.5, sequence]], [[9, sequence]]));
    const other = await startGateway({ NATS_URL: stack.nats.url, ORDER_BOOKS_DEPTH: "3" });
    stack.track(other);
    await waitUntilReady(other);
    const late = await stack.connect({ url: other.wsUrl });
    await late.request({ type: "subscribe", channel: "order_books", symbols: ["LATE"] });
    // The upstream's periodic snapshot: the same book as after 205, so the same top 3. The newer
    // gateway starts from it; the older one moves its clients to it too (a snapshot frame).
    await publish(snapshot("LATE", 206, [...bids, [0.5, 205]], [...asks, [9, 205]]));
    await publish(delta("LATE", 207, [], [[4, 7]]));
    const since206 = async (client: TestClient) => {
      await client.next(undefined, (frame) => isBook(frame) && frame.sequence === 207);
      return client.frames.filter((frame) => isBook(frame) && (frame.sequence as number) >= 206);
    };
    const [fromEarly, fromLate] = await Promise.all([since206(early), since206(late)]);
    expect(fromEarly).toEqual(fromLate);
    expect(fromEarly.map(({ type, sequence, prev_sequence }) => [type, sequence, prev_sequence])).toEqual([
      ["order_book_snapshot", 206, undefined],
      ["order_book_update", 207, 206],
    ]);
    // A client that subscribes now gets the same snapshot from either.
    const [joinEarly, joinLate] = await Promise.all(
      [stack.running.wsUrl, other.wsUrl].map(async (url) => {
        const client = await stack.connect({ url });
        await client.request({ type: "subscribe", channel: "order_books", symbols: ["LATE"] });
        return client.next("order_book_snapshot");
      }),
    );
    expect(joinEarly).toEqual(joinLate);
    expect(joinEarly).toMatchObject({ sequence: 207 });
    const book = new ClientBook();
    for (const frame of early.frames.filter(isBook)) book.apply(frame);
  });
});

describe("order_books: a client that stops reading", () => {
  const stack = withGateway({
    env: {
      WEBSOCKET_AUTO_SUBSCRIBE: "false",
      WEBSOCKET_MAX_BUFFERED_BYTES: String(1024 * 1024),
      WEBSOCKET_CONFLATED_DROP_BYTES: String(256 * 1024),
    },
  });

  it("is skipped while behind, never disconnected, and gets a fresh snapshot once it has drained", async () => {
    const { running, publisher } = stack;
    const witness = await stack.connect({ query: { client_id: "witness" } });
    const slow = await stack.connect({ query: { client_id: "slow" } });
    for (const client of [witness, slow])
      await client.request({ type: "subscribe", channel: "order_books", symbols: ["SLOW"] });
    // 25 bids and 25 asks, every one changing on every delta: large updates fill a backlog fast.
    const side = (base: number, step: number, size: number): Level[] =>
      Array.from({ length: 25 }, (_, level) => [base + step * level, size]);
    let sequence = 1;
    publishBook(publisher, snapshot("SLOW", 1, side(99, -0.01, 1), side(100, 0.01, 1)));
    await witness.next("order_book_snapshot");
    const raw = (client: TestClient) => (client.socket as unknown as { _socket: Socket })._socket;
    raw(slow).pause();
    const session = running.gateway.endpoint.clients.get("slow");
    const resyncs = async () => {
      const text = await (await fetch(`${running.httpUrl}/metrics`)).text();
      return Number(
        /^gateway_state_events_total\{channel="order_books",event="resync"\} (\d+)$/m.exec(text)?.[1] ?? 0,
      );
    };
    // Publish until the gateway has skipped updates for it (its queue past the drop threshold).
    for (let batch = 0; batch < 200 && (session?.socket.bufferedAmount ?? 0) <= 256 * 1024; batch++) {
      for (let i = 0; i < 200; i++) {
        sequence++;
        publishBook(publisher, delta("SLOW", sequence, side(99, -0.01, sequence), side(100, 0.01, sequence)));
      }
      await witness.next("order_book_update", (frame) => frame.sequence === sequence, 10_000);
    }
    expect(session?.socket.bufferedAmount).toBeGreaterThan(256 * 1024);
    // A few more while it is behind: skipped for it, not queued.
    for (let i = 0; i < 5; i++) {
      sequence++;
      publishBook(publisher, delta("SLOW", sequence, side(99, -0.01, sequence), side(100, 0.01, sequence)));
    }
    await witness.next("order_book_update", (frame) => frame.sequence === sequence, 10_000);
    const before = await resyncs();
    raw(slow).resume();
    // Drained: a snapshot at the latest sequence, and the book goes on from there.
    await slow.next("order_book_snapshot", (frame) => frame.sequence === sequence, 20_000);
    expect(await resyncs()).toBe(before + 1);
    sequence++;
    publishBook(publisher, delta("SLOW", sequence, [[99, 7]], []));
    await slow.next("order_book_update", (frame) => frame.sequence === sequence);
    expect(session?.closing).toBe(false);
    // Every frame it got, in order, chained and verified; it ends on the witness's view.
    const book = new ClientBook();
    for (const frame of slow.frames.filter(isBook)) book.apply(frame);
    await witness.next("order_book_update", (frame) => frame.sequence === sequence);
    const seen = new ClientBook();
    for (const frame of witness.frames.filter(isBook)) seen.apply(frame);
    expect({ bids: book.bids, asks: book.asks }).toEqual({ bids: seen.bids, asks: seen.asks });
  }, 60_000);

  it("shows 25 levels a side by default (ORDER_BOOKS_DEPTH), fields in the contract's order", async () => {
    const side = (base: number, step: number): Level[] =>
      Array.from({ length: 30 }, (_, level) => [base + step * level, level + 1]);
    const bids = side(99, -1);
    const asks = side(100, 1);
    publishBook(stack.publisher, snapshot("DEPTH", 1, bids, asks));
    await stack.publisher.flush();
    const client = await stack.connect();
    await client.request({ type: "subscribe", channel: "order_books", symbols: ["DEPTH"] });
    const first = await client.next("order_book_snapshot");
    expect(first).toMatchObject({ bids: bids.slice(0, 25), asks: asks.slice(0, 25) });
    expect(Object.keys(first)).toEqual([
      "type",
      "symbol",
      "sequence",
      "bids",
      "asks",
      "checksum",
      "timestamp",
    ]);
    // The best bid leaves: the 26th comes into view, the update says both.
    publishBook(stack.publisher, delta("DEPTH", 2, [[99, 0]], []));
    const update = await client.next("order_book_update");
    expect(update).toMatchObject({
      bids: [
        [99, 0],
        [74, 26],
      ],
      asks: [],
    });
    expect(Object.keys(update)).toEqual([
      "type",
      "symbol",
      "sequence",
      "prev_sequence",
      "bids",
      "asks",
      "checksum",
      "timestamp",
    ]);
    const book = new ClientBook();
    for (const frame of client.frames.filter(isBook)) book.apply(frame);
    expect(book.bids).toEqual(bids.slice(1, 26));
  });
});
