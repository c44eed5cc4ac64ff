/**
 * The subscription protocol end to end, on a real gateway fed by a real nats-server and read by
 * real ws clients: the welcome frame, auto-subscribe, subscribe/unsubscribe acks and their
 * semantics (docs/protocol.md "Protocol decisions"), per-channel and per-symbol filtering, the price
 * snapshot on subscribe, conflation of prices and portfolios, ping/pong, and every client error path.
 *
 * Conflated channels run with an interval of an hour and are flushed by the test itself once the
 * gateway has provably ingested what was published, so no test depends on timer luck.
 */
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { AUTO_SUBSCRIBED_CHANNELS, BUNDLED_CHANNELS, DEFAULT_SUBSCRIPTIONS } from "../helpers/channels.js";
import { MEMORY_EPOCH } from "../helpers/epochs.js";
import { flushChannel, type RunningGateway, waitForIngest } from "../helpers/gateway.js";
import { type Frame, TestClient } from "../helpers/test-client.js";
import { MANUAL_FLUSH, withGateway } from "../helpers/with-gateway.js";

const ISO_UTC = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{3})?Z$/;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const CHANNELS = AUTO_SUBSCRIBED_CHANNELS;
const SIGNAL_SUBJECT = "strategy.signals.test";
const TRADE_SUBJECT = "execution.trades.test";
const PORTFOLIO_SUBJECT = "portfolio.updates";
type Lossless = "signals" | "trades";
interface Position {
  seq: number;
  epoch: string;
}

// Gateways of their own for each describe block, on one nats-server.
const stack = withGateway({ gateway: false });
/**
 * Each running gateway's epoch (one per process, read from its first welcome) and how many
 * signals and trades have been published to it since it started. Every payload this file
 * publishes is valid, and a gateway without JetStream counts seq 1, 2, 3... per channel: the head
 * of a channel, once the gateway has taken in what was published, is that count.
 */
const lossless = new Map<RunningGateway, { epoch: string; published: Record<Lossless, number> }>();

async function startGatewayOnNats(env: Record<string, string> = {}): Promise<RunningGateway> {
  const running = await stack.startGateway(env);
  // Connected to NATS: the lossless channels' histories are ready, both at 0 in one fresh epoch.
  const probe = await TestClient.connect(running.wsUrl);
  const positions = probe.frames[0]?.positions as Record<Lossless, Position> | undefined;
  const epoch = positions?.signals?.epoch as string;
  expect(epoch).toMatch(MEMORY_EPOCH);
  expect(positions).toEqual({ signals: { seq: 0, epoch }, trades: { seq: 0, epoch } });
  await probe.close();
  lossless.set(running, { epoch, published: { signals: 0, trades: 0 } });
  return running;
}

async function stopGateway(running: RunningGateway | undefined): Promise<void> {
  if (!running) return;
  lossless.delete(running);
  await stack.close(running);
}

/**
 * A gateway of its own for the describe block calling this: started (startGatewayOnNats) before
 * its tests, handed to `started`, and stopped after them.
 */
function gatewayForBlock(env: Record<string, string>, started: (running: RunningGateway) => void): void {
  let running: RunningGateway | undefined;
  beforeAll(async () => {
    running = await startGatewayOnNats(env);
    started(running);
  });
  afterAll(() => stopGateway(running));
}

function connect(running: RunningGateway, query = ""): Promise<TestClient> {
  return stack.connect({ url: `${running.wsUrl}${query}` });
}

function publish(subject: string, payload: unknown): void {
  const channel: Lossless | undefined =
    subject === SIGNAL_SUBJECT ? "signals" : subject === TRADE_SUBJECT ? "trades" : undefined;
  if (channel) for (const { published } of lossless.values()) published[channel]++;
  stack.publisher.publish(subject, JSON.stringify(payload));
}

/** The epoch of a gateway's lossless channels (MEMORY_EPOCH, checked when it started). */
function epochOf(running: RunningGateway): string {
  const state = lossless.get(running);
  if (!state) throw new Error("not a gateway of this file");
  return state.epoch;
}

/**
 * Where a lossless channel of a gateway stands once it has taken in everything published so far:
 * `{seq: <messages published on it>, epoch}`. Undefined for conflated channels (no position).
 */
function positionOf(running: RunningGateway, channel: string): Position | undefined {
  const state = lossless.get(running);
  if (!state) throw new Error("not a gateway of this file");
  if (channel !== "signals" && channel !== "trades") return undefined;
  return { seq: state.published[channel], epoch: epochOf(running) };
}

