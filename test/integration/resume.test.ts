/**
 * Positions and resume on the lossless channels, against a real nats-server with JetStream, the
 * real gateway and real sockets: every trade frame carries seq and epoch; a client that comes back
 * with `since` gets exactly what it missed, in order, then live frames; what cannot be honoured is
 * answered with `recovered: false` and a reason.
 */
import { jetstreamManager } from "@nats-io/jetstream";
import { headers } from "@nats-io/transport-node";
import { beforeAll, describe, expect, it } from "vitest";
import { epochOfIdentity, MEMORY_EPOCH, STREAM_EPOCH, streamEpochOf } from "../helpers/epochs.js";
import type { RunningGateway } from "../helpers/gateway.js";
import { LinkCutter } from "../helpers/link-cutter.js";
import { INVALID_MESSAGE_REPLY } from "../helpers/seed-frames.js";
import type { Frame, TestClient } from "../helpers/test-client.js";
import { signToken, TEST_SECRET } from "../helpers/tokens.js";
import { withGateway } from "../helpers/with-gateway.js";

const TRADES = "execution.trades.test";
const ISO_UTC = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;
/** A channel's stream status while the gateway is on NATS (trades: no staleness threshold). */
const LIVE = { status: "live", since: expect.stringMatching(ISO_UTC) };

// What the tests start runs until the file ends: a test counts the live consumers of them all.
const stack = withGateway({
  jetstream: true,
  gateway: false,
  closeAfterEach: false,
  env: { WEBSOCKET_AUTO_SUBSCRIBE: "false" },
});
/** Every gateway this file started. */
const gateways: RunningGateway[] = [];
/** trade_id of the next trade published in this file: positions are shared by every test. */
let nextTrade = 0;

async function gateway(env: Record<string, string> = {}): Promise<RunningGateway> {
  const running = await stack.startGateway(env);
  gateways.push(running);
  return running;
}

function connect(running: RunningGateway, query = ""): Promise<TestClient> {
  return stack.connect({ url: `${running.wsUrl}${query}` });
}

interface TradeOptions {
  symbol?: string;
  account?: string;
}

/** Publish trades t-<n>, ...; returns their trade_ids. */
function publishTrades(count: number, options: TradeOptions = {}): string[] {
  const ids: string[] = [];
  for (let i = 0; i < count; i++) {
    const id = `t-${nextTrade++}`;
    ids.push(id);
    stack.publisher.publish(
      TRADES,
      JSON.stringify({
        symbol: options.symbol ?? "AAPL",
        side: "BUY",
        quantity: 1,
        price: 100,
        trade_id: id,
        ...(options.account ? { account: options.account } : {}),
      }),
    );
  }
  return ids;
}

/** Trade frames received until (and including) the one with trade_id `last`. */
async function tradesUntil(client: TestClient, last: string, timeoutMs = 10_000): Promise<Frame[]> {
  const frames: Frame[] = [];
  for (;;) {
    const frame = await client.next("trade_executed", () => true, timeoutMs);
    frames.push(frame);
    if (frame.trade_id === last) return frames;
  }
}

const ids = (frames: Frame[]) => frames.map((frame) => frame.trade_id);
const seqs = (frames: Frame[]) => frames.map((frame) => frame.seq as number);

function expectStrictlyIncreasing(values: number[]): void {
  for (let i = 1; i < values.length; i++) expect(values[i]).toBeGreaterThan(values[i - 1] as number);
}

/** A deterministic pseudo-random sequence, so that a failure can be replayed from its seed. */
function random(seed: number): () => number {
  let state = seed;
  return () => {
    state = (state * 1103515245 + 12345) % 2 ** 31;
    return state / 2 ** 31;
  };
}

