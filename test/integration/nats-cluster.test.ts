/**
 * A 3-node NATS cluster on loopback loses the node the gateway is connected to: given all three
 * URLs, the gateway moves to another node, re-establishes its subscriptions, and keeps
 * streaming; its WebSocket clients stay connected throughout.
 */
import type { NatsConnection } from "@nats-io/transport-node";
import { describe, expect, it } from "vitest";
import type { NatsServer } from "../helpers/nats-server.js";
import type { TestClient } from "../helpers/test-client.js";
import { withGateway } from "../helpers/with-gateway.js";

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
  // Given all three URLs; the publisher is opened on a node the gateway does not use.
  const stack = withGateway({ cluster: 3, env: { NATS_RECONNECT_WAIT_MS: "100" }, publisher: false });

  it("keeps streaming when the node the gateway uses is killed", async () => {
    const { cluster, running } = stack;
    const client = await stack.connect();

    const used = running.gateway.broker.currentServer();
    const victim = cluster.find((node) => used?.endsWith(`:${node.port}`));
    expect(victim, `gateway connected to ${used}`).toBeDefined();
    const survivor = cluster.find((node) => node !== victim) as NatsServer;
    const publisher = stack.track(await survivor.client());
    await publishUntilReceived(publisher, client, 1);

    const reconnected = new Promise<void>((resolve) =>
      running.gateway.broker.onEvent((event) => event.type === "reconnected" && resolve()),
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