function signal(symbol: string, price = 10): Record<string, unknown> {
  return {
    signal_type: "BUY",
    symbol,
    price,
    quantity: 1,
    confidence: 0.5,
    timestamp: "2024-12-19T12:00:00Z",
  };
}

function trade(symbol: string, price = 10): Record<string, unknown> {
  return { symbol, side: "SELL", quantity: 2, price, timestamp: "2024-12-19T12:00:00Z" };
}

const flush = flushChannel;

/**
 * Publish signals on one subject and wait until `witness` (subscribed to every signal) got the
 * last one: from then on the gateway has queued those signals to everybody, so a ping barrier on
 * any other client shows exactly what that client was sent.
 */
async function publishSignals(witness: TestClient, symbols: string[]): Promise<void> {
  for (const symbol of symbols) publish(SIGNAL_SUBJECT, signal(symbol));
  const last = symbols[symbols.length - 1];
  await witness.next("signal", (frame) => frame.symbol === last);
}

/** The interval a conflated channel runs at on a MANUAL_FLUSH gateway, as a subscribed ack says it (ms). */
const MANUAL_FLUSH_MS = 3_600_000;
/** A channel's stream status while the gateway is on NATS and the channel within its threshold. */
const LIVE = { status: "live", since: expect.stringMatching(ISO_UTC) };

/**
 * An ack; `position`: a subscribed ack on a lossless channel, the channel's head when subscribed.
 * A subscribed ack also carries the channel's stream status (live here: every gateway of this file
 * is on NATS, and no test runs past a staleness threshold), and on a conflated channel the interval
 * in force for the client: every conflated ack this file checks comes from a MANUAL_FLUSH gateway.
 * Unsubscribed acks carry neither.
 */
function ack(
  type: "subscribed" | "unsubscribed",
  channel: string,
  symbols: "*" | string[],
  id: string | number,
  position?: Position,
) {
  const conflated = channel === "price_updates" || channel === "portfolio";
  return {
    type,
    channel,
    symbols,
    ...(position === undefined ? {} : { position }),
    ...(type === "subscribed" && conflated ? { interval_ms: MANUAL_FLUSH_MS } : {}),
    ...(type === "subscribed" ? { stream_status: LIVE } : {}),
    id,
    timestamp: expect.stringMatching(ISO_UTC),
  };
}

function errorFrame(code: string, error: string | RegExp, id?: string | number) {
  return {
    type: "error",
    error: typeof error === "string" ? error : expect.stringMatching(error),
    code,
    timestamp: expect.stringMatching(ISO_UTC),
    ...(id === undefined ? {} : { id }),
  };
}

const types = (frames: Frame[]) => frames.map((frame) => frame.type);

describe("welcome and auto-subscribe", () => {
  let running: RunningGateway;
  gatewayForBlock({}, (started) => {
    running = started;
  });

  it("the welcome frame lists the four channels, all subscribed to '*' by default", async () => {
    const client = await connect(running, "?client_id=dash-1");
    const welcome = client.frames[0] as Frame;
    expect(welcome).toMatchObject({
      type: "welcome",
      client_id: "dash-1",
      subscriptions: { portfolio: "*", price_updates: "*", signals: "*", trades: "*" },
      ping_interval: 30,
      price_update_interval: 0.2,
      portfolio_update_interval: 0.2,
      timestamp: expect.stringMatching(ISO_UTC),
    });
    expect([...(welcome.channels as string[])].sort()).toEqual(BUNDLED_CHANNELS);
    expect(welcome.subscriptions).toEqual(DEFAULT_SUBSCRIPTIONS);
    // The head of each lossless channel, in the gateway's epoch: nothing published yet.
    expect(welcome.positions).toEqual({
      signals: { seq: 0, epoch: epochOf(running) },
      trades: { seq: 0, epoch: epochOf(running) },
    });
    // Every channel's stream status: all live, the gateway being on NATS.
    expect(welcome.stream_status).toEqual(
      Object.fromEntries(BUNDLED_CHANNELS.map((channel) => [channel, LIVE])),
    );

    const anonymous = await connect(running);
    expect(anonymous.frames[0]?.client_id).toMatch(UUID);
  });

  it("an auto-subscribed client receives every channel without sending anything", async () => {
    const client = await connect(running);
    publish(SIGNAL_SUBJECT, signal("ZZZ1"));
    publish(TRADE_SUBJECT, trade("ZZZ2"));
    publish("market.prices.ZZZ3", { symbol: "ZZZ3", price: 3 });
    publish(PORTFOLIO_SUBJECT, { positions: {}, total_pnl: 0 });
    // The four channels are independent streams: their frames may arrive in any order.
    const byType = new Map<string, Frame>();
    while (byType.size < 4) {
      const frame = await client.next(undefined, (candidate) => !byType.has(candidate.type));
      byType.set(frame.type, frame);
    }
    expect(byType.get("signal")?.symbol).toBe("ZZZ1");
    expect(byType.get("trade_executed")?.symbol).toBe("ZZZ2");
    // The lossless frames carry their position: the latest signal and trade of this gateway.
    expect(byType.get("signal")).toMatchObject(positionOf(running, "signals") as Position);
    expect(byType.get("trade_executed")).toMatchObject(positionOf(running, "trades") as Position);
    expect(byType.get("price_update")?.symbols).toEqual({ ZZZ3: { price: 3 } });
    expect(byType.get("portfolio_update")?.data).toEqual({ positions: {}, total_pnl: 0, position_count: 0 });
  });
});