describe("positions", () => {
  it("stamps every trade with seq and the stream's short epoch; welcome and acks name the head, the ack the stream", async () => {
    const running = await gateway();
    const client = await connect(running);
    const welcome = client.frames[0] as Frame;
    const positions = welcome.positions as Record<string, { seq: number; epoch: string }>;
    // 12 characters: a hash of the stream's name and creation time, which the ack names in full.
    const { identity, epoch } = await streamEpochOf(
      await jetstreamManager(stack.publisher),
      "GATEWAY_TRADES",
    );
    expect(epoch).toMatch(STREAM_EPOCH);
    expect(positions.trades).toEqual({ seq: expect.any(Number), epoch });
    const head = positions.trades?.seq as number;

    const ack = await client.request({ type: "subscribe", channel: "trades" }, "s1");
    expect(ack).toEqual({
      type: "subscribed",
      channel: "trades",
      symbols: "*",
      position: { seq: head, epoch, stream: identity },
      stream_status: LIVE,
      id: "s1",
      timestamp: expect.stringMatching(ISO_UTC),
    });
    const published = publishTrades(3);
    const frames = await tradesUntil(client, published[2] as string);
    expect(frames).toEqual(
      published.map((tradeId, i) => ({
        type: "trade_executed",
        symbol: "AAPL",
        side: "BUY",
        quantity: 1,
        price: 100,
        trade_id: tradeId,
        // No upstream timestamp: the time JetStream stored the trade, the same on every instance.
        timestamp: expect.stringMatching(ISO_UTC),
        seq: head + 1 + i,
        epoch,
      })),
    );
    // On the wire: the frame ends with its position, the epoch in its short form.
    expect(JSON.stringify(frames[0])).toMatch(new RegExp(`,"seq":${head + 1},"epoch":"${epoch}"}$`));
  });
});

