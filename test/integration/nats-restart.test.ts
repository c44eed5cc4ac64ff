/**
 * NATS stopped and restarted mid-stream: clients stay connected, stream health goes unhealthy
 * and back, recovery_attempts increases, readiness follows, and frames flow again. The in-band
 * stream status follows too: every channel goes stale (upstream_disconnected) when the link is
 * lost; when it is back, signals and trades (no staleness threshold) are live at once, while prices
 * and portfolio (a threshold) stay stale (no_data) until data flows on them again.
 */
import { describe, expect, it } from "vitest";
import { AUTO_SUBSCRIBED_CHANNELS, BUNDLED_CHANNELS } from "../helpers/channels.js";
import { type RunningGateway, waitUntilReady } from "../helpers/gateway.js";
import type { Frame, TestClient } from "../helpers/test-client.js";
import { withGateway } from "../helpers/with-gateway.js";

interface Status {
  stream_health: Record<string, { is_healthy: boolean; recovery_attempts: number; error_count: number }>;
  active_connections: number;
}

const ISO_UTC = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;
const CHANNELS = AUTO_SUBSCRIBED_CHANNELS;

function streamStatus(channel: string, status: "live" | "stale", reason?: string) {
  return {
    type: "stream_status",
    channel,
    status,
    ...(reason === undefined ? {} : { reason }),
    since: expect.stringMatching(ISO_UTC),
    timestamp: expect.stringMatching(ISO_UTC),
  };
}

/** The next `count` stream_status frames the client receives, by channel. */
async function nextStreamStatuses(client: TestClient, count: number): Promise<Frame[]> {
  const frames: Frame[] = [];
  for (let i = 0; i < count; i++) frames.push(await client.next("stream_status"));
  return frames.sort((a, b) => String(a.channel).localeCompare(String(b.channel)));
}

async function status(running: RunningGateway): Promise<Status> {
  return (await fetch(`${running.httpUrl}/websocket/status`)).json() as Promise<Status>;
}

function waitForBrokerEvent(running: RunningGateway, type: "disconnected" | "reconnected"): Promise<void> {
  return new Promise((resolve) =>
    running.gateway.broker.onEvent((event) => event.type === type && resolve()),
  );
}