describe("WEBSOCKET_AUTO_SUBSCRIBE=false", () => {
  let running: RunningGateway;
  gatewayForBlock({ WEBSOCKET_AUTO_SUBSCRIBE: "false", ...MANUAL_FLUSH }, (started) => {
    running = started;
  });

  it("starts with no subscriptions and receives no data frames until the client subscribes", async () => {
    const quiet = await connect(running);
    expect(quiet.frames[0]).toMatchObject({
      type: "welcome",
      subscriptions: { portfolio: [], price_updates: [], signals: [], trades: [] },
    });

    // A second client subscribes to everything explicitly: it proves the data did flow.
    const watcher = await connect(running);
    for (const channel of CHANNELS) {
      expect(await watcher.request({ type: "subscribe", channel }, `w-${channel}`)).toEqual(
        ack("subscribed", channel, "*", `w-${channel}`, positionOf(running, channel)),
      );
    }
    publish(SIGNAL_SUBJECT, signal("AAPL"));
    publish(TRADE_SUBJECT, trade("AAPL"));
    publish("market.prices.AAPL", { symbol: "AAPL", price: 150 });
    publish(PORTFOLIO_SUBJECT, { positions: {}, total_pnl: 1 });
    await watcher.next("signal");
    await watcher.next("trade_executed");
    await waitForIngest(running, stack.publisher, "price_updates", 1);
    await waitForIngest(running, stack.publisher, "portfolio", 1);
    flush(running, "price_updates");
    flush(running, "portfolio");
    await watcher.next("price_update");
    await watcher.next("portfolio_update");

    expect(await quiet.drainUntilPong()).toEqual([]);

    // One signal so far: the subscription starts after it.
    expect(await quiet.request({ type: "subscribe", channel: "signals" }, 1)).toEqual(
      ack("subscribed", "signals", "*", 1, { seq: 1, epoch: epochOf(running) }),
    );
    publish(SIGNAL_SUBJECT, signal("MSFT"));
    expect(await quiet.next("signal")).toMatchObject({ type: "signal", symbol: "MSFT" });
    await watcher.next("signal", (frame) => frame.symbol === "MSFT");
    // Still nothing from the channels it did not subscribe to.
    publish(TRADE_SUBJECT, trade("MSFT"));
    await watcher.next("trade_executed", (frame) => frame.symbol === "MSFT");
    expect(types(await quiet.drainUntilPong())).toEqual([]);
  });
});

