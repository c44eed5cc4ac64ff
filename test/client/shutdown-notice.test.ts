/**
 * The SDK and a gateway going away or turning it away, with real gateways, a real nats-server and
 * real sockets: after a shutdown_notice it reconnects at reconnect_in_ms (the close coming earlier
 * here), without its backoff, and resumes with `since`; a refused upgrade's Retry-After (503 over
 * WEBSOCKET_MAX_CONNECTS_PER_SECOND) is honoured with jitter (Node: ws reads the response).
 */
import { createServer, type Server, connect as tcpConnect } from "node:net";
import { jetstream } from "@nats-io/jetstream";
import { describe, expect, it } from "vitest";
import WebSocket from "ws";
import type { TradeExecutedFrame } from "../../src/client/node.js";
import { retryAfterMs } from "../../src/client/node.js";
import { MANUAL_FLUSH, withGateway } from "../helpers/with-gateway.js";
import { recordedClient } from "./helpers/sdk.js";

const stack = withGateway({ gateway: false, env: MANUAL_FLUSH });

/** A TCP relay on a free port whose target the test switches (a load balancer moving clients). */
async function switchableRelay(target: number): Promise<{ port: number; target: number; server: Server }> {
  const relay = { port: 0, target, server: createServer() };
  relay.server.on("connection", (client) => {
    const upstream = tcpConnect(relay.target, "127.0.0.1");
    client.pipe(upstream).pipe(client);
    const drop = () => {
      client.destroy();
      upstream.destroy();
    };
    client.on("error", drop).on("close", drop);
    upstream.on("error", drop).on("close", drop);
  });
  await new Promise<void>((resolve) => relay.server.listen(0, "127.0.0.1", resolve));
  relay.port = (relay.server.address() as { port: number }).port;
  stack.defer(() => new Promise((resolve) => relay.server.close(resolve)));
  return relay;
}

function trade(quantity: number): string {
  return JSON.stringify({ symbol: "AAPL", side: "BUY", quantity, price: 100, trade_id: `T-${quantity}` });
}

describe("shutdown_notice", () => {
  it("reconnects at reconnect_in_ms, not with its backoff, and resumes with since", async () => {
    const server = await stack.startNats({ jetstream: true });
    const upstream = stack.track(await server.client());
    const a = await stack.startGateway({ NATS_URL: server.url });
    const b = await stack.startGateway({ NATS_URL: server.url });
    const relay = await switchableRelay(a.port);
    // A backoff of 5 s: a reconnection at the notice's time cannot be mistaken for it.
    const { sdk, events } = recordedClient(stack, {
      url: `ws://127.0.0.1:${relay.port}/ws`,
      backoff: { initialDelayMs: 5000, factor: 1, maxDelayMs: 5000 },
      random: () => 1,
    });
    sdk.connect();
    await events.next("open");
    const js = jetstream(upstream);
    for (const quantity of [1, 2, 3]) await js.publish("execution.trades.AAPL", trade(quantity));
    await events.next("trade_executed", (frame) => frame.quantity === 3);

    // Clients that come back now reach the other instance.
    relay.target = b.port;
    let noticeAt = 0;
    const notice = new Promise<{ reconnect_in_ms: number }>((resolve) =>
      sdk.once("shutdown_notice", (frame) => {
        noticeAt = Date.now();
        resolve(frame);
      }),
    );
    // N = 1500 (0.5 of 3000); the gateway then closes at once (before N): the SDK still waits for N.
    a.gateway.endpoint.drainWithNotice(3000, () => 0.5);
    expect(await notice).toEqual({ type: "shutdown_notice", reconnect_in_ms: 1500 });
    await stack.close(a);
    expect(await events.next("closed")).toMatchObject({ code: 1001, willReconnect: true });
    const reconnecting = await events.next("reconnecting");
    expect(reconnecting.attempt).toBe(1);
    expect(reconnecting.delayMs).toBeGreaterThan(1000);
    expect(reconnecting.delayMs).toBeLessThanOrEqual(1500);
    // Published while the client is away: the resume brings them.
    for (const quantity of [4, 5]) await js.publish("execution.trades.AAPL", trade(quantity));

    await events.next("connecting", (event) => event.attempt === 1);
    const reconnectedAfter = Date.now() - noticeAt;
    expect(reconnectedAfter).toBeGreaterThanOrEqual(1450);
    expect(reconnectedAfter).toBeLessThan(3000);
    expect(await events.next("recovered", (event) => event.channel === "trades")).toEqual({
      channel: "trades",
      count: 2,
    });
    expect(events.all("trade_executed").map((frame: TradeExecutedFrame) => frame.quantity)).toEqual([
      1, 2, 3, 4, 5,
    ]);
    expect(events.all("gap")).toEqual([]);
  }, 30_000);
});

describe("Retry-After (Node)", () => {
  it("reads the header as seconds or a date", () => {
    expect(retryAfterMs("3")).toBe(3000);
    expect(retryAfterMs(undefined)).toBeUndefined();
    expect(retryAfterMs("soon")).toBeUndefined();
    expect(retryAfterMs(new Date(10_000).toUTCString(), 4000)).toBe(6000);
  });

  it("waits Retry-After plus jitter after a 503 for rate, then connects", async () => {
    const running = await stack.startGateway({
      WEBSOCKET_MAX_CONNECTS_PER_SECOND: "1",
      WEBSOCKET_CONNECTS_BURST: "1",
    });
    // The one token goes to another client.
    const first = stack.track(new WebSocket(running.wsUrl));
    await new Promise((resolve) => first.once("open", resolve));

    const { sdk, events } = recordedClient(stack, {
      url: running.wsUrl,
      backoff: { initialDelayMs: 10, factor: 1, maxDelayMs: 10 },
      random: () => 0.5,
    });
    sdk.connect();
    const closed = await events.next("closed");
    expect(closed).toMatchObject({ code: 1006, willReconnect: true });
    expect(closed.error).toContain("503");
    // Retry-After: 1 -> 1000 ms, plus half of it (random 0.5); the backoff alone would be 5 ms.
    expect(await events.next("reconnecting")).toEqual({ attempt: 1, delayMs: 1500 });
    await events.next("open");
  }, 20_000);
});
