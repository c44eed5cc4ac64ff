/**
 * Resume of the lossless channels (trades, signals) by the SDK, against the real gateway and a
 * real nats-server: after a reconnection the application gets every frame it missed exactly once
 * and in order, then a `recovered` event; when the gateway cannot replay (a gateway without
 * JetStream restarted: its history is another one), a `gap` event instead, and the frames from
 * then on. Frames are told apart by their quantity (trades) or price (signals), published in
 * increasing order.
 */
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import { describe, expect, it } from "vitest";
import {
  GatewayClient,
  type GatewayClientOptions,
  type SignalFrame,
  type TradeExecutedFrame,
} from "../../src/client/node.js";
import { streamEpochOf } from "../helpers/epochs.js";
import { freePort } from "../helpers/free-port.js";
import type { RunningGateway } from "../helpers/gateway.js";
import { MANUAL_FLUSH, withGateway } from "../helpers/with-gateway.js";
import type { ClientRecorder } from "./helpers/recorder.js";
import { recordedClient, startProxy } from "./helpers/sdk.js";

/** History in the gateway's memory only: it survives reconnections, not a gateway restart. */
const IN_MEMORY = { NATS_JETSTREAM: "off" };
const QUICK_RETRY = { initialDelayMs: 20, factor: 2, maxDelayMs: 100 };

// Conflated channels flush only when the test says so: they stay out of the way.
const stack = withGateway({ gateway: false, env: MANUAL_FLUSH });

function client(options: GatewayClientOptions) {
  return recordedClient(stack, { backoff: QUICK_RETRY, ...options });
}

/** A client of the gateway itself (not through the proxy): it sees when the gateway dispatched. */
function witness(running: RunningGateway) {
  return stack.connect({ url: running.wsUrl, record: false });
}

function trade(symbol: string, quantity: number): Record<string, unknown> {
  return { symbol, side: "BUY", quantity, price: 100, trade_id: `T-${quantity}` };
}

function signal(symbol: string, price: number): Record<string, unknown> {
  return { signal_type: "BUY", symbol, price, quantity: 1, confidence: 0.5 };
}

function publishTrade(symbol: string, quantity: number, on: NatsConnection = stack.publisher): void {
  on.publish(`execution.trades.${symbol}`, JSON.stringify(trade(symbol, quantity)));
}

function publishSignal(symbol: string, price: number): void {
  stack.publisher.publish(`strategy.signals.${symbol}`, JSON.stringify(signal(symbol, price)));
}

const quantities = (events: ClientRecorder) =>
  events.all("trade_executed").map((frame: TradeExecutedFrame) => frame.quantity);
const prices = (events: ClientRecorder) => events.all("signal").map((frame: SignalFrame) => frame.price);

/** The next `count` events of a kind, in whatever order they come, sorted by channel. */
async function nextOfEach<K extends "recovered" | "gap">(
  events: ClientRecorder,
  name: K,
  count: number,
): Promise<ReturnType<ClientRecorder["all"]>> {
  const got = [];
  for (let i = 0; i < count; i++) got.push(await events.next(name));
  return got.sort((a, b) => a.channel.localeCompare(b.channel));
}

/** Seqs strictly increase within the epoch: nothing twice, nothing out of order. */
function expectIncreasing(frames: readonly { seq: number; epoch: string }[]): void {
  frames.forEach((current, i) => {
    const previous = frames[i - 1];
    if (previous !== undefined && previous.epoch === current.epoch)
      expect(current.seq).toBeGreaterThan(previous.seq);
  });
}

