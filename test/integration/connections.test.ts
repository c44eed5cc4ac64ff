/**
 * Connection lifecycle on a real gateway fed by a real nats-server: client_id handling and
 * takeover, the connection limit, WEBSOCKET_ENABLED=false, the REST status documents, and the
 * automatic cleanup of dead peers.
 */

import { describe, expect, it } from "vitest";
import WebSocket from "ws";
import { BUNDLED_CHANNELS } from "../helpers/channels.js";
import { STATUS_FIELDS } from "../helpers/seed-frames.js";
import { TestClient } from "../helpers/test-client.js";
import { withGateway } from "../helpers/with-gateway.js";

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
const ISO_UTC = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

const stack = withGateway({ gateway: false });
const connect = (url: string) => stack.connect({ url });

/** HTTP status of a refused upgrade. */
function upgradeStatus(url: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(url);
    socket.on("unexpected-response", (_request, response) => {
      resolve(response.statusCode ?? 0);
      socket.terminate();
    });
    socket.on("open", () => reject(new Error("upgrade unexpectedly accepted")));
    socket.on("error", () => {});
  });
}

describe("client_id", () => {
  it("uses the client_id query parameter when given, and a UUID when not", async () => {
    const running = await stack.startGateway();
    const named = await connect(`${running.wsUrl}?client_id=desk-7.trader_1:a`);
    expect(named.frames[0]).toMatchObject({ type: "welcome", client_id: "desk-7.trader_1:a" });
    const anonymous = await connect(running.wsUrl);
    expect(anonymous.frames[0]?.client_id).toMatch(UUID);
  });

  it("refuses an invalid client_id at the upgrade with HTTP 400", async () => {
    const running = await stack.startGateway();
    expect(await upgradeStatus(`${running.wsUrl}?client_id=${"x".repeat(65)}`)).toBe(400);
    expect(await upgradeStatus(`${running.wsUrl}?client_id=has%20space`)).toBe(400);
  });

  it("a second connection with the same client_id takes over: the older one is closed with 4000", async () => {
    const running = await stack.startGateway();
    const older = await connect(`${running.wsUrl}?client_id=dup`);
    const newer = await connect(`${running.wsUrl}?client_id=dup`);
    expect(await older.waitForClose()).toEqual({
      code: 4000,
      reason: "Replaced by a newer connection with the same client_id",
    });
    expect((await newer.request({ type: "ping" })).type).toBe("pong");
    const status = (await (await fetch(`${running.httpUrl}/websocket/status`)).json()) as {
      active_connections: number;
    };
    expect(status.active_connections).toBe(1);
  });
});

describe("WEBSOCKET_MAX_CONNECTIONS", () => {
  it("closes the connection over the limit with 1013 and a reason, leaving the others untouched", async () => {
    const running = await stack.startGateway({ WEBSOCKET_MAX_CONNECTIONS: "2" });
    const first = await connect(running.wsUrl);
    const second = await connect(running.wsUrl);
    const third = await TestClient.connect(running.wsUrl, { welcome: false });
    expect(await third.waitForClose()).toEqual({ code: 1013, reason: "Maximum connections reached (2)" });
    expect(third.frames).toEqual([]);
    expect((await first.request({ type: "ping" })).type).toBe("pong");
    expect((await second.request({ type: "ping" })).type).toBe("pong");
    const status = (await (await fetch(`${running.httpUrl}/websocket/status`)).json()) as {
      active_connections: number;
    };
    expect(status.active_connections).toBe(2);
  });

  it("lets an existing client_id take over at the limit: it is not a new connection", async () => {
    const running = await stack.startGateway({ WEBSOCKET_MAX_CONNECTIONS: "1" });
    const older = await connect(`${running.wsUrl}?client_id=bot`);
    const newer = await connect(`${running.wsUrl}?client_id=bot`);
    expect((await older.waitForClose()).code).toBe(4000);
    expect((await newer.request({ type: "ping" })).type).toBe("pong");
  });

  it("admits a new client once a slot is free again", async () => {
    const running = await stack.startGateway({ WEBSOCKET_MAX_CONNECTIONS: "1" });
    const first = await TestClient.connect(running.wsUrl);
    await first.close();
    const second = await connect(running.wsUrl);
    expect((await second.request({ type: "ping" })).type).toBe("pong");
  });
});

