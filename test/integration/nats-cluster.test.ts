/**
 * A 3-node NATS cluster on loopback loses the node the gateway is connected to: given all three
 * URLs, the gateway moves to another node, re-establishes its subscriptions, and keeps
 * streaming; its WebSocket clients stay connected throughout.
 */
import type { NatsConnection } from "@nats-io/transport-node";
import { afterAll, describe, expect, it } from "vitest";
import { type RunningGateway, startGateway, waitUntilReady } from "../helpers/gateway.js";
import { NatsServer } from "../helpers/nats-server.js";
import { TestClient } from "../helpers/test-client.js";

const signal = (price: number) =>
  JSON.stringify({ signal_type: "BUY", symbol: "AAPL", price, quantity: 1, confidence: 0.5 });

/**
 * Publish on `publisher` until `client` receives it: route interest between cluster nodes is
 * propagated asynchronously, so the first messages after a (re)subscription may find no route.
 */
async function publishUntilReceived(
  publisher: NatsConnection,
  client: TestClient,
  price: number,
): Promise<void> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    publisher.publish("strategy.signals.cluster", signal(price));
    await publisher.flush();
    try {
      await client.next("signal", (frame) => frame.price === price, 200);
      return;
    } catch (error) {
      if (Date.now() > deadline) throw error;
    }
  }
}

describe("NATS cluster failover", () => {
  let cluster: NatsServer[] = [];
  let running: RunningGateway | undefined;
  let client: TestClient | undefined;
  const publishers: NatsConnection[] = [];

  afterAll(async () => {
    await client?.close();
    await running?.close();
    for (const publisher of publishers) await publisher.close();
    for (const node of cluster) await node.stop();
  });

  it("keeps streaming when the node the gateway uses is killed", async () => {
    cluster = await NatsServer.startCluster(3);
    running = await startGateway({
      NATS_URL: cluster.map((node) => node.url).join(","),
      NATS_RECONNECT_WAIT_MS: "100",
    });
    await waitUntilReady(running);
    client = await TestClient.connect(running.wsUrl);

    const used = running.gateway.broker.currentServer();
    const victim = cluster.find((node) => used?.endsWith(`:${node.port}`));
    expect(victim, `gateway connected to ${used}`).toBeDefined();
    const survivor = cluster.find((node) => node !== victim) as NatsServer;
    const publisher = await survivor.client();
    publishers.push(publisher);
    await publishUntilReceived(publisher, client, 1);

    const reconnected = new Promise<void>((resolve) =>
      running?.gateway.broker.onEvent((event) => event.type === "reconnected" && resolve()),
    );
    await victim?.stop();
    await reconnected;
    expect(running.gateway.broker.currentServer()).not.toBe(used);

    await publishUntilReceived(publisher, client, 2);
    expect(client.closeEvent).toBeUndefined();
    expect((await client.request({ type: "ping" })).type).toBe("pong");
    const status = (await (await fetch(`${running.httpUrl}/websocket/status`)).json()) as {
      stream_health: Record<string, { is_healthy: boolean; recovery_attempts: number }>;
    };
    expect(status.stream_health.signals).toMatchObject({ is_healthy: true, recovery_attempts: 1 });
  }, 30_000);
});