describe("resume after the connection drops (the gateway keeps its history)", () => {
  it("delivers what was missed and what came live before the resubscribe, each once, in order, then `recovered`", async () => {
    const running = await stack.startGateway(IN_MEMORY);
    const proxy = await startProxy(stack, running.port);
    const watcher = await witness(running);
    const { sdk, events } = client({ url: proxy.wsUrl });
    // Trades of AAPL only (explicit); signals on the auto-subscribe default (every symbol).
    sdk.subscribe("trades", ["AAPL"]);
    sdk.connect();
    await events.next("open");
    const first = await events.next("subscribed", (ack) => ack.channel === "trades");
    expect(first.position).toEqual({ seq: expect.any(Number), epoch: expect.any(String) });

    publishTrade("AAPL", 1);
    publishTrade("MSFT", 2);
    publishTrade("AAPL", 3);
    publishSignal("GOOG", 1);
    await events.next("trade_executed", (frame) => frame.quantity === 3);
    await events.next("signal", (frame) => frame.price === 1);

    // The gateway becomes unreachable; meanwhile trades and signals go on.
    proxy.refuse();
    proxy.dropAll();
    expect(await events.next("closed")).toMatchObject({ code: 1006, willReconnect: true });
    publishTrade("AAPL", 4);
    publishTrade("MSFT", 5);
    publishTrade("AAPL", 6);
    publishSignal("GOOG", 2);
    publishSignal("AAPL", 3);
    await watcher.next("signal", (frame) => frame.price === 3);

    // Back, but the SDK's subscribes are kept on the way until the gateway has sent it live
    // frames on the auto-subscribe default: those come before the replay on the wire.
    proxy.holdRequests();
    proxy.accept();
    await events.next("open");
    publishTrade("AAPL", 7);
    publishTrade("MSFT", 8);
    publishSignal("MSFT", 4);
    await watcher.next("signal", (frame) => frame.price === 4);
    proxy.release();

    expect(await nextOfEach(events, "recovered", 2)).toEqual([
      { channel: "signals", count: 2 },
      { channel: "trades", count: 2 },
    ]);
    // Only AAPL trades, every one, once each, in order; every signal.
    expect(quantities(events)).toEqual([1, 3, 4, 6, 7]);
    expect(prices(events)).toEqual([1, 2, 3, 4]);
    expectIncreasing(events.all("trade_executed"));
    expectIncreasing(events.all("signal"));
    // `recovered` comes after the frames it counts.
    const order = events.events.filter(
      ({ name, payload }) =>
        name === "trade_executed" ||
        (name === "recovered" && (payload as { channel: string }).channel === "trades"),
    );
    expect(order.at(-1)?.name).toBe("recovered");

    // Live from here on, and nothing of the resume leaks into the client's own subscriptions.
    publishTrade("AAPL", 9);
    await events.next("trade_executed", (frame) => frame.quantity === 9);
    expect(quantities(events)).toEqual([1, 3, 4, 6, 7, 9]);
    expect(sdk.positions.trades).toEqual({
      seq: events.all("trade_executed").at(-1)?.seq,
      epoch: events.all("trade_executed").at(-1)?.epoch,
    });
    expect(sdk.subscriptions).toEqual({ trades: ["AAPL"] });
    expect(sdk.activeSubscriptions).toMatchObject({ trades: ["AAPL"], signals: "*" });
    expect(events.all("gap")).toEqual([]);
    expect(events.all("error")).toEqual([]);
    expect(events.all("server_error")).toEqual([]);
  });

  it("a new client given saved positions starts where they left off", async () => {
    const running = await stack.startGateway(IN_MEMORY);
    const before = client({ url: running.wsUrl });
    before.sdk.connect();
    await before.events.next("open");
    publishTrade("AAPL", 1);
    await before.events.next("trade_executed");
    // What an application would save (localStorage, a file) before it stops.
    const saved = before.sdk.positions;
    expect(saved.trades).toEqual({ seq: expect.any(Number), epoch: expect.any(String) });
    await before.sdk.close();

    publishTrade("AAPL", 2);
    publishTrade("MSFT", 3);
    const watcher = await witness(running);
    publishTrade("TSLA", 4);
    await watcher.next("trade_executed", (frame) => frame.quantity === 4);

    const after = client({
      url: running.wsUrl,
      positions: { trades: saved.trades as { seq: number; epoch: string } },
    });
    after.sdk.connect();
    expect(await after.events.next("recovered", (event) => event.channel === "trades")).toEqual({
      channel: "trades",
      count: 3,
    });
    expect(quantities(after.events)).toEqual([2, 3, 4]);
    expect(
      () => new GatewayClient({ url: running.wsUrl, positions: { trades: { seq: -1, epoch: "x" } } }),
    ).toThrow(TypeError);
  });
});