describe("subscribe and unsubscribe", () => {
  let running: RunningGateway;
  let witness: TestClient;
  gatewayForBlock(MANUAL_FLUSH, (started) => {
    running = started;
  });
  beforeEach(async () => {
    witness = await connect(running);
  });

  it("the first subscribe with symbols replaces the '*' default on that channel only", async () => {
    const client = await connect(running);
    expect(await client.request({ type: "subscribe", channel: "signals", symbols: ["AAPL"] }, "s1")).toEqual(
      ack("subscribed", "signals", ["AAPL"], "s1", positionOf(running, "signals")),
    );
    await publishSignals(witness, ["MSFT", "AAPL"]);
    expect(await client.drainUntilPong()).toEqual([
      expect.objectContaining({ type: "signal", symbol: "AAPL" }),
    ]);

    // trades is still on the default: every symbol.
    publish(TRADE_SUBJECT, trade("MSFT"));
    publish(TRADE_SUBJECT, trade("GOOG"));
    expect((await client.next("trade_executed")).symbol).toBe("MSFT");
    expect((await client.next("trade_executed")).symbol).toBe("GOOG");
  });

  it("later subscribes add symbols, and the ack carries the whole resulting set", async () => {
    const client = await connect(running);
    expect(await client.request({ type: "subscribe", channel: "signals", symbols: ["AAPL"] }, "a")).toEqual(
      ack("subscribed", "signals", ["AAPL"], "a", positionOf(running, "signals")),
    );
    expect(
      await client.request({ type: "subscribe", channel: "signals", symbols: ["GOOG", "AAPL", "GOOG"] }, "b"),
    ).toEqual(ack("subscribed", "signals", ["AAPL", "GOOG"], "b", positionOf(running, "signals")));
    await publishSignals(witness, ["MSFT", "GOOG", "TSLA", "AAPL"]);
    expect((await client.drainUntilPong()).map((frame) => frame.symbol)).toEqual(["GOOG", "AAPL"]);
  });

  it('"*", ["*"] and no symbols all mean every symbol', async () => {
    const client = await connect(running);
    expect(await client.request({ type: "subscribe", channel: "signals", symbols: "*" }, 1)).toEqual(
      ack("subscribed", "signals", "*", 1, positionOf(running, "signals")),
    );
    expect(await client.request({ type: "subscribe", channel: "trades", symbols: ["*"] }, 2)).toEqual(
      ack("subscribed", "trades", "*", 2, positionOf(running, "trades")),
    );
    expect(await client.request({ type: "subscribe", channel: "portfolio" }, 3)).toEqual(
      ack("subscribed", "portfolio", "*", 3),
    );
    // From a symbol set to all, and adding symbols to all keeps all.
    expect(
      await client.request({ type: "subscribe", channel: "price_updates", symbols: ["AAPL"] }, 4),
    ).toEqual(ack("subscribed", "price_updates", ["AAPL"], 4));
    expect(await client.request({ type: "subscribe", channel: "price_updates", symbols: ["*"] }, 5)).toEqual(
      ack("subscribed", "price_updates", "*", 5),
    );
    expect(
      await client.request({ type: "subscribe", channel: "price_updates", symbols: ["MSFT"] }, 6),
    ).toEqual(ack("subscribed", "price_updates", "*", 6));
    await publishSignals(witness, ["MSFT", "AAPL"]);
    expect((await client.drainUntilPong()).map((frame) => frame.symbol)).toEqual(["MSFT", "AAPL"]);
  });

  it("unsubscribe with symbols removes them; the ack carries what remains, [] when nothing", async () => {
    const client = await connect(running);
    await client.request({ type: "subscribe", channel: "signals", symbols: ["AAPL", "MSFT"] });
    expect(
      await client.request({ type: "unsubscribe", channel: "signals", symbols: ["AAPL"] }, "u1"),
    ).toEqual(ack("unsubscribed", "signals", ["MSFT"], "u1"));
    await publishSignals(witness, ["AAPL", "MSFT"]);
    expect((await client.drainUntilPong()).map((frame) => frame.symbol)).toEqual(["MSFT"]);

    expect(
      await client.request({ type: "unsubscribe", channel: "signals", symbols: ["MSFT"] }, "u2"),
    ).toEqual(ack("unsubscribed", "signals", [], "u2"));
    await publishSignals(witness, ["AAPL", "MSFT"]);
    expect(await client.drainUntilPong()).toEqual([]);
  });

  it("unsubscribe without symbols leaves the channel, whatever it was subscribed to", async () => {
    const client = await connect(running);
    // From the implicit default...
    expect(await client.request({ type: "unsubscribe", channel: "signals" }, "x")).toEqual(
      ack("unsubscribed", "signals", [], "x"),
    );
    // ...and from an explicit symbol set.
    expect(await client.request({ type: "subscribe", channel: "trades", symbols: ["AAPL"] }, "y")).toEqual(
      ack("subscribed", "trades", ["AAPL"], "y", positionOf(running, "trades")),
    );
    expect(await client.request({ type: "unsubscribe", channel: "trades" }, "z")).toEqual(
      ack("unsubscribed", "trades", [], "z"),
    );
    await publishSignals(witness, ["AAPL"]);
    publish(TRADE_SUBJECT, trade("AAPL"));
    await witness.next("trade_executed", (frame) => frame.symbol === "AAPL");
    expect(await client.drainUntilPong()).toEqual([]);

    // Subscribing again brings the channel back.
    expect(await client.request({ type: "subscribe", channel: "signals", symbols: ["AAPL"] }, "w")).toEqual(
      ack("subscribed", "signals", ["AAPL"], "w", positionOf(running, "signals")),
    );
    await publishSignals(witness, ["MSFT", "AAPL"]);
    expect((await client.drainUntilPong()).map((frame) => frame.symbol)).toEqual(["AAPL"]);
  });

  it("unsubscribing single symbols from an explicit '*' subscription is a SUBSCRIPTION_CONFLICT and changes nothing", async () => {
    const client = await connect(running);
    await client.request({ type: "subscribe", channel: "signals", symbols: "*" });
    const reply = await client.request({ type: "unsubscribe", channel: "signals", symbols: ["AAPL"] }, "c1");
    expect(reply).toEqual(errorFrame("SUBSCRIPTION_CONFLICT", /\S/, "c1"));
    await publishSignals(witness, ["AAPL", "MSFT"]);
    expect((await client.drainUntilPong()).map((frame) => frame.symbol)).toEqual(["AAPL", "MSFT"]);
  });

  it("unsubscribing single symbols from the implicit '*' default is a SUBSCRIPTION_CONFLICT and keeps the default", async () => {
    const client = await connect(running);
    const reply = await client.request({ type: "unsubscribe", channel: "signals", symbols: ["AAPL"] }, "c2");
    expect(reply).toEqual(errorFrame("SUBSCRIPTION_CONFLICT", /\S/, "c2"));
    await publishSignals(witness, ["AAPL", "MSFT"]);
    expect((await client.drainUntilPong()).map((frame) => frame.symbol)).toEqual(["AAPL", "MSFT"]);
    // The rejected unsubscribe was no explicit subscribe: the first real one still replaces "*".
    expect(await client.request({ type: "subscribe", channel: "signals", symbols: ["AAPL"] }, "c3")).toEqual(
      ack("subscribed", "signals", ["AAPL"], "c3", positionOf(running, "signals")),
    );
  });

  it("a rejected subscribe leaves the subscription as it was", async () => {
    const client = await connect(running);
    const reply = await client.request(
      { type: "subscribe", channel: "signals", symbols: ["AAPL", "AA PL"] },
      "r",
    );
    expect(reply).toEqual(errorFrame("INVALID_SYMBOLS", /AA PL/, "r"));
    await publishSignals(witness, ["MSFT"]);
    expect((await client.drainUntilPong()).map((frame) => frame.symbol)).toEqual(["MSFT"]);
    expect(await client.request({ type: "subscribe", channel: "signals", symbols: ["AAPL"] }, "r2")).toEqual(
      ack("subscribed", "signals", ["AAPL"], "r2", positionOf(running, "signals")),
    );
  });
});

