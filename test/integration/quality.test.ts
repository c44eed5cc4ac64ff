/**
 * Delivery quality, against a real nats-server, the real gateway and real sockets: nothing goes
 * stale without the client being told (in-band stream_status), each client may choose its own
 * conflation interval, and a client that reads too slowly gets its conflated channels less often
 * before anything else happens to it.
 */
import type { Socket } from "node:net";
import type { NatsConnection } from "@nats-io/transport-node";
import { describe, expect, it } from "vitest";
import type { ClientSession } from "../../src/core/client-session.js";
import { fillBacklog } from "../helpers/backlog.js";
import { BUNDLED_CHANNELS } from "../helpers/channels.js";
import type { RunningGateway } from "../helpers/gateway.js";
import type { NatsServer } from "../helpers/nats-server.js";
import { INVALID_MESSAGE_REPLY } from "../helpers/seed-frames.js";
import type { Frame, TestClient } from "../helpers/test-client.js";
import { withGateway } from "../helpers/with-gateway.js";

const ISO_UTC = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;
// A nats-server of its own for each test: one of them kills it.
const stack = withGateway({ scope: "test", gateway: false, env: { NATS_RECONNECT_WAIT_MS: "100" } });

async function setup(
  env: Record<string, string>,
): Promise<{ nats: NatsServer; running: RunningGateway; publisher: NatsConnection }> {
  const running = await stack.startGateway(env);
  return { nats: stack.nats, running, publisher: stack.publisher };
}

function connect(running: RunningGateway, query = ""): Promise<TestClient> {
  return stack.connect({ url: `${running.wsUrl}${query}` });
}

const statusFrame = (channel: string, status: "live" | "stale", reason?: string) => ({
  type: "stream_status",
  channel,
  status,
  ...(reason ? { reason } : {}),
  since: expect.stringMatching(ISO_UTC),
  timestamp: expect.stringMatching(ISO_UTC),
});

const tick = (publisher: NatsConnection, symbol: string, price: number) =>
  publisher.publish(`market.prices.${symbol}`, JSON.stringify({ symbol, price }));

describe("stream status", () => {
  it("NATS killed: every subscriber hears stale within a second; live again when the link is back (and, for prices, when data flows)", async () => {
    const { nats, running, publisher } = await setup({});
    const client = await connect(running);
    const welcome = client.frames[0] as Frame;
    expect(welcome.stream_status).toEqual({
      order_books: { status: "live", since: expect.stringMatching(ISO_UTC) },
      portfolio: { status: "live", since: expect.stringMatching(ISO_UTC) },
      price_updates: { status: "live", since: expect.stringMatching(ISO_UTC) },
      signals: { status: "live", since: expect.stringMatching(ISO_UTC) },
      trades: { status: "live", since: expect.stringMatching(ISO_UTC) },
    });
    await publisher.close();

    const killedAt = Date.now();
    await nats.stop();
    for (const channel of ["portfolio", "price_updates", "signals", "trades"]) {
      expect(await client.next("stream_status", (frame) => frame.channel === channel)).toEqual(
        statusFrame(channel, "stale", "upstream_disconnected"),
      );
    }
    expect(Date.now() - killedAt).toBeLessThan(1000);
    const status = (await (await fetch(`${running.httpUrl}/websocket/status`)).json()) as {
      stream_health: Record<string, { is_healthy: boolean }>;
    };
    expect(Object.values(status.stream_health).map((health) => health.is_healthy)).toEqual(
      BUNDLED_CHANNELS.map(() => false),
    );

    const restartedFrom = client.frames.length;
    await nats.restart();
    await client.next(
      "stream_status",
      (frame) => frame.channel === "trades" && frame.status === "live",
      10_000,
    );
    const afterRestart = client.frames.slice(restartedFrom).filter((frame) => frame.type === "stream_status");
    // Channels without a threshold are live as soon as the link is back; prices and portfolio have
    // one, and stay stale for want of data until data flows.
    expect(afterRestart).toEqual(
      expect.arrayContaining([
        statusFrame("signals", "live"),
        statusFrame("trades", "live"),
        statusFrame("price_updates", "stale", "no_data"),
        statusFrame("portfolio", "stale", "no_data"),
      ]),
    );
    expect(afterRestart).toHaveLength(4);
    const again = stack.track(await nats.client());
    tick(again, "AAPL", 151);
    await again.flush();
    expect(await client.next("stream_status", (frame) => frame.channel === "price_updates")).toEqual(
      statusFrame("price_updates", "live"),
    );
    const ack = await client.request({ type: "subscribe", channel: "price_updates" }, "after");
    expect(ack.stream_status).toEqual({ status: "live", since: expect.stringMatching(ISO_UTC) });
  }, 30_000);

  it("an upstream that goes quiet on one channel: stale after the threshold, on that channel only", async () => {
    const { running, publisher } = await setup({ WEBSOCKET_STALE_AFTER_MS: "600" });
    const client = await connect(running);
    tick(publisher, "AAPL", 150);
    const portfolio = () =>
      publisher.publish(
        "portfolio.updates",
        JSON.stringify({ positions: {}, total_pnl: 0, position_count: 0 }),
      );
    portfolio();
    // Portfolio keeps ticking; prices go quiet.
    const timer = setInterval(portfolio, 100);
    try {
      const stale = await client.next("stream_status", () => true, 5000);
      expect(stale).toEqual(statusFrame("price_updates", "stale", "no_data"));
      // Nothing else went stale: trades and signals have no threshold, portfolio has data.
      const more = await client.drainUntilPong();
      expect(more.filter((frame) => frame.type === "stream_status")).toEqual([]);
      tick(publisher, "AAPL", 151);
      expect(await client.next("stream_status")).toEqual(statusFrame("price_updates", "live"));
    } finally {
      clearInterval(timer);
    }
  });
});

