/**
 * The four data frames exactly as the seed shows them, produced from NATS publishes through a
 * real nats-server and received by a real WebSocket client.
 */
import { beforeAll, describe, expect, it } from "vitest";
import { MEMORY_EPOCH } from "../helpers/epochs.js";
import { SEED_AAPL_POSITION } from "../helpers/seed-frames.js";
import { SEED_UPSTREAM } from "../helpers/seed-payloads.js";
import type { TestClient } from "../helpers/test-client.js";
import { withGateway } from "../helpers/with-gateway.js";

const ISO_UTC = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{3})?Z$/;

/**
 * The seed's frame, its fields unchanged and in the seed's order, followed by the position the
 * gateway stamps on every frame of a lossless channel.
 */
function withPosition(seedFrame: string, seq: number, epoch: string): string {
  return `${seedFrame.slice(0, -1)},"seq":${seq},"epoch":${JSON.stringify(epoch)}}`;
}

describe("seed frames from NATS", () => {
  const stack = withGateway();
  let client: TestClient;
  /** The gateway's epoch, from the welcome: the same on both lossless channels. */
  let epoch: string;

  beforeAll(async () => {
    client = await stack.connect();
    const positions = client.frames[0]?.positions as Record<string, { seq: number; epoch: string }>;
    epoch = positions?.signals?.epoch as string;
    expect(epoch).toMatch(MEMORY_EPOCH);
    expect(positions).toEqual({ signals: { seq: 0, epoch }, trades: { seq: 0, epoch } });
  });

  it("price_update: the seed's frame, conflated from ticks on market.prices.<SYMBOL>", async () => {
    stack.publisher.publish("market.prices.AAPL", JSON.stringify(SEED_UPSTREAM.aaplTick));
    stack.publisher.publish("market.prices.MSFT", JSON.stringify(SEED_UPSTREAM.msftTick));
    await stack.publisher.flush();
    const frame = await client.next("price_update", (f) => Object.keys(f.symbols as object).length === 2);
    expect(frame).toEqual({
      type: "price_update",
      symbols: {
        AAPL: {
          price: 150.25,
          change: 0.5,
          change_pct: 0.33,
          volume: 1000000,
          high: 151.0,
          low: 149.5,
          open: 150.0,
          close: 150.25,
        },
        MSFT: { price: 380.5, change: -1.2, change_pct: -0.31, volume: 2000000 },
      },
      timestamp: expect.stringMatching(ISO_UTC),
    });
  });

  /** The lossless frames: the subject published on, what upstream sends, and the seed's frame. */
  const LOSSLESS = [
    {
      subject: "strategy.signals.momentum",
      upstream: SEED_UPSTREAM.signal,
      seed: '{"type":"signal","signal_type":"BUY","symbol":"AAPL","price":150.25,"quantity":10,"confidence":0.85,"timestamp":"2024-12-19T12:00:00Z"}',
    },
    {
      subject: "execution.trades.nyse",
      upstream: SEED_UPSTREAM.trade,
      seed: '{"type":"trade_executed","symbol":"AAPL","side":"BUY","quantity":10,"price":150.25,"timestamp":"2024-12-19T12:00:00Z"}',
    },
  ];
  for (const { subject, upstream, seed } of LOSSLESS) {
    const type = (JSON.parse(seed) as { type: string }).type;
    it(`${type}: the seed's frame, delivered immediately`, async () => {
      stack.publisher.publish(subject, JSON.stringify(upstream));
      const frame = await client.next(type);
      // The first of its channel this gateway took in: seq 1.
      expect(JSON.stringify(frame)).toBe(withPosition(seed, 1, epoch));
      // The figure docs/delivery-guarantees.md quotes for the short epoch: the seed's trade frame
      // is 149 bytes with its position (31 of them), against 180 with the full identity.
      if (type === "trade_executed") expect(Buffer.byteLength(JSON.stringify(frame))).toBe(149);
    });
  }

  it("portfolio_update: the seed's frame, conflated per account", async () => {
    stack.publisher.publish("portfolio.updates", JSON.stringify(SEED_UPSTREAM.portfolio));
    const frame = await client.next("portfolio_update");
    expect(frame).toEqual({
      type: "portfolio_update",
      channel: "portfolio",
      timestamp: "2024-12-19T12:00:00Z",
      data: {
        positions: { AAPL: SEED_AAPL_POSITION },
        total_pnl: 12.5,
        position_count: 1,
      },
    });
  });

  it("timestamps without one upstream are the gateway's, ISO-8601 UTC", async () => {
    stack.publisher.publish(
      "execution.trades.x",
      JSON.stringify({ symbol: "MSFT", side: "SELL", quantity: 1, price: 10 }),
    );
    stack.publisher.publish(
      "strategy.signals.x",
      JSON.stringify({
        signal_type: "SELL",
        symbol: "MSFT",
        price: 10,
        quantity: 1,
        confidence: 0.5,
        timestamp: "2024-12-19T13:00:00+01:00",
      }),
    );
    expect((await client.next("trade_executed")).timestamp).toMatch(ISO_UTC);
    expect((await client.next("signal")).timestamp).toBe("2024-12-19T12:00:00.000Z");
  });
});