describe("resume across a gateway restart", () => {
  it("with JetStream: every trade published while the gateway was down arrives once, in order, then `recovered`", async () => {
    const server = await stack.startNats({ jetstream: true });
    const upstream = stack.track(await server.client());
    const port = await freePort();
    let running = await stack.startGateway({ NATS_URL: server.url }, { port });
    const { sdk, events } = client({ url: `ws://127.0.0.1:${port}/ws` });
    sdk.connect();
    await events.next("open");

    for (const quantity of [1, 2, 3]) publishTrade("AAPL", quantity, upstream);
    await events.next("trade_executed", (frame) => frame.quantity === 3);
    const epoch = events.all("trade_executed")[0]?.epoch;

    await stack.close(running);
    expect(await events.next("closed")).toMatchObject({ code: 1001, willReconnect: true });
    // Stored by JetStream while no gateway runs (the publish waits for the stream's ack).
    const js = jetstream(upstream);
    for (const quantity of [4, 5, 6])
      await js.publish("execution.trades.AAPL", JSON.stringify(trade("AAPL", quantity)));

    running = await stack.startGateway({ NATS_URL: server.url }, { port });
    expect(await events.next("recovered", (event) => event.channel === "trades")).toEqual({
      channel: "trades",
      count: 3,
    });
    expect(quantities(events)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(new Set(events.all("trade_executed").map((frame) => frame.epoch))).toEqual(new Set([epoch]));
    expectIncreasing(events.all("trade_executed"));

    publishTrade("AAPL", 7, upstream);
    await events.next("trade_executed", (frame) => frame.quantity === 7);
    expect(quantities(events)).toEqual([1, 2, 3, 4, 5, 6, 7]);
    expect(events.all("gap")).toEqual([]);
    expect(events.all("error")).toEqual([]);
  }, 30_000);

  it("a position saved before epochs were short (the stream's identity as epoch) resumes, then counts in the short epoch", async () => {
    const server = await stack.startNats({ jetstream: true });
    const upstream = stack.track(await server.client());
    const running = await stack.startGateway({ NATS_URL: server.url });
    const watcher = await witness(running);
    await watcher.request({ type: "subscribe", channel: "trades" });
    for (const quantity of [1, 2, 3]) publishTrade("AAPL", quantity, upstream);
    const first = await watcher.next("trade_executed", (frame) => frame.quantity === 1);
    await watcher.next("trade_executed", (frame) => frame.quantity === 3);
    // What an application running an earlier release saved: the stream's NAME@created as epoch.
    const { identity, epoch } = await streamEpochOf(await jetstreamManager(upstream), "GATEWAY_TRADES");
    expect(first.epoch).toBe(epoch);

    const { sdk, events } = client({
      url: running.wsUrl,
      positions: { trades: { seq: first.seq as number, epoch: identity } },
    });
    sdk.connect();
    expect(await events.next("recovered", (event) => event.channel === "trades")).toEqual({
      channel: "trades",
      count: 2,
    });
    expect(quantities(events)).toEqual([2, 3]);
    publishTrade("AAPL", 4, upstream);
    await events.next("trade_executed", (frame) => frame.quantity === 4);
    expect(quantities(events)).toEqual([2, 3, 4]);
    expect(sdk.positions.trades).toEqual({ seq: (first.seq as number) + 3, epoch });
    expect(events.all("gap")).toEqual([]);
  }, 30_000);

  it("without JetStream: a `gap` (epoch_mismatch), then the new gateway's frames, although their seqs start again", async () => {
    const port = await freePort();
    let running = await stack.startGateway(IN_MEMORY, { port });
    const { sdk, events } = client({ url: `ws://127.0.0.1:${port}/ws` });
    sdk.subscribe("signals", ["AAPL"]);
    sdk.connect();
    await events.next("subscribed", (ack) => ack.channel === "signals");
    publishTrade("AAPL", 1);
    publishTrade("AAPL", 2);
    publishSignal("AAPL", 1);
    await events.next("trade_executed", (frame) => frame.quantity === 2);
    await events.next("signal");
    const before = sdk.positions;

    await stack.close(running);
    await events.next("closed");
    // Nobody takes this one in: it is lost, and the client is told that something may be.
    publishTrade("AAPL", 3);
    await stack.publisher.flush();

    running = await stack.startGateway(IN_MEMORY, { port });
    expect(await nextOfEach(events, "gap", 2)).toEqual([
      { channel: "signals", reason: "epoch_mismatch" },
      { channel: "trades", reason: "epoch_mismatch" },
    ]);

    // The new gateway counts from the start again, in a new epoch: its first trade is delivered.
    publishTrade("AAPL", 4);
    publishSignal("MSFT", 2);
    publishSignal("AAPL", 3);
    await events.next("signal", (frame) => frame.price === 3);
    await events.next("trade_executed", (frame) => frame.quantity === 4);
    expect(quantities(events)).toEqual([1, 2, 4]);
    expect(prices(events)).toEqual([1, 3]);
    const latest = events.all("trade_executed").at(-1);
    expect(latest?.epoch).not.toBe(before.trades?.epoch);
    expect(latest?.seq).toBeLessThanOrEqual(before.trades?.seq ?? 0);
    expect(sdk.positions.trades).toEqual({ seq: latest?.seq, epoch: latest?.epoch });
    expect(events.all("recovered")).toEqual([]);
    expect(events.all("error")).toEqual([]);
  }, 30_000);
});