describe("NATS restart mid-stream", () => {
  // Prices and portfolio get a staleness threshold longer than the test, however slow the
  // machine: until the link is lost, no channel goes stale for want of data. The test opens its
  // publishers itself: none may be connected while NATS goes away.
  const stack = withGateway({
    env: { NATS_RECONNECT_WAIT_MS: "100", WEBSOCKET_STALE_AFTER_MS: "120000" },
    publisher: false,
  });

  it("keeps clients connected and resumes streaming after NATS comes back", async () => {
    const { nats, running } = stack;
    const client = await stack.connect();
    // On NATS, and younger than any staleness threshold: every channel live.
    const live = { status: "live", since: expect.stringMatching(ISO_UTC) };
    expect(client.frames[0]?.stream_status).toEqual(
      Object.fromEntries(BUNDLED_CHANNELS.map((name) => [name, live])),
    );

    let publisher = stack.track(await nats.client());
    publisher.publish(
      "strategy.signals.a",
      JSON.stringify({ signal_type: "BUY", symbol: "AAPL", price: 1, quantity: 1, confidence: 0.5 }),
    );
    expect((await client.next("signal")).symbol).toBe("AAPL");
    const before = await status(running);
    expect(before.stream_health.signals?.is_healthy).toBe(true);
    expect(before.stream_health.signals?.recovery_attempts).toBe(0);
    await stack.close(publisher);

    // Kill NATS: the gateway notices, reports unhealthy and not ready, and keeps its clients,
    // telling them (auto-subscribed to every channel) that every stream is stale, and why.
    const disconnected = waitForBrokerEvent(running, "disconnected");
    await nats.stop();
    await disconnected;
    const during = await status(running);
    for (const channel of CHANNELS) {
      expect(during.stream_health[channel]?.is_healthy).toBe(false);
    }
    expect(during.active_connections).toBe(1);
    expect((await fetch(`${running.httpUrl}/readyz`)).status).toBe(503);
    expect(await nextStreamStatuses(client, 4)).toEqual(
      CHANNELS.map((channel) => streamStatus(channel, "stale", "upstream_disconnected")),
    );
    const pong = await client.request({ type: "ping" });
    expect(pong.type).toBe("pong");

    // Bring NATS back on the same port: subscriptions are re-established by themselves. Signals
    // and trades are live again at once; prices and portfolio stay stale (no_data) until data
    // arrives on them after the link came back.
    const reconnected = waitForBrokerEvent(running, "reconnected");
    await nats.restart();
    await reconnected;
    const after = await status(running);
    for (const channel of CHANNELS) {
      const live = channel === "signals" || channel === "trades";
      expect(after.stream_health[channel]?.is_healthy, channel).toBe(live);
      expect(after.stream_health[channel]?.recovery_attempts).toBe(1);
    }
    expect((await fetch(`${running.httpUrl}/readyz`)).status).toBe(200);
    expect(await nextStreamStatuses(client, 4)).toEqual([
      streamStatus("portfolio", "stale", "no_data"),
      streamStatus("price_updates", "stale", "no_data"),
      streamStatus("signals", "live"),
      streamStatus("trades", "live"),
    ]);

    publisher = stack.track(await nats.client());
    publisher.publish(
      "strategy.signals.a",
      JSON.stringify({ signal_type: "SELL", symbol: "MSFT", price: 2, quantity: 3, confidence: 0.9 }),
    );
    const frame = await client.next("signal");
    expect(frame).toMatchObject({
      signal_type: "SELL",
      symbol: "MSFT",
      price: 2,
      quantity: 3,
      confidence: 0.9,
    });

    // A price tick and a portfolio update: both streams are live again, in band and in the status.
    // The data frames and the status changes come in any order (two flushes, and the status is
    // looked at on its own timer), so the test takes the next four of them as they come.
    publisher.publish("market.prices.MSFT", JSON.stringify({ symbol: "MSFT", price: 2 }));
    publisher.publish("portfolio.updates", JSON.stringify({ positions: {}, total_pnl: 0 }));
    const recovery: Frame[] = [];
    const awaited = ["stream_status", "price_update", "portfolio_update"];
    while (recovery.length < 4) {
      recovery.push(await client.next(undefined, (each) => awaited.includes(each.type)));
    }
    expect(
      recovery
        .filter((each) => each.type !== "stream_status")
        .map((each) => each.type)
        .sort(),
    ).toEqual(["portfolio_update", "price_update"]);
    expect(
      recovery
        .filter((each) => each.type === "stream_status")
        .sort((a, b) => String(a.channel).localeCompare(String(b.channel))),
    ).toEqual([streamStatus("portfolio", "live"), streamStatus("price_updates", "live")]);
    const recovered = await status(running);
    for (const channel of CHANNELS) expect(recovered.stream_health[channel]?.is_healthy, channel).toBe(true);
    // Each change was said once: nothing more about the streams' status.
    expect((await client.drainUntilPong()).filter((each) => each.type === "stream_status")).toEqual([]);
    expect(client.closeEvent).toBeUndefined();
  });
});

describe("NATS absent at start", () => {
  const stack = withGateway({ gateway: false, publisher: false });

  it("starts, serves REST and clients while not ready, then streams once NATS comes up", async () => {
    const { nats } = stack;
    await nats.stop();
    const running = await stack.startGateway({ NATS_RECONNECT_WAIT_MS: "100" }, { ready: false });
    expect((await fetch(`${running.httpUrl}/readyz`)).status).toBe(503);
    const before = await status(running);
    expect(before.stream_health.signals?.is_healthy).toBe(false);
    const client = await stack.connect({ url: running.wsUrl });
    expect((await client.request({ type: "ping" })).type).toBe("pong");

    await nats.restart();
    await waitUntilReady(running);
    expect((await fetch(`${running.httpUrl}/readyz`)).status).toBe(200);
    expect((await status(running)).stream_health.signals?.is_healthy).toBe(true);
    const publisher = stack.track(await nats.client());
    publisher.publish(
      "strategy.signals.a",
      JSON.stringify({ signal_type: "BUY", symbol: "AAPL", price: 1, quantity: 1, confidence: 0.5 }),
    );
    expect(await client.next("signal")).toMatchObject({ symbol: "AAPL", signal_type: "BUY" });
  });
});