describe("client-chosen intervals", () => {
  it("two clients at 250 ms and 2,000 ms on the same symbols each get their own rate (10 s, within 20 %)", async () => {
    const { running, publisher } = await setup({ WEBSOCKET_PRICE_UPDATE_INTERVAL: "1" });
    const fast = await connect(running, "?client_id=fast");
    const slow = await connect(running, "?client_id=slow");
    const symbols = ["AAPL", "MSFT", "NVDA"];
    expect(
      await fast.request({ type: "subscribe", channel: "price_updates", symbols, interval_ms: 250 }, "f"),
    ).toMatchObject({ type: "subscribed", symbols, interval_ms: 250 });
    expect(
      await slow.request({ type: "subscribe", channel: "price_updates", symbols, interval_ms: 2000 }, "s"),
    ).toMatchObject({ type: "subscribed", symbols, interval_ms: 2000 });
    const start = { fast: fast.frames.length, slow: slow.frames.length };
    const started = Date.now();
    let price = 100;
    const ticker = setInterval(() => {
      for (const symbol of symbols) tick(publisher, symbol, price++);
    }, 25);
    await new Promise((resolve) => setTimeout(resolve, 10_000)); // the measured window
    clearInterval(ticker);
    const seconds = (Date.now() - started) / 1000;
    const count = (client: TestClient, from: number) =>
      client.frames.slice(from).filter((frame) => frame.type === "price_update").length;
    const fastCount = count(fast, start.fast);
    const slowCount = count(slow, start.slow);
    expect(fastCount).toBeGreaterThanOrEqual(Math.floor((seconds / 0.25) * 0.8));
    expect(fastCount).toBeLessThanOrEqual(Math.ceil((seconds / 0.25) * 1.2));
    expect(slowCount).toBeGreaterThanOrEqual(Math.floor((seconds / 2) * 0.8));
    expect(slowCount).toBeLessThanOrEqual(Math.ceil((seconds / 2) * 1.2));
  }, 30_000);

  it("refuses an interval out of range, not an integer, or on a lossless channel, and leaves the subscription as it was", async () => {
    const { running } = await setup({ WEBSOCKET_MIN_INTERVAL_MS: "100" });
    const client = await connect(running);
    await client.request(
      { type: "subscribe", channel: "price_updates", symbols: ["AAPL"], interval_ms: 500 },
      "ok",
    );
    for (const [channel, interval] of [
      ["price_updates", 99],
      ["price_updates", 60_001],
      ["price_updates", 250.5],
      ["price_updates", "fast"],
      ["trades", 500],
    ] as const) {
      const reply = await client.request({
        type: "subscribe",
        channel,
        symbols: ["MSFT"],
        interval_ms: interval,
      });
      expect(reply).toEqual(INVALID_MESSAGE_REPLY);
    }
    const ack = await client.request(
      { type: "subscribe", channel: "price_updates", symbols: ["AAPL"] },
      "check",
    );
    expect(ack).toMatchObject({ symbols: ["AAPL"], interval_ms: 500 });
  });
});

describe("degrade before disconnect", () => {
  it("a client throttled by its reader degrades, recovers its intervals when it reads again, and never loses a signal", async () => {
    const { running, publisher } = await setup({
      WEBSOCKET_AUTO_SUBSCRIBE: "false",
      WEBSOCKET_PRICE_UPDATE_INTERVAL: "0.5",
      WEBSOCKET_DEGRADE_BYTES: String(32 * 1024),
      WEBSOCKET_CONFLATED_DROP_BYTES: String(16 * 1024 * 1024),
      WEBSOCKET_MAX_BUFFERED_BYTES: String(64 * 1024 * 1024),
    });
    const witness = await connect(running, "?client_id=witness");
    const slow = await connect(running, "?client_id=slow");
    for (const client of [witness, slow]) {
      await client.request({ type: "subscribe", channel: "price_updates", symbols: ["AAPL"] });
      await client.request({ type: "subscribe", channel: "signals" });
    }
    const session = running.gateway.endpoint.clients.get("slow") as ClientSession;
    const raw = (slow.socket as unknown as { _socket: Socket })._socket;
    raw.pause();
    const signals = await fillBacklog(session, witness, publisher, 32 * 1024);
    // The gateway widens the lagging client's price interval, at most once a second.
    for (let attempt = 0; session.degradeFactor < 4; attempt++) {
      expect(attempt, "the client was not degraded").toBeLessThan(100);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    const degradedMetrics = await (await fetch(`${running.httpUrl}/metrics`)).text();
    expect(degradedMetrics).toContain("gateway_degraded_clients 1");
    raw.resume();
    // Reading again: it is told it was degraded, then that its intervals are back.
    const first = await slow.next("delivery_status", () => true, 20_000);
    expect(first).toEqual({
      type: "delivery_status",
      degraded: true,
      intervals_ms: { price_updates: 1000 },
      timestamp: expect.stringMatching(ISO_UTC),
    });
    const back = await slow.next("delivery_status", (frame) => frame.degraded === false, 20_000);
    expect(back).toEqual({
      type: "delivery_status",
      degraded: false,
      intervals_ms: { price_updates: 500 },
      timestamp: expect.stringMatching(ISO_UTC),
    });
    expect(session.degradeFactor).toBe(1);
    // Every signal arrived (before those delivery_status frames), in order: lossless channels are
    // never thinned.
    const received = slow.frames.filter((frame) => frame.type === "signal").map((frame) => frame.price);
    expect(received).toEqual(Array.from({ length: signals }, (_, i) => i + 1));
    expect(slow.closeEvent).toBeUndefined();
  }, 90_000);
});
