/**
 * NATS stopped and restarted mid-stream: clients stay connected, stream health goes unhealthy
 * and back, recovery_attempts increases, readiness follows, and frames flow again.
 */
import type { NatsConnection } from "@nats-io/transport-node";
import { afterAll, describe, expect, it } from "vitest";
import { type RunningGateway, startGateway, waitUntilReady } from "../helpers/gateway.js";
import { NatsServer } from "../helpers/nats-server.js";
import { TestClient } from "../helpers/test-client.js";

interface Status {
  stream_health: Record<string, { is_healthy: boolean; recovery_attempts: number; error_count: number }>;
  active_connections: number;
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
  let nats: NatsServer;
  let running: RunningGateway;
  let client: TestClient;
  let publisher: NatsConnection | undefined;

  afterAll(async () => {
    await client?.close();
    await running?.close();
    await publisher?.close();
    await nats?.stop();
  });

  it("keeps clients connected and resumes streaming after NATS comes back", async () => {
    nats = await NatsServer.start();
    running = await startGateway({ NATS_URL: nats.url, NATS_RECONNECT_WAIT_MS: "100" });
    await waitUntilReady(running);
    client = await TestClient.connect(running.wsUrl);

    publisher = await nats.client();
    publisher.publish(
      "strategy.signals.a",
      JSON.stringify({ signal_type: "BUY", symbol: "AAPL", price: 1, quantity: 1, confidence: 0.5 }),
    );
    expect((await client.next("signal")).symbol).toBe("AAPL");
    const before = await status(running);
    expect(before.stream_health.signals?.is_healthy).toBe(true);
    expect(before.stream_health.signals?.recovery_attempts).toBe(0);
    await publisher.close();
    publisher = undefined;

    // Kill NATS: the gateway notices, reports unhealthy and not ready, and keeps its clients.
    const disconnected = waitForBrokerEvent(running, "disconnected");
    await nats.stop();
    await disconnected;
    const during = await status(running);
    for (const channel of ["price_updates", "signals", "trades", "portfolio"]) {
      expect(during.stream_health[channel]?.is_healthy).toBe(false);
    }
    expect(during.active_connections).toBe(1);
    expect((await fetch(`${running.httpUrl}/readyz`)).status).toBe(503);
    const pong = await client.request({ type: "ping" });
    expect(pong.type).toBe("pong");

    // Bring NATS back on the same port: subscriptions are re-established by themselves.
    const reconnected = waitForBrokerEvent(running, "reconnected");
    await nats.restart();
    await reconnected;
    const after = await status(running);
    for (const channel of ["price_updates", "signals", "trades", "portfolio"]) {
      expect(after.stream_health[channel]?.is_healthy).toBe(true);
      expect(after.stream_health[channel]?.recovery_attempts).toBe(1);
    }
    expect((await fetch(`${running.httpUrl}/readyz`)).status).toBe(200);

    publisher = await nats.client();
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
    expect(client.closeEvent).toBeUndefined();
  });
});

describe("NATS absent at start", () => {
  let nats: NatsServer | undefined;
  let running: RunningGateway | undefined;
  let client: TestClient | undefined;
  let publisher: NatsConnection | undefined;

  afterAll(async () => {
    await client?.close();
    await running?.close();
    await publisher?.close();
    await nats?.stop();
  });

  it("starts, serves REST and clients while not ready, then streams once NATS comes up", async () => {
    nats = await NatsServer.start();
    await nats.stop();
    running = await startGateway({ NATS_URL: nats.url, NATS_RECONNECT_WAIT_MS: "100" });
    expect((await fetch(`${running.httpUrl}/readyz`)).status).toBe(503);
    const before = await status(running);
    expect(before.stream_health.signals?.is_healthy).toBe(false);
    client = await TestClient.connect(running.wsUrl);
    expect((await client.request({ type: "ping" })).type).toBe("pong");

    await nats.restart();
    await waitUntilReady(running);
    expect((await fetch(`${running.httpUrl}/readyz`)).status).toBe(200);
    expect((await status(running)).stream_health.signals?.is_healthy).toBe(true);
    publisher = await nats.client();
    publisher.publish(
      "strategy.signals.a",
      JSON.stringify({ signal_type: "BUY", symbol: "AAPL", price: 1, quantity: 1, confidence: 0.5 }),
    );
    expect(await client.next("signal")).toMatchObject({ symbol: "AAPL", signal_type: "BUY" });
  });
});
