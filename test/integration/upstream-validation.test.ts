/**
 * Invalid upstream payloads, published through a real nats-server: bytes that are not JSON,
 * JSON that fails the channel's schema, and payloads over NATS_MAX_PAYLOAD_BYTES. Each is counted
 * in GET /websocket/status stream_health.<channel>.error_count (exactly once), never forwarded, and
 * a valid message published after them is the first frame of its type a client sees.
 */
import { describe, expect, it } from "vitest";
import { MEMORY_EPOCH } from "../helpers/epochs.js";
import { flushChannel, waitForIngest } from "../helpers/gateway.js";
import { SEED_AAPL_POSITION, SEED_FRAMES } from "../helpers/seed-frames.js";
import type { TestClient } from "../helpers/test-client.js";
import { MANUAL_FLUSH, withGateway } from "../helpers/with-gateway.js";

const ISO_UTC = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{3})?Z$/;
const CHANNELS = ["portfolio", "price_updates", "signals", "trades"] as const;
type Channel = (typeof CHANNELS)[number];
const MAX_PAYLOAD = 512;

interface StreamHealth {
  last_update: string | null;
  error_count: number;
  recovery_attempts: number;
  is_healthy: boolean;
  started_at: string;
}

// Conflated channels are flushed by the tests themselves.
const stack = withGateway({ env: { NATS_MAX_PAYLOAD_BYTES: String(MAX_PAYLOAD), ...MANUAL_FLUSH } });
/** The gateway's epoch, as the first welcome checked named it: every later frame must name it too. */
let gatewayEpoch: string | undefined;

/** A connected client with the connect-time snapshot (latest prices, portfolios) consumed. */
async function connect(): Promise<TestClient> {
  const client = await stack.connect();
  await client.drainUntilPong();
  return client;
}

/**
 * The position of the first valid message on a lossless channel no valid message has reached yet
 * (each channel's is published by one test only): the client's welcome announces the channel's
 * head at 0, and the message takes seq 1, the invalid payloads before it taking none on a gateway
 * without JetStream; in the gateway's epoch, the same on both lossless channels.
 */
function firstPosition(client: TestClient, channel: "signals" | "trades"): { seq: number; epoch: string } {
  const positions = client.frames[0]?.positions as Record<string, { seq: number; epoch: string }>;
  const epoch = positions?.[channel]?.epoch as string;
  expect(epoch).toMatch(MEMORY_EPOCH);
  expect(Object.keys(positions).sort()).toEqual(["signals", "trades"]);
  expect(positions.signals?.epoch).toBe(positions.trades?.epoch);
  expect(positions[channel]).toEqual({ seq: 0, epoch });
  gatewayEpoch ??= epoch;
  expect(epoch).toBe(gatewayEpoch);
  return { seq: 1, epoch };
}

async function streamHealth(): Promise<Record<Channel, StreamHealth>> {
  const response = await fetch(`${stack.running.httpUrl}/websocket/status`);
  expect(response.status).toBe(200);
  return ((await response.json()) as { stream_health: Record<Channel, StreamHealth> }).stream_health;
}

function errorCounts(health: Record<Channel, StreamHealth>): Record<Channel, number> {
  return Object.fromEntries(CHANNELS.map((channel) => [channel, health[channel].error_count])) as Record<
    Channel,
    number
  >;
}

/** Prometheus samples of one metric, keyed by their rendered labels (e.g. `channel=signals,reason=schema`). */
async function metric(name: string): Promise<Map<string, number>> {
  const text = await (await fetch(`${stack.running.httpUrl}/metrics`)).text();
  const samples = new Map<string, number>();
  for (const line of text.split("\n")) {
    const match = /^(\w+)\{([^}]*)\} (\S+)$/.exec(line);
    if (!match || match[1] !== name) continue;
    const labels = [...(match[2] as string).matchAll(/(\w+)="([^"]*)"/g)]
      .map(([, key, value]) => `${key}=${value}`)
      .sort()
      .join(",");
    samples.set(labels, Number(match[3]));
  }
  return samples;
}