describe("filtering on immediate channels", () => {
  let running: RunningGateway;
  gatewayForBlock(MANUAL_FLUSH, (started) => {
    running = started;
  });

  /**
   * A lossless channel, a symbol subscribed to, what is published (another symbol's message, then
   * the subscribed one's) and the one frame the client must get of it.
   */
  const FILTERED = [
    {
      channel: "signals",
      symbol: "AAPL",
      subject: SIGNAL_SUBJECT,
      published: [signal("MSFT", 380.5), signal("AAPL", 150.25)],
      frame: {
        type: "signal",
        signal_type: "BUY",
        symbol: "AAPL",
        price: 150.25,
        quantity: 1,
        confidence: 0.5,
        timestamp: "2024-12-19T12:00:00Z",
      },
      title:
        "a client subscribed to AAPL signals gets the AAPL signal and not the MSFT one published before it",
    },
    {
      channel: "trades",
      symbol: "MSFT",
      subject: TRADE_SUBJECT,
      published: [trade("AAPL", 150.25), trade("MSFT", 380.5)],
      frame: {
        type: "trade_executed",
        symbol: "MSFT",
        side: "SELL",
        quantity: 2,
        price: 380.5,
        timestamp: "2024-12-19T12:00:00Z",
      },
      title:
        "a client subscribed to MSFT trades gets the MSFT trade and not the AAPL one published before it",
    },
  ];
  for (const { channel, symbol, subject, published, frame, title } of FILTERED)
    it(title, async () => {
      const client = await connect(running);
      await client.request({ type: "subscribe", channel, symbols: [symbol] });
      for (const payload of published) publish(subject, payload);
      // The wanted one is the last one published: its seq is the channel's new head.
      expect(await client.next(frame.type)).toEqual({ ...frame, ...positionOf(running, channel) });
    });

  it("several clients on one stream each get exactly their symbols, once", async () => {
    const witness = await connect(running);
    const aapl = await connect(running);
    const msft = await connect(running);
    const both = await connect(running);
    await aapl.request({ type: "subscribe", channel: "signals", symbols: ["AAPL"] });
    await msft.request({ type: "subscribe", channel: "signals", symbols: ["MSFT"] });
    await both.request({ type: "subscribe", channel: "signals", symbols: ["AAPL", "MSFT"] });
    await publishSignals(witness, ["AAPL", "GOOG", "MSFT", "AAPL", "TSLA"]);
    expect((await aapl.drainUntilPong()).map((frame) => frame.symbol)).toEqual(["AAPL", "AAPL"]);
    expect((await msft.drainUntilPong()).map((frame) => frame.symbol)).toEqual(["MSFT"]);
    expect((await both.drainUntilPong()).map((frame) => frame.symbol)).toEqual(["AAPL", "MSFT", "AAPL"]);
  });
});

