/**
 * The per-client slow-consumer policy: a client that stops reading is not buffered without bound.
 * Once its lossless backlog passes WEBSOCKET_MAX_BUFFERED_BYTES it is closed with 4001, its
 * session is released, and the other clients keep receiving every message.
 *
 * On loopback the kernel absorbs several MB per socket before the gateway sees any backlog, so
 * the test publishes until the gateway reports the stalled clients, in bounded batches.
 */
import type { Socket } from "node:net";
import { describe, expect, it } from "vitest";
import { publishLoadSignal } from "../helpers/backlog.js";
import type { TestClient } from "../helpers/test-client.js";
import { withGateway } from "../helpers/with-gateway.js";

const BATCH = 500;
const MAX_BATCHES = 600;

describe("slow consumer", () => {
  const stack = withGateway({
    env: {
      WEBSOCKET_MAX_BUFFERED_BYTES: String(1024 * 1024),
      WEBSOCKET_CONFLATED_DROP_BYTES: String(256 * 1024),
      WEBSOCKET_CLOSE_GRACE_MS: "3000",
    },
  });

  it("disconnects a client that stops reading with 4001, releases it, and leaves the others whole", async () => {
    const { running, publisher } = stack;
    const healthy = await stack.connect({ query: { client_id: "healthy" } });
    const resumes = await stack.connect({ query: { client_id: "stalled-then-resumes" } });
    const vanished = await stack.connect({ query: { client_id: "stalled-forever" } });
    const raw = (client: TestClient) => (client.socket as unknown as { _socket: Socket })._socket;
    raw(resumes).pause();
    raw(vanished).pause();

    const sessions = running.gateway.endpoint.clients;
    const stalledSessions = [sessions.get("stalled-then-resumes"), sessions.get("stalled-forever")];
    let published = 0;
    for (
      let batch = 0;
      batch < MAX_BATCHES && !stalledSessions.every((session) => session?.closing);
      batch++
    ) {
      for (let i = 0; i < BATCH; i++) publishLoadSignal(publisher, ++published);
      // The healthy client seeing the batch's last message proves the gateway processed it all.
      await healthy.next("signal", (frame) => frame.price === published, 10_000);
    }
    expect(stalledSessions.every((session) => session?.closing)).toBe(true);
    // Out of the subscription index at once: no more frames are built for them.
    const signalSubscribers = running.gateway.index.subscribers("signals");
    expect([...signalSubscribers.all].map((session) => session.clientId)).toEqual(["healthy"]);

    // The client that resumes reading drains what was queued and then finds the documented close.
    raw(resumes).resume();
    expect(await resumes.waitForClose()).toEqual({
      code: 4001,
      reason: "Slow consumer: lossless data could not be queued",
    });
    // The one that never reads again is dropped after WEBSOCKET_CLOSE_GRACE_MS, without its
    // close frame ever getting through: when it finally reads, the connection just ends (1006).
    const serverSide = stalledSessions[1]?.socket;
    if (serverSide && serverSide.readyState !== serverSide.CLOSED) {
      await new Promise((resolve) => serverSide.once("close", resolve));
    }
    raw(vanished).resume();
    expect((await vanished.waitForClose()).code).toBe(1006);
    // And out of the registry (their memory released) once their sockets have closed.
    expect([...sessions.keys()]).toEqual(["healthy"]);

    // The healthy client received every message, in order, and is still connected.
    const prices = healthy.frames.filter((frame) => frame.type === "signal").map((frame) => frame.price);
    expect(prices).toEqual(Array.from({ length: published }, (_, i) => i + 1));
    expect((await healthy.request({ type: "ping" })).type).toBe("pong");
    const metrics = await (await fetch(`${running.httpUrl}/metrics`)).text();
    expect(metrics).toContain("gateway_slow_consumer_disconnects_total 2");
    expect(metrics).toContain("gateway_websocket_connections 1");
  }, 60_000);
});