async function rejected(channel: Channel): Promise<Record<string, number>> {
  const samples = await metric("gateway_upstream_invalid_total");
  const out: Record<string, number> = {};
  for (const [labels, value] of samples) {
    const reason = /(?:^|,)reason=([^,]*)/.exec(labels)?.[1];
    if (labels.includes(`channel=${channel}`) && reason) out[reason] = value;
  }
  return out;
}

function publishRaw(subject: string, payload: string | Uint8Array): void {
  stack.publisher.publish(subject, payload);
}

/** A JSON payload over MAX_PAYLOAD bytes that would otherwise be perfectly valid (extra fields are ignored). */
function oversized(valid: Record<string, unknown>): string {
  const text = JSON.stringify({ ...valid, padding: "x".repeat(MAX_PAYLOAD) });
  expect(Buffer.byteLength(text)).toBeGreaterThan(MAX_PAYLOAD);
  return text;
}

const INVALID_UTF8 = new Uint8Array([0xff, 0xfe, 0x7b, 0x7d]);

describe("invalid upstream payloads are counted and never forwarded", () => {
  it("signals: bad JSON, schema failures and an oversized payload; the valid signal after them arrives first", async () => {
    const client = await connect();
    const position = firstPosition(client, "signals");
    const before = errorCounts(await streamHealth());
    const reasonsBefore = await rejected("signals");
    const subject = "strategy.signals.bad";
    const valid = { signal_type: "BUY", symbol: "AAPL", price: 150.25, quantity: 10, confidence: 0.85 };

    publishRaw(subject, '{"signal_type":"BUY",'); // truncated JSON
    publishRaw(subject, INVALID_UTF8); // not text
    publishRaw(subject, ""); // empty payload
    publishRaw(subject, JSON.stringify({ ...valid, price: undefined, symbol: "MISSING" })); // no price
    publishRaw(subject, JSON.stringify({ ...valid, symbol: "CONF", confidence: 1.5 })); // out of range
    publishRaw(subject, JSON.stringify({ ...valid, symbol: "TYPE", signal_type: "MAYBE" })); // bad enum
    publishRaw(subject, "null"); // JSON, but not an object
    publishRaw(subject, oversized({ ...valid, symbol: "BIG" }));
    publishRaw(subject, JSON.stringify({ ...valid, timestamp: "2024-12-19T12:00:00Z" }));

    // The seed's signal frame (these are the seed's values), and its position.
    expect(await client.next("signal")).toEqual({ ...SEED_FRAMES.signal, ...position });
    expect(await client.drainUntilPong()).toEqual([]);

    const health = await streamHealth();
    expect(errorCounts(health)).toEqual({ ...before, signals: before.signals + 8 });
    expect(health.signals.is_healthy).toBe(true);
    expect(health.signals.last_update).toMatch(ISO_UTC);
    const reasons = await rejected("signals");
    expect((reasons.invalid_json ?? 0) - (reasonsBefore.invalid_json ?? 0)).toBe(3);
    expect((reasons.schema ?? 0) - (reasonsBefore.schema ?? 0)).toBe(4);
    expect((reasons.oversized ?? 0) - (reasonsBefore.oversized ?? 0)).toBe(1);
  });

  it("trades: invalid payloads are counted; the valid trade after them arrives first", async () => {
    const client = await connect();
    const position = firstPosition(client, "trades");
    const before = errorCounts(await streamHealth());
    const subject = "execution.trades.bad";
    const valid = { symbol: "MSFT", side: "SELL", quantity: 5, price: 380.5 };

    publishRaw(subject, "{not json}");
    publishRaw(subject, JSON.stringify({ ...valid, side: "HOLD" }));
    publishRaw(subject, JSON.stringify({ ...valid, quantity: -1 }));
    publishRaw(subject, JSON.stringify({ ...valid, symbol: "BAD SYMBOL" }));
    publishRaw(subject, JSON.stringify({ ...valid, timestamp: "yesterday" }));
    publishRaw(subject, oversized(valid));
    publishRaw(subject, JSON.stringify({ ...valid, timestamp: "2024-12-19T12:00:00Z" }));

    expect(await client.next("trade_executed")).toEqual({
      type: "trade_executed",
      symbol: "MSFT",
      side: "SELL",
      quantity: 5,
      price: 380.5,
      timestamp: "2024-12-19T12:00:00Z",
      ...position,
    });
    expect(await client.drainUntilPong()).toEqual([]);
    expect(errorCounts(await streamHealth())).toEqual({ ...before, trades: before.trades + 6 });
  });

  it("price_updates: invalid ticks neither reach clients nor overwrite the latest valid price", async () => {
    const client = await connect();
    const before = errorCounts(await streamHealth());
    const ingestedBefore =
      (await metric("gateway_upstream_messages_total")).get("channel=price_updates") ?? 0;

    publishRaw("market.prices.MSFT", JSON.stringify({ symbol: "MSFT", volume: 10 })); // no price
    publishRaw("market.prices.NVDA", "{"); // bad JSON
    publishRaw("market.prices.NVDA", oversized({ symbol: "NVDA", price: 1 }));
    publishRaw("market.prices.AAPL", JSON.stringify({ symbol: "AAPL", price: 150.25, volume: 1000 }));
    // After the valid AAPL tick: invalid AAPL ticks must not replace it.
    publishRaw("market.prices.AAPL", JSON.stringify({ symbol: "AAPL", price: "999" }));
    publishRaw("market.prices.AAPL", JSON.stringify({ symbol: "AAPL", price: 999, volume: -5 }));
    publishRaw("market.prices.AAPL", oversized({ symbol: "AAPL", price: 999 }));
    await waitForIngest(stack.running, stack.publisher, "price_updates", ingestedBefore + 7);
    flushChannel(stack.running, "price_updates");

    expect(await client.drainUntilPong()).toEqual([
      {
        type: "price_update",
        symbols: { AAPL: { price: 150.25, volume: 1000 } },
        timestamp: expect.stringMatching(ISO_UTC),
      },
    ]);
    expect(errorCounts(await streamHealth())).toEqual({ ...before, price_updates: before.price_updates + 6 });

    // A client subscribing now gets the valid price as its snapshot, nothing of the invalid ones.
    const late = await connect();
    await late.request({ type: "subscribe", channel: "price_updates", symbols: ["AAPL", "MSFT", "NVDA"] });
    expect(await late.drainUntilPong()).toEqual([
      {
        type: "price_update",
        symbols: { AAPL: { price: 150.25, volume: 1000 } },
        timestamp: expect.stringMatching(ISO_UTC),
      },
    ]);
  });

  it("portfolio: invalid snapshots are counted; the valid one after them is the only portfolio_update", async () => {
    const client = await connect();
    const before = errorCounts(await streamHealth());
    const ingestedBefore = (await metric("gateway_upstream_messages_total")).get("channel=portfolio") ?? 0;
    const position = SEED_AAPL_POSITION;
    const valid = { positions: { AAPL: position }, total_pnl: 12.5, position_count: 1 };

    publishRaw("portfolio.updates", JSON.stringify({ positions: { AAPL: position } })); // no total_pnl
    publishRaw(
      "portfolio.updates",
      JSON.stringify({ ...valid, positions: { AAPL: { ...position, market_price: undefined } } }),
    );
    publishRaw("portfolio.updates", JSON.stringify({ ...valid, account: "no spaces allowed" }));
    publishRaw("portfolio.updates", "[]");
    publishRaw("portfolio.updates", INVALID_UTF8);
    publishRaw("portfolio.updates", oversized(valid));
    publishRaw("portfolio.updates", JSON.stringify({ ...valid, timestamp: "2024-12-19T12:00:00Z" }));
    await waitForIngest(stack.running, stack.publisher, "portfolio", ingestedBefore + 7);
    flushChannel(stack.running, "portfolio");

    expect(await client.drainUntilPong()).toEqual([
      {
        type: "portfolio_update",
        channel: "portfolio",
        timestamp: "2024-12-19T12:00:00Z",
        data: { positions: { AAPL: position }, total_pnl: 12.5, position_count: 1 },
      },
    ]);
    expect(errorCounts(await streamHealth())).toEqual({ ...before, portfolio: before.portfolio + 6 });
  });

  it("after all of it the gateway is healthy and still answers clients", async () => {
    const client = await connect();
    const health = await streamHealth();
    for (const channel of CHANNELS) expect(health[channel].is_healthy).toBe(true);
    expect(await client.request({ type: "ping" }, "still-here")).toEqual({ type: "pong", id: "still-here" });
  });
});