describe("price snapshot and conflation", () => {
  let running: RunningGateway | undefined;
  beforeEach(async () => {
    running = await startGatewayOnNats(MANUAL_FLUSH);
  });
  // The fixture closes the test's clients, then this gateway.
  afterEach(() => {
    if (running) lossless.delete(running);
    running = undefined;
  });

  const AAPL_1 = { symbol: "AAPL", price: 150, change: 0.25, change_pct: 0.17, volume: 1000 };
  const AAPL_2 = {
    symbol: "AAPL",
    price: 150.25,
    change: 0.5,
    change_pct: 0.33,
    volume: 1000000,
    high: 151,
    low: 149.5,
    open: 150,
    close: 150.25,
  };
  const MSFT_1 = { symbol: "MSFT", price: 380, volume: 10 };
  const MSFT_2 = { symbol: "MSFT", price: 380.5, change: -1.2, change_pct: -0.31, volume: 2000000 };
  const quote = ({ symbol: _symbol, ...rest }: Record<string, unknown>) => rest;
  const priceUpdate = (symbols: Record<string, unknown>) => ({
    type: "price_update",
    symbols,
    timestamp: expect.stringMatching(ISO_UTC),
  });

  it("subscribing to [AAPL] sends the latest AAPL values at once, without waiting for the interval", async () => {
    const gw = running as RunningGateway;
    publish("market.prices.AAPL", AAPL_1);
    publish("market.prices.AAPL", AAPL_2);
    publish("market.prices.MSFT", MSFT_2);
    await waitForIngest(gw, stack.publisher, "price_updates", 3);
    flush(gw, "price_updates");

    const late = await connect(gw);
    expect(
      await late.request({ type: "subscribe", channel: "price_updates", symbols: ["AAPL"] }, "p1"),
    ).toEqual(ack("subscribed", "price_updates", ["AAPL"], "p1"));
    expect(await late.drainUntilPong()).toEqual([priceUpdate({ AAPL: quote(AAPL_2) })]);

    // Adding MSFT snapshots MSFT only; a symbol never seen sends nothing.
    expect(
      await late.request({ type: "subscribe", channel: "price_updates", symbols: ["MSFT"] }, "p2"),
    ).toEqual(ack("subscribed", "price_updates", ["AAPL", "MSFT"], "p2"));
    expect(await late.drainUntilPong()).toEqual([priceUpdate({ MSFT: quote(MSFT_2) })]);
    expect(
      await late.request({ type: "subscribe", channel: "price_updates", symbols: ["NVDA"] }, "p3"),
    ).toEqual(ack("subscribed", "price_updates", ["AAPL", "MSFT", "NVDA"], "p3"));
    expect(await late.drainUntilPong()).toEqual([]);
  });

  it("many ticks in one interval: one price_update per client with the latest values, only its symbols, no repeats", async () => {
    const gw = running as RunningGateway;
    const all = await connect(gw);
    const aapl = await connect(gw);
    await aapl.request({ type: "subscribe", channel: "price_updates", symbols: ["AAPL"] });
    expect(await aapl.drainUntilPong()).toEqual([]);

    publish("market.prices.AAPL", AAPL_1);
    publish("market.prices.MSFT", MSFT_1);
    publish("market.prices.AAPL", { symbol: "AAPL", price: 149 });
    publish("market.prices.MSFT", MSFT_2);
    publish("market.prices.AAPL", AAPL_2);
    await waitForIngest(gw, stack.publisher, "price_updates", 5);
    flush(gw, "price_updates");
    expect(await all.drainUntilPong()).toEqual([priceUpdate({ AAPL: quote(AAPL_2), MSFT: quote(MSFT_2) })]);
    expect(await aapl.drainUntilPong()).toEqual([priceUpdate({ AAPL: quote(AAPL_2) })]);

    // Next interval: only MSFT changed. AAPL is not repeated; the AAPL-only client gets nothing.
    const MSFT_3 = { symbol: "MSFT", price: 381 };
    publish("market.prices.MSFT", MSFT_3);
    await waitForIngest(gw, stack.publisher, "price_updates", 6);
    flush(gw, "price_updates");
    expect(await all.drainUntilPong()).toEqual([priceUpdate({ MSFT: quote(MSFT_3) })]);
    expect(await aapl.drainUntilPong()).toEqual([]);

    // An interval in which nothing changed sends nothing at all.
    flush(gw, "price_updates");
    expect(await all.drainUntilPong()).toEqual([]);
    expect(await aapl.drainUntilPong()).toEqual([]);
  });

  it("a symbol sent in the subscribe snapshot is not repeated by the next flush if it did not change", async () => {
    const gw = running as RunningGateway;
    publish("market.prices.AAPL", AAPL_1);
    await waitForIngest(gw, stack.publisher, "price_updates", 1);
    // No flush yet: the tick is pending for this interval when the client subscribes.
    const client = await connect(gw);
    await client.request({ type: "subscribe", channel: "price_updates", symbols: ["AAPL"] });
    expect(await client.drainUntilPong()).toEqual([priceUpdate({ AAPL: quote(AAPL_1) })]);
    flush(gw, "price_updates");
    expect(await client.drainUntilPong()).toEqual([]);
  });

  it("portfolio is conflated per account, and symbols on the portfolio channel filter by account", async () => {
    const gw = running as RunningGateway;
    const all = await connect(gw);
    const acct1 = await connect(gw);
    expect(
      await acct1.request({ type: "subscribe", channel: "portfolio", symbols: ["acct-1"] }, "pf"),
    ).toEqual(ack("subscribed", "portfolio", ["acct-1"], "pf"));
    const position = (symbol: string, quantity: number) => ({
      symbol,
      quantity,
      average_price: 100,
      market_price: 101,
      unrealized_pnl: quantity,
      unrealized_pnl_pct: 1,
    });
    publish(PORTFOLIO_SUBJECT, { account: "acct-1", positions: { AAPL: position("AAPL", 1) }, total_pnl: 1 });
    publish(PORTFOLIO_SUBJECT, { account: "acct-2", positions: { MSFT: position("MSFT", 5) }, total_pnl: 5 });
    publish(PORTFOLIO_SUBJECT, {
      account: "acct-1",
      positions: { AAPL: position("AAPL", 2), TSLA: position("TSLA", 3) },
      total_pnl: 5,
      position_count: 2,
      timestamp: "2024-12-19T12:00:00Z",
    });
    await waitForIngest(gw, stack.publisher, "portfolio", 3);
    flush(gw, "portfolio");

    const acct1Frame = {
      type: "portfolio_update",
      channel: "portfolio",
      account: "acct-1",
      timestamp: "2024-12-19T12:00:00Z",
      data: {
        positions: { AAPL: position("AAPL", 2), TSLA: position("TSLA", 3) },
        total_pnl: 5,
        position_count: 2,
      },
    };
    const acct2Frame = {
      type: "portfolio_update",
      channel: "portfolio",
      account: "acct-2",
      timestamp: expect.stringMatching(ISO_UTC),
      data: { positions: { MSFT: position("MSFT", 5) }, total_pnl: 5, position_count: 1 },
    };
    const allFrames = await all.drainUntilPong();
    expect(allFrames).toHaveLength(2);
    expect(allFrames).toEqual(expect.arrayContaining([acct1Frame, acct2Frame]));
    expect(await acct1.drainUntilPong()).toEqual([acct1Frame]);
  });
});

