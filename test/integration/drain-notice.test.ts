/**
 * Drain with a notice (rolling deploys), on the real process (src/main.ts) and a real nats-server:
 * on SIGTERM readiness flips first, every client gets `{"type":"shutdown_notice","reconnect_in_ms":N}`
 * with its own N from 0 to SHUTDOWN_RECONNECT_SPREAD_MS, and is closed with 1001 at about its N,
 * not all at once; the spread is clamped to SHUTDOWN_DRAIN_MS minus WEBSOCKET_CLOSE_GRACE_MS.
 */
import { afterAll, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { GatewayProcess, stopGatewayProcesses } from "../helpers/gateway-process.js";
import { type Frame, TestClient } from "../helpers/test-client.js";
import { withGateway } from "../helpers/with-gateway.js";

const stack = withGateway({ scope: "test", gateway: false });
afterAll(() => stopGatewayProcesses());

const GOING_AWAY = { code: 1001, reason: "Server shutting down; reconnect" };

/** A client that notes when its notice and its close arrived. */
async function timedClient(url: string) {
  const client = stack.track(await TestClient.connect(url, { record: false }));
  const timing = { noticeAt: 0, closeAt: 0 };
  client.socket.on("message", (data) => {
    if ((JSON.parse(data.toString()) as Frame).type === "shutdown_notice") timing.noticeAt = Date.now();
  });
  client.socket.on("close", () => {
    timing.closeAt = Date.now();
  });
  return { client, timing };
}

/** Answer of an upgrade request: the HTTP status when refused, 101 when it became a WebSocket. */
function upgradeStatus(url: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(url);
    socket.once("open", () => {
      socket.terminate();
      resolve(101);
    });
    socket.once("unexpected-response", (request, response) => {
      resolve(response.statusCode ?? 0);
      response.resume();
      request.destroy();
    });
    socket.once("error", reject);
  });
}

describe("SIGTERM: drain with a notice", () => {
  it("readiness first, then a notice per client with N in [0, spread], spread out, and each 1001 at its own N", async () => {
    const gateway = await GatewayProcess.start({
      NATS_URL: stack.nats.url,
      SHUTDOWN_DRAIN_MS: "4000",
      SHUTDOWN_RECONNECT_SPREAD_MS: "2000",
      WEBSOCKET_CLOSE_GRACE_MS: "1000",
    });
    const clients = await Promise.all(Array.from({ length: 50 }, () => timedClient(gateway.wsUrl)));
    let readyAtFirstClose: Promise<number> | undefined;
    for (const { client } of clients)
      client.socket.once("close", () => {
        readyAtFirstClose ??= fetch(`${gateway.httpUrl}/readyz`).then((response) => response.status);
      });

    const sentAt = Date.now();
    await gateway.kill("SIGTERM").then((exit) => expect(exit.code).toBe(0), undefined);
    const closes = await Promise.all(clients.map(({ client }) => client.waitForClose()));
    expect(closes).toEqual(Array(50).fill(GOING_AWAY));

    const notices = clients.map(({ client }) =>
      client.frames.find((frame) => frame.type === "shutdown_notice"),
    );
    for (const notice of notices) {
      // Exactly these two fields.
      expect(Object.keys(notice ?? {}).sort()).toEqual(["reconnect_in_ms", "type"]);
      expect(Number.isInteger(notice?.reconnect_in_ms)).toBe(true);
    }
    const ns = notices.map((notice) => notice?.reconnect_in_ms as number);
    expect(Math.min(...ns)).toBeGreaterThanOrEqual(0);
    expect(Math.max(...ns)).toBeLessThanOrEqual(2000);
    // 50 uniform draws cover most of the range (each bound misses by 400 ms with p = 0.8^50).
    expect(Math.min(...ns)).toBeLessThan(400);
    expect(Math.max(...ns)).toBeGreaterThan(1600);
    expect(new Set(ns).size).toBeGreaterThan(40);

    // Each client closed at about its own N after its notice, so not all at once.
    clients.forEach(({ timing }, i) => {
      const n = ns[i] as number;
      expect(timing.noticeAt - sentAt).toBeLessThan(1500);
      expect(timing.closeAt - timing.noticeAt).toBeGreaterThanOrEqual(n - 50);
      expect(timing.closeAt - timing.noticeAt).toBeLessThan(n + 500);
    });
    const closeTimes = clients.map(({ timing }) => timing.closeAt);
    expect(Math.max(...closeTimes) - Math.min(...closeTimes)).toBeGreaterThan(1000);
    // Readiness had flipped before anyone was closed (the process was still up: drain is 4 s).
    expect(await readyAtFirstClose).toBe(503);
  }, 30_000);

  it("refuses new upgrades with 503 during the drain, counted in /metrics, while the others still stream", async () => {
    const gateway = await GatewayProcess.start({
      NATS_URL: stack.nats.url,
      SHUTDOWN_DRAIN_MS: "3000",
      SHUTDOWN_RECONNECT_SPREAD_MS: "2000",
      WEBSOCKET_CLOSE_GRACE_MS: "500",
    });
    const { client } = await timedClient(gateway.wsUrl);
    const exited = gateway.kill("SIGTERM");
    const notice = await client.next("shutdown_notice");
    expect(notice.reconnect_in_ms).toBeLessThanOrEqual(2000);
    expect((await fetch(`${gateway.httpUrl}/readyz`)).status).toBe(503);
    expect(await upgradeStatus(gateway.wsUrl)).toBe(503);
    const metrics = await (await fetch(`${gateway.httpUrl}/metrics`)).text();
    expect(metrics).toMatch(/gateway_connections_refused_total\{reason="draining"\} 1\b/);
    expect(await client.waitForClose()).toEqual(GOING_AWAY);
    expect((await exited).code).toBe(0);
  }, 30_000);

  it("clamps the spread to SHUTDOWN_DRAIN_MS minus WEBSOCKET_CLOSE_GRACE_MS, and says so", async () => {
    const gateway = await GatewayProcess.start({
      NATS_URL: stack.nats.url,
      SHUTDOWN_DRAIN_MS: "1000",
      WEBSOCKET_CLOSE_GRACE_MS: "700",
      // SHUTDOWN_RECONNECT_SPREAD_MS: the default, 10000
    });
    const clients = await Promise.all(Array.from({ length: 10 }, () => timedClient(gateway.wsUrl)));
    expect((await gateway.kill("SIGTERM")).code).toBe(0);
    for (const { client } of clients) {
      expect(await client.waitForClose()).toEqual(GOING_AWAY);
      const notice = client.frames.find((frame) => frame.type === "shutdown_notice");
      expect(notice?.reconnect_in_ms).toBeLessThanOrEqual(300);
    }
    expect(
      gateway.logLines("reconnect spread clamped to SHUTDOWN_DRAIN_MS minus WEBSOCKET_CLOSE_GRACE_MS"),
    ).toEqual([expect.objectContaining({ configuredMs: 10_000, reconnectSpreadMs: 300 })]);
  }, 30_000);
});