describe("resume after a disconnect", () => {
  it("1,000 trades across a disconnect of random length: the missed ones in order, then live, once each", async () => {
    const seed = Date.now() % 100_000;
    const next = random(seed);
    const running = await gateway();
    const first = await connect(running);
    await first.request({ type: "subscribe", channel: "trades" });
    const total = 1000;
    const cutAfter = 50 + Math.floor(next() * 850);
    const awayMs = Math.floor(next() * 300);

    // Publish at a steady pace (10 trades every 5 ms) while the client comes and goes.
    const published: string[] = [];
    const publishing = (async () => {
      while (published.length < total) {
        published.push(...publishTrades(Math.min(10, total - published.length)));
        await stack.publisher.flush();
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
    })();

    const before: Frame[] = [];
    while (before.length < cutAfter) before.push(await first.next("trade_executed"));
    first.socket.terminate();
    await first.waitForClose();
    await new Promise((resolve) => setTimeout(resolve, awayMs)); // the time the client is away
    const last = before.at(-1) as Frame;

    const second = await connect(running);
    const ack = await second.request({
      type: "subscribe",
      channel: "trades",
      since: { seq: last.seq, epoch: last.epoch },
    });
    expect(ack, `seed ${seed}`).toMatchObject({ type: "subscribed", channel: "trades", recovered: true });
    expect(ack.reason).toBeUndefined();
    await publishing;
    const after = await tradesUntil(second, published.at(-1) as string);

    const received = [...before, ...after];
    expect(ids(received), `seed ${seed}: cut after ${cutAfter}, away ${awayMs} ms`).toEqual(published);
    expectStrictlyIncreasing(seqs(received));
    const replayed = second.frames.find((frame) => frame.type === "replayed") as Frame;
    expect(replayed).toMatchObject({ channel: "trades", position: ack.position });
    // The replay ends exactly where the ack said, and live frames follow it.
    const replayEnd = second.frames.indexOf(replayed);
    const replayedTrades = second.frames
      .slice(0, replayEnd)
      .filter((frame) => frame.type === "trade_executed");
    expect(replayed.count).toBe(replayedTrades.length);
    expect(
      replayedTrades.every((frame) => (frame.seq as number) <= (ack.position as { seq: number }).seq),
    ).toBe(true);
  });

  it("replays from JetStream what the in-memory ring no longer holds, and leaves no replay consumer behind", async () => {
    const running = await gateway({ WEBSOCKET_HISTORY_SIZE: "20" });
    const client = await connect(running);
    await client.request({ type: "subscribe", channel: "trades" });
    const seen = publishTrades(5);
    const frames = await tradesUntil(client, seen[4] as string);
    const mark = frames[1] as Frame;
    const missed = publishTrades(300);
    await tradesUntil(client, missed.at(-1) as string);

    const back = await connect(running);
    const ack = await back.request({
      type: "subscribe",
      channel: "trades",
      since: { seq: mark.seq, epoch: mark.epoch },
    });
    expect(ack).toMatchObject({ recovered: true });
    const replay = await tradesUntil(back, missed.at(-1) as string);
    expect(ids(replay)).toEqual([...seen.slice(2), ...missed]);
    expectStrictlyIncreasing(seqs(replay));
    // Byte for byte the frames live delivery sent: same timestamp, seq and epoch.
    expect(replay.slice(0, 3)).toEqual(frames.slice(2));
    expect(await back.next("replayed")).toMatchObject({ count: 303 });

    const jsm = await jetstreamManager(stack.publisher);
    const consumers = await jsm.consumers.list("GATEWAY_TRADES").next();
    // One live consumer per gateway on this stream, and no replay consumer left.
    expect(consumers.length).toBe(gateways.length);
  });

  it("a position saved before epochs were short (the stream's identity as epoch) still resumes, in the short epoch", async () => {
    const running = await gateway();
    const client = await connect(running);
    const ack = await client.request({ type: "subscribe", channel: "trades" });
    const { epoch, stream } = ack.position as { epoch: string; stream: string };
    const seen = publishTrades(3);
    const mark = (await tradesUntil(client, seen[2] as string))[0] as Frame;
    const missed = publishTrades(2);
    await tradesUntil(client, missed[1] as string);

    const back = await connect(running);
    const resumed = await back.request({
      type: "subscribe",
      channel: "trades",
      since: { seq: mark.seq, epoch: stream },
    });
    expect(resumed).toMatchObject({ recovered: true, position: { epoch, stream } });
    const replay = await tradesUntil(back, missed[1] as string);
    expect(ids(replay)).toEqual([...seen.slice(1), ...missed]);
    expect(new Set(replay.map((frame) => frame.epoch))).toEqual(new Set([epoch]));
    expect(await back.next("replayed")).toMatchObject({ count: 4, position: { epoch, stream } });
  });

  it("clients resuming together from one position share one read of the stream: one replay consumer, every client exact", async () => {
    const running = await gateway({ WEBSOCKET_HISTORY_SIZE: "20" });
    const client = await connect(running);
    await client.request({ type: "subscribe", channel: "trades" });
    const seen = publishTrades(5);
    const mark = (await tradesUntil(client, seen[4] as string))[1] as Frame;
    // 33 positions after the mark: the ring holds the newest 20, the stream the 13 before them.
    const missed = publishTrades(30);
    await tradesUntil(client, missed.at(-1) as string);

    const storm = await Promise.all(Array.from({ length: 10 }, () => connect(running)));
    // All ten subscribes in one tick: the resumes overlap at the gateway.
    for (const [index, each] of storm.entries())
      each.send({
        type: "subscribe",
        channel: "trades",
        since: { seq: mark.seq, epoch: mark.epoch },
        id: index,
      });
    for (const each of storm) {
      expect(await each.next("subscribed")).toMatchObject({ recovered: true });
      expect(ids(await tradesUntil(each, missed.at(-1) as string))).toEqual([...seen.slice(2), ...missed]);
      expect(await each.next("replayed")).toMatchObject({ count: 33 });
    }
    const metrics = await (await fetch(`${running.httpUrl}/metrics`)).text();
    expect(metrics).toContain("\ngateway_jetstream_replay_consumers_peak 1\n");
  });

  it("a client on the auto-subscribe default that sends since never gets a frame twice", async () => {
    const running = await gateway({ WEBSOCKET_AUTO_SUBSCRIBE: "true" });
    const first = await connect(running);
    const early = publishTrades(10);
    const got = await tradesUntil(first, early[9] as string);
    first.socket.terminate();
    await first.waitForClose();
    const missed = publishTrades(10);
    await stack.publisher.flush();

    const back = await connect(running);
    // Live trades reach it on the default before its since is read.
    const live = publishTrades(10);
    await tradesUntil(back, live[9] as string);
    const mark = got[4] as Frame;
    await back.request({ type: "subscribe", channel: "trades", since: { seq: mark.seq, epoch: mark.epoch } });
    await back.next("replayed");
    const more = publishTrades(1);
    await tradesUntil(back, more[0] as string);
    const received = back.frames.filter((frame) => frame.type === "trade_executed");
    expect(new Set(ids(received)).size).toBe(received.length);
    expect([...ids(received)].sort()).toEqual([...early.slice(5), ...missed, ...live, ...more].sort());
  });
});

describe("what cannot be resumed is said plainly", () => {
  let running: RunningGateway;
  let client: TestClient;
  let head: { seq: number; epoch: string };
  /** The stream's identity, NAME@created, as refusals name it beside the epoch. */
  let identity: string;

  beforeAll(async () => {
    running = await gateway({ WEBSOCKET_MAX_REPLAY: "10" });
    ({ identity } = await streamEpochOf(await jetstreamManager(stack.publisher), "GATEWAY_TRADES"));
    client = await connect(running);
    publishTrades(20);
    await stack.publisher.flush();
    const ack = await client.request({ type: "subscribe", channel: "trades" });
    head = ack.position as { seq: number; epoch: string };
    // Make sure the head includes the 20 just published.
    const probe = publishTrades(1);
    // The probe is the last frame: some of the 20 may still reach this client live before it.
    const frame = (await tradesUntil(client, probe[0] as string)).at(-1) as Frame;
    head = { seq: frame.seq as number, epoch: frame.epoch as string };
  });

  const refusal = (reason: string) => ({
    type: "subscribed",
    channel: "trades",
    symbols: "*",
    position: { seq: expect.any(Number), epoch: epochOfIdentity(identity), stream: identity },
    stream_status: LIVE,
    recovered: false,
    reason,
    id: expect.anything(),
    timestamp: expect.stringMatching(ISO_UTC),
  });

  it("another epoch: epoch_mismatch, in the short form and in the long one of earlier releases", async () => {
    for (const epoch of [epochOfIdentity("GATEWAY_TRADES@old"), "GATEWAY_TRADES@old"]) {
      const ack = await client.request({ type: "subscribe", channel: "trades", since: { seq: 1, epoch } });
      expect(ack).toEqual(refusal("epoch_mismatch"));
    }
  });

  it("a position beyond the head: ahead_of_head", async () => {
    const ack = await client.request({
      type: "subscribe",
      channel: "trades",
      since: { seq: head.seq + 1000, epoch: head.epoch },
    });
    expect(ack).toEqual(refusal("ahead_of_head"));
  });

  it("more than WEBSOCKET_MAX_REPLAY messages after it: replay_limit", async () => {
    const ack = await client.request({
      type: "subscribe",
      channel: "trades",
      since: { seq: head.seq - 11, epoch: head.epoch },
    });
    expect(ack).toEqual(refusal("replay_limit"));
    // A fresh connection: this one was already sent those trades, and is never sent them twice.
    const fresh = await connect(running);
    const within = await fresh.request({
      type: "subscribe",
      channel: "trades",
      since: { seq: head.seq - 10, epoch: head.epoch },
    });
    expect({ recovered: within.recovered, reason: within.reason }).toEqual({ recovered: true });
    expect(await fresh.next("replayed")).toMatchObject({ count: 10 });
  });

  it("older than what is kept: too_old (in-memory history)", async () => {
    const memory = await gateway({ NATS_JETSTREAM: "off", WEBSOCKET_HISTORY_SIZE: "5" });
    const watcher = await connect(memory);
    const ack = await watcher.request({ type: "subscribe", channel: "trades" });
    // In memory: a random epoch of this process, and no stream to name.
    expect(ack.position).toEqual({ seq: 0, epoch: expect.stringMatching(MEMORY_EPOCH) });
    const published = publishTrades(8);
    const frames = await tradesUntil(watcher, published[7] as string);
    expect(seqs(frames)).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    const epoch = frames[0]?.epoch;
    const back = await connect(memory);
    const tooOld = await back.request({ type: "subscribe", channel: "trades", since: { seq: 2, epoch } });
    expect(tooOld).toMatchObject({ recovered: false, reason: "too_old" });
    const other = await connect(memory);
    const kept = await other.request({ type: "subscribe", channel: "trades", since: { seq: 3, epoch } });
    expect(kept).toMatchObject({ recovered: true });
    expect(ids(await tradesUntil(other, published[7] as string))).toEqual(published.slice(3));
  });

  it.each([
    ["a negative seq", { seq: -1, epoch: "e" }],
    ["a fractional seq", { seq: 1.5, epoch: "e" }],
    ["no epoch", { seq: 1 }],
    ["an empty epoch", { seq: 1, epoch: "" }],
  ])("a malformed since (%s) is INVALID_MESSAGE on any channel", async (_case, since) => {
    for (const channel of ["trades", "price_updates"]) {
      const reply = await client.request({ type: "subscribe", channel, since });
      expect(reply).toEqual(INVALID_MESSAGE_REPLY);
    }
  });

  it("on a conflated channel, since is accepted and answered with the snapshot, without recovered", async () => {
    stack.publisher.publish("market.prices.test", JSON.stringify({ symbol: "AAPL", price: 150.25 }));
    await stack.publisher.flush();
    const watcher = await connect(running);
    // The price is ingested once a plain subscriber sees it.
    await watcher.request({ type: "subscribe", channel: "price_updates", symbols: ["AAPL"] });
    await watcher.next("price_update", (frame) => "AAPL" in (frame.symbols as object));
    const ack = await client.request(
      { type: "subscribe", channel: "price_updates", symbols: ["AAPL"], since: { seq: 5, epoch: "x" } },
      "conflated",
    );
    expect(ack).toEqual({
      type: "subscribed",
      channel: "price_updates",
      symbols: ["AAPL"],
      // The channel's interval (WEBSOCKET_PRICE_UPDATE_INTERVAL=0.2), and live: a price just came in.
      interval_ms: 200,
      stream_status: LIVE,
      id: "conflated",
      timestamp: expect.stringMatching(ISO_UTC),
    });
    expect(await client.next("price_update")).toMatchObject({ symbols: { AAPL: { price: 150.25 } } });
  });
});

describe("upstream", () => {
  it("a trade published twice with the same Nats-Msg-Id is delivered once", async () => {
    const running = await gateway();
    const client = await connect(running);
    await client.request({ type: "subscribe", channel: "trades" });
    const h = headers();
    h.set("Nats-Msg-Id", `dup-${Date.now()}`);
    const body = JSON.stringify({ symbol: "MSFT", side: "SELL", quantity: 3, price: 380, trade_id: "dup" });
    stack.publisher.publish(TRADES, body, { headers: h });
    stack.publisher.publish(TRADES, body, { headers: h });
    const after = publishTrades(1);
    const frames = await tradesUntil(client, after[0] as string);
    expect(ids(frames)).toEqual(["dup", after[0]]);
  });

  it("replays only the trades of the accounts a token holds", async () => {
    const running = await gateway({ WEBSOCKET_AUTH: "jwt", WEBSOCKET_JWT_SECRET: TEST_SECRET });
    const token = await signToken({ sub: "client-a", accounts: ["acct-A"] });
    const client = await connect(running, `?token=${token}`);
    const ack = await client.request({ type: "subscribe", channel: "trades" });
    const start = ack.position as { seq: number; epoch: string };
    const mine: string[] = [];
    for (let i = 0; i < 30; i++) {
      const account = i % 3 === 0 ? "acct-A" : i % 3 === 1 ? "acct-B" : undefined;
      const published = publishTrades(1, account ? { account } : {});
      if (account === "acct-A") mine.push(published[0] as string);
    }
    const live = await tradesUntil(client, mine.at(-1) as string);
    expect(ids(live)).toEqual(mine);

    const back = await connect(running, `?token=${token}`);
    const resumed = await back.request({ type: "subscribe", channel: "trades", since: start });
    expect(resumed).toMatchObject({ recovered: true });
    const replayed = await back.next("replayed");
    const replay = back.frames.filter((frame) => frame.type === "trade_executed");
    expect(ids(replay)).toEqual(mine);
    expect(replay.every((frame) => frame.account === "acct-A")).toBe(true);
    expect(replayed.count).toBe(mine.length);
  });
});

describe("the gateway's own NATS link", () => {
  it("cut and restored while clients stay connected: every trade published meanwhile arrives, in order, once", async () => {
    const link = await LinkCutter.start(stack.nats.port);
    try {
      const running = await gateway({ NATS_URL: link.url, NATS_RECONNECT_WAIT_MS: "100" });
      const client = await connect(running);
      await client.request({ type: "subscribe", channel: "trades" });
      const before = publishTrades(50);
      await tradesUntil(client, before.at(-1) as string);

      const disconnected = new Promise<void>((resolve) =>
        running.gateway.broker.onEvent((event) => event.type === "disconnected" && resolve()),
      );
      link.cut();
      await disconnected;
      // Published while the gateway cannot see NATS: JetStream stores them.
      const during = publishTrades(200);
      await stack.publisher.flush();
      const reconnected = new Promise<void>((resolve) =>
        running.gateway.broker.onEvent((event) => event.type === "reconnected" && resolve()),
      );
      link.restore();
      await reconnected;
      const after = publishTrades(50);
      const received = await tradesUntil(client, after.at(-1) as string, 20_000);
      expect(ids(received)).toEqual([...during, ...after]);
      expectStrictlyIncreasing(seqs(received));
      expect(client.closeEvent).toBeUndefined();
    } finally {
      await link.close();
    }
  });
});