describe("ping", () => {
  let running: RunningGateway;
  gatewayForBlock(MANUAL_FLUSH, (started) => {
    running = started;
  });

  async function rawReply(client: TestClient, text: string): Promise<string> {
    const reply = new Promise<string>((resolve) =>
      client.socket.once("message", (data) => resolve(data.toString())),
    );
    client.send(text);
    return reply;
  }

  it('ping is answered with exactly {"type":"pong"}', async () => {
    const client = await connect(running);
    expect(await rawReply(client, '{"type":"ping"}')).toBe('{"type":"pong"}');
  });

  it("ping with an id is answered with a pong echoing it", async () => {
    const client = await connect(running);
    expect(await rawReply(client, '{"type":"ping","id":"abc-1"}')).toBe('{"type":"pong","id":"abc-1"}');
    expect(await rawReply(client, '{"type":"ping","id":42}')).toBe('{"type":"pong","id":42}');
  });
});

describe("client errors: one error frame each, connection stays open", () => {
  let running: RunningGateway;
  gatewayForBlock(MANUAL_FLUSH, (started) => {
    running = started;
  });

  /** The seed's text, then what to fix (each rule's exact words: error-messages.test.ts). */
  const INVALID = /^Invalid message format: \S/;
  /** The error text each code comes with: all of it, or how it starts. */
  const ERRORS = {
    INVALID_MESSAGE: INVALID,
    UNKNOWN_MESSAGE_TYPE: /^Invalid message format: unknown type "/,
    UNKNOWN_CHANNEL: /^Unknown channel/,
    INVALID_SYMBOLS: /^Invalid symbols/,
  };
  const cases: { name: string; text: string; code: keyof typeof ERRORS; id?: string | number }[] = [
    { name: "malformed JSON", text: '{"type":"ping"', code: "INVALID_MESSAGE" },
    { name: "not JSON at all", text: "hello", code: "INVALID_MESSAGE" },
    { name: "a JSON number", text: "42", code: "INVALID_MESSAGE" },
    { name: "JSON null", text: "null", code: "INVALID_MESSAGE" },
    { name: "a JSON string", text: '"ping"', code: "INVALID_MESSAGE" },
    { name: "a JSON array", text: '[{"type":"ping"}]', code: "INVALID_MESSAGE" },
    { name: "an object without type", text: '{"channel":"signals"}', code: "INVALID_MESSAGE" },
    { name: "a non-string type", text: '{"type":7}', code: "INVALID_MESSAGE" },
    { name: "subscribe without channel", text: '{"type":"subscribe"}', code: "INVALID_MESSAGE" },
    {
      name: "subscribe without channel, with id",
      text: '{"type":"subscribe","symbols":["AAPL"],"id":"q1"}',
      code: "INVALID_MESSAGE",
      id: "q1",
    },
    {
      name: "symbols neither '*' nor an array",
      text: '{"type":"subscribe","channel":"signals","symbols":"AAPL","id":3}',
      code: "INVALID_MESSAGE",
      id: 3,
    },
    { name: "unknown type", text: '{"type":"hello"}', code: "UNKNOWN_MESSAGE_TYPE" },
    {
      name: "unknown type, with id",
      text: '{"type":"publish","id":"t-9"}',
      code: "UNKNOWN_MESSAGE_TYPE",
      id: "t-9",
    },
    {
      name: "unknown channel",
      text: '{"type":"subscribe","channel":"news","id":11}',
      code: "UNKNOWN_CHANNEL",
      id: 11,
    },
    {
      name: "a channel named like an object property",
      text: '{"type":"subscribe","channel":"__proto__"}',
      code: "UNKNOWN_CHANNEL",
    },
    {
      name: "unsubscribe from an unknown channel",
      text: '{"type":"unsubscribe","channel":"news"}',
      code: "UNKNOWN_CHANNEL",
    },
    {
      name: "a symbol with a space",
      text: '{"type":"subscribe","channel":"signals","symbols":["AA PL"],"id":"s"}',
      code: "INVALID_SYMBOLS",
      id: "s",
    },
    {
      name: "an empty symbol",
      text: '{"type":"subscribe","channel":"signals","symbols":[""]}',
      code: "INVALID_SYMBOLS",
    },
    {
      name: "a 40-character symbol",
      text: JSON.stringify({ type: "subscribe", channel: "trades", symbols: ["A".repeat(40)] }),
      code: "INVALID_SYMBOLS",
    },
    {
      name: "an empty symbols array",
      text: '{"type":"subscribe","channel":"price_updates","symbols":[]}',
      code: "INVALID_SYMBOLS",
    },
    {
      name: "unsubscribe with a bad symbol",
      text: '{"type":"unsubscribe","channel":"signals","symbols":["AAPL","x y"],"id":"u"}',
      code: "INVALID_SYMBOLS",
      id: "u",
    },
  ];

  it.each(cases)("$name → $code", async ({ text, code, id }) => {
    const client = await connect(running);
    client.send(text);
    // Exactly one reply, the error; the pong after it proves the connection is still open.
    expect(await client.drainUntilPong()).toEqual([errorFrame(code, ERRORS[code], id)]);
    expect(client.closeEvent).toBeUndefined();
  });

  it("a binary frame → INVALID_MESSAGE", async () => {
    const client = await connect(running);
    client.socket.send(Buffer.from('{"type":"ping"}'), { binary: true });
    expect(await client.drainUntilPong()).toEqual([errorFrame("INVALID_MESSAGE", INVALID)]);
  });

  it("many bad frames in a row each get their error and the client keeps working", async () => {
    const client = await connect(running);
    for (const { text } of cases) client.send(text);
    const frames = await client.drainUntilPong();
    expect(frames.map((frame) => frame.code)).toEqual(cases.map((entry) => entry.code));
    expect(await client.request({ type: "subscribe", channel: "signals", symbols: ["AAPL"] }, "ok")).toEqual(
      ack("subscribed", "signals", ["AAPL"], "ok", positionOf(running, "signals")),
    );
  });
});
