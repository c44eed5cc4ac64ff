/**
 * Keep-alive and the stable period, against the real gateway through a loopback TCP relay that
 * the test can freeze (a hung path: nothing arrives, nothing closes) or cut.
 */
import { describe, expect, it } from "vitest";
import type { GatewayClientOptions } from "../../src/client/node.js";
import { withGateway } from "../helpers/with-gateway.js";
import { ManualClock } from "./helpers/manual-clock.js";
import { recordedClient, startProxy } from "./helpers/sdk.js";
import type { TcpProxy } from "./helpers/tcp-proxy.js";

const stack = withGateway();
let proxy: TcpProxy;

async function throughProxy(options: Omit<GatewayClientOptions, "url">) {
  proxy = await startProxy(stack);
  return recordedClient(stack, { url: proxy.wsUrl, ...options });
}

describe("keep-alive interval", () => {
  it("pings at the ping_interval the welcome frame announces when none is set", async () => {
    const quick = await stack.startGateway({ WEBSOCKET_PING_INTERVAL: "0.1" });
    const { sdk, events } = recordedClient(stack, { url: quick.wsUrl });
    sdk.connect();
    expect((await events.next("open")).welcome.ping_interval).toBe(0.1);
    // The gateway never sends pong unprompted: two pongs mean the SDK pinged twice by itself.
    await events.next("pong");
    await events.next("pong");
  });
});

describe("dead connection", () => {
  it("close() returns even when the gateway never answers the close frame", async () => {
    const { sdk, events } = await throughProxy({ clientId: "sdk-hung-close" });
    sdk.connect();
    await events.next("open");
    proxy.freeze();
    // `ws` alone would wait 30 s for the closing handshake; the SDK drops the socket after 1 s.
    await sdk.close();
    expect(sdk.state).toBe("closed");
  }, 5000);

  it("pongs that stop coming close the connection, and the client reconnects", async () => {
    const PONG_TIMEOUT_MS = 2500;
    const { sdk, events } = await throughProxy({
      clientId: "sdk-keepalive",
      pingIntervalMs: 100,
      pongTimeoutMs: PONG_TIMEOUT_MS,
      backoff: { initialDelayMs: 20, factor: 2, maxDelayMs: 100 },
    });
    sdk.connect();
    await events.next("open");
    // The keep-alive runs and the gateway answers it.
    await events.next("pong");
    await events.next("pong");
    expect(events.all("closed")).toEqual([]);

    proxy.freeze();
    expect(await events.next("closed")).toEqual({
      code: 1006,
      reason: `Dead connection: no pong within ${PONG_TIMEOUT_MS} ms`,
      willReconnect: true,
    });
    expect(await events.next("reconnecting")).toMatchObject({ attempt: 1 });

    // The new connection (the relay only froze the old one) takes over the client_id; the old
    // one's 4000 REPLACED never reaches the client, which has let go of it.
    await events.next("open");
    expect(sdk.state).toBe("open");
    stack.publisher.publish(
      "strategy.signals.x",
      JSON.stringify({ signal_type: "SELL", symbol: "AAPL", price: 1, quantity: 1, confidence: 1 }),
    );
    expect(await events.next("signal")).toMatchObject({ signal_type: "SELL", symbol: "AAPL" });
    expect(events.all("closed")).toHaveLength(1);
  });
});

describe("stable period", () => {
  it("the attempt counter keeps growing across short-lived connections and resets after a stable one", async () => {
    const clock = new ManualClock();
    const { sdk, events } = await throughProxy({
      clock,
      random: () => 0.5,
      backoff: { initialDelayMs: 100, factor: 2, maxDelayMs: 1000, stableAfterMs: 5000 },
    });
    sdk.connect();
    await events.next("open");

    proxy.dropAll();
    expect(await events.next("closed")).toMatchObject({ code: 1006, willReconnect: true });
    expect(await events.next("reconnecting")).toEqual({ attempt: 1, delayMs: 50 });
    clock.advance(50);
    await events.next("open");

    // Dropped again before the stable period: the schedule carries on.
    proxy.dropAll();
    expect(await events.next("reconnecting")).toEqual({ attempt: 2, delayMs: 100 });
    clock.advance(100);
    await events.next("open");

    // Open for the whole stable period: the next drop starts from the first delay again.
    clock.advance(5000);
    proxy.dropAll();
    expect(await events.next("reconnecting")).toEqual({ attempt: 1, delayMs: 50 });
    clock.advance(50);
    await events.next("open");
    expect(events.names(["connecting", "open", "closed", "reconnecting"])).toEqual([
      "connecting",
      "open",
      ...Array(3).fill(["closed", "reconnecting", "connecting", "open"]).flat(),
    ]);
    expect(events.all("connecting").map((event) => event.attempt)).toEqual([0, 1, 2, 1]);
  });
});