describe("WEBSOCKET_ENABLED=false", () => {
  it("refuses upgrades on /ws with 503 while REST stays up", async () => {
    const running = await stack.startGateway({ WEBSOCKET_ENABLED: "false" });
    expect(await upgradeStatus(running.wsUrl)).toBe(503);
    const response = await fetch(`${running.httpUrl}/websocket/status`);
    expect(response.status).toBe(200);
    expect(((await response.json()) as { enabled: boolean }).enabled).toBe(false);
    expect((await fetch(`${running.httpUrl}/healthz`)).status).toBe(200);
  });

  it("answers upgrades on other paths with 404", async () => {
    const running = await stack.startGateway();
    expect(await upgradeStatus(`ws://127.0.0.1:${running.port}/socket`)).toBe(404);
  });
});

describe("REST", () => {
  it("GET /websocket/status returns the seed's document field for field", async () => {
    const running = await stack.startGateway({
      WEBSOCKET_MAX_CONNECTIONS: "50",
      WEBSOCKET_PING_INTERVAL: "15",
      WEBSOCKET_PRICE_UPDATE_INTERVAL: "0.25",
      WEBSOCKET_PORTFOLIO_UPDATE_INTERVAL: "2",
    });
    const first = await connect(running.wsUrl);
    await connect(running.wsUrl);
    const { publisher } = stack;
    publisher.publish(
      "execution.trades.x",
      JSON.stringify({ symbol: "AAPL", side: "BUY", quantity: 1, price: 1 }),
    );
    publisher.publish("execution.trades.x", "not json");
    await publisher.flush();
    await first.next("trade_executed");

    const response = await fetch(`${running.httpUrl}/websocket/status`);
    expect(response.headers.get("content-type")).toContain("application/json");
    const body = (await response.json()) as Record<string, unknown> & {
      stream_health: Record<string, Record<string, unknown>>;
    };
    expect(Object.keys(body)).toEqual(STATUS_FIELDS);
    expect(body).toMatchObject({
      enabled: true,
      active_connections: 2,
      max_connections: 50,
      ping_interval: 15,
      price_update_interval: 0.25,
      portfolio_update_interval: 2,
    });
    expect(Object.keys(body.stream_health).sort()).toEqual(BUNDLED_CHANNELS);
    for (const health of Object.values(body.stream_health)) {
      expect(Object.keys(health)).toEqual([
        "last_update",
        "error_count",
        "recovery_attempts",
        "is_healthy",
        "started_at",
      ]);
      expect(health.is_healthy).toBe(true);
      expect(health.started_at).toMatch(ISO_UTC);
    }
    expect(body.stream_health.trades).toMatchObject({
      error_count: 1,
      recovery_attempts: 0,
      last_update: expect.stringMatching(ISO_UTC),
    });
    expect(body.stream_health.signals).toMatchObject({ error_count: 0, last_update: null });
  });

  it("GET /healthz is 200, GET /readyz is 200 once NATS is connected", async () => {
    const running = await stack.startGateway();
    expect(await (await fetch(`${running.httpUrl}/healthz`)).json()).toEqual({ status: "ok" });
    const ready = await fetch(`${running.httpUrl}/readyz`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toEqual({ status: "ready", broker: "nats", broker_connected: true });
  });

  it("GET /readyz is 503 while NATS is unreachable", async () => {
    const unreachable = await stack.startNats();
    await unreachable.stop();
    const running = await stack.startGateway({ NATS_URL: unreachable.url }, { ready: false });
    const response = await fetch(`${running.httpUrl}/readyz`);
    expect(response.status).toBe(503);
    expect(await response.json()).toEqual({ status: "not_ready", broker: "nats", broker_connected: false });
    const status = (await (await fetch(`${running.httpUrl}/websocket/status`)).json()) as {
      stream_health: Record<string, { is_healthy: boolean }>;
    };
    expect(Object.values(status.stream_health).map((health) => health.is_healthy)).toEqual(
      BUNDLED_CHANNELS.map(() => false),
    );
  });

  it("GET /metrics exposes connections, frames per channel, invalid upstream messages and NATS state", async () => {
    const running = await stack.startGateway();
    const client = await connect(running.wsUrl);
    const { publisher } = stack;
    publisher.publish(
      "strategy.signals.x",
      JSON.stringify({ signal_type: "BUY", symbol: "AAPL", price: 1, quantity: 1, confidence: 1 }),
    );
    publisher.publish("strategy.signals.x", JSON.stringify({ signal_type: "MAYBE" }));
    await publisher.flush();
    await client.next("signal");
    const response = await fetch(`${running.httpUrl}/metrics`);
    expect(response.headers.get("content-type")).toContain("text/plain");
    const text = await response.text();
    expect(text).toContain("gateway_websocket_connections 1");
    expect(text).toContain("gateway_nats_connected 1");
    expect(text).toContain('gateway_frames_out_total{channel="signals"} 1');
    expect(text).toContain('gateway_upstream_messages_total{channel="signals"} 2');
    expect(text).toContain('gateway_upstream_invalid_total{channel="signals",reason="schema"} 1');
  });
});

describe("dead peers", () => {
  it("terminates a client that stops answering protocol pings, and forgets it", async () => {
    const running = await stack.startGateway({ WEBSOCKET_PING_INTERVAL: "0.1" });
    // autoPong: false makes this client deaf to the server's pings, like a peer that vanished.
    const deaf = new WebSocket(running.wsUrl, { autoPong: false });
    const closed = new Promise<number>((resolve) => deaf.on("close", (code) => resolve(code)));
    await new Promise((resolve) => deaf.on("open", resolve));
    const healthy = await connect(running.wsUrl);
    expect(await closed).toBe(1006);
    expect((await healthy.request({ type: "ping" })).type).toBe("pong");
    const status = (await (await fetch(`${running.httpUrl}/websocket/status`)).json()) as {
      active_connections: number;
    };
    expect(status.active_connections).toBe(1);
  });
});

describe("WEBSOCKET_ALLOWED_ORIGINS", () => {
  /** HTTP status of an upgrade sent with this Origin header, or "open" when it was accepted. */
  function upgradeWithOrigin(url: string, origin?: string): Promise<number | "open"> {
    return new Promise((resolve) => {
      const socket = new WebSocket(url, origin === undefined ? {} : { origin });
      socket.on("unexpected-response", (_request, response) => {
        resolve(response.statusCode ?? 0);
        socket.terminate();
      });
      socket.on("open", () => {
        resolve("open");
        socket.close();
      });
      socket.on("error", () => {});
    });
  }

  it("refuses browsers from other origins with 403 and lets allowed origins and non-browser clients in", async () => {
    const running = await stack.startGateway({
      WEBSOCKET_ALLOWED_ORIGINS: "https://app.example.com, https://desk.example.com",
    });
    expect(await upgradeWithOrigin(running.wsUrl, "https://evil.example.net")).toBe(403);
    expect(await upgradeWithOrigin(running.wsUrl, "https://desk.example.com")).toBe("open");
    expect(await upgradeWithOrigin(running.wsUrl)).toBe("open");
  });

  it("allows every origin when unset (the seed's behaviour)", async () => {
    const running = await stack.startGateway();
    expect(await upgradeWithOrigin(running.wsUrl, "https://anywhere.example.org")).toBe("open");
  });
});

describe("WEBSOCKET_MAX_CONNECTIONS_PER_IP", () => {
  /** Open a connection from a given loopback source address; resolve with its fate. */
  function connectFrom(
    url: string,
    localAddress: string,
  ): Promise<{
    socket: WebSocket;
    closed: Promise<{ code: number; reason: string }>;
    firstFrame: Promise<string>;
  }> {
    return new Promise((resolve, reject) => {
      const socket = new WebSocket(url, { localAddress });
      const closed = new Promise<{ code: number; reason: string }>((done) =>
        socket.on("close", (code, reason) => done({ code, reason: reason.toString() })),
      );
      // Listening from the start: the welcome frame can arrive together with the upgrade response.
      const firstFrame = new Promise<string>((done) =>
        socket.once("message", (data) => done(data.toString())),
      );
      socket.on("error", () => {});
      socket.once("open", () => resolve({ socket, closed, firstFrame }));
      socket.once("unexpected-response", () => reject(new Error("upgrade refused")));
    });
  }

  it("closes the connection over the per-address limit with 1013, leaving other addresses alone", async () => {
    const running = await stack.startGateway({ WEBSOCKET_MAX_CONNECTIONS_PER_IP: "2" });
    const first = await connectFrom(running.wsUrl, "127.0.0.2");
    const second = await connectFrom(running.wsUrl, "127.0.0.2");
    const third = await connectFrom(running.wsUrl, "127.0.0.2");
    expect(await third.closed).toEqual({ code: 1013, reason: "Too many connections from this address (2)" });
    const elsewhere = await connectFrom(running.wsUrl, "127.0.0.3");
    const status = (await (await fetch(`${running.httpUrl}/websocket/status`)).json()) as {
      active_connections: number;
    };
    expect(status.active_connections).toBe(3);
    // A freed slot is usable again.
    first.socket.close();
    await first.closed;
    // The client hears its close before the gateway's socket has closed and freed the slot.
    const deadline = Date.now() + 5000;
    while (running.gateway.endpoint.clients.size > 2 && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    const again = await connectFrom(running.wsUrl, "127.0.0.2");
    expect(JSON.parse(await again.firstFrame).type).toBe("welcome");
    for (const connection of [second, elsewhere, again]) connection.socket.close();
    await Promise.all([second.closed, elsewhere.closed, again.closed]);
  });
});
