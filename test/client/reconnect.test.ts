/**
 * The SDK's reconnection against the real gateway and a real nats-server: backoff with full
 * jitter while the gateway is down, and, after the gateway is restarted on the same port, a
 * client that comes back by itself with its explicit subscriptions restored (only its symbols,
 * not the auto-subscribe default).
 */
import { describe, expect, it } from "vitest";
import { backoffCeiling, type GatewayClientOptions } from "../../src/client/node.js";
import { DEFAULT_SUBSCRIPTIONS } from "../helpers/channels.js";
import { freePort } from "../helpers/free-port.js";
import { flushChannel, type RunningGateway, waitForIngest } from "../helpers/gateway.js";
import { MANUAL_FLUSH, withGateway } from "../helpers/with-gateway.js";
import { recordedClient } from "./helpers/sdk.js";

// Conflated channels flush only when the test says so.
const stack = withGateway({ gateway: false, env: MANUAL_FLUSH });

function client(options: GatewayClientOptions) {
  return recordedClient(stack, options);
}

function signal(symbol: string): Record<string, unknown> {
  return { signal_type: "BUY", symbol, price: 10, quantity: 1, confidence: 0.5 };
}

function flushPrices(running: RunningGateway): void {
  flushChannel(running, "price_updates");
}

describe("backoff while the gateway is down", () => {
  it("delays grow with full jitter and never exceed the cap; the client connects once the gateway is up", async () => {
    const port = await freePort();
    const backoff = { initialDelayMs: 20, factor: 2, maxDelayMs: 160, stableAfterMs: 60_000 };
    const { sdk, events } = client({ url: `ws://127.0.0.1:${port}/ws`, backoff });
    sdk.connect();

    const RETRIES = 12;
    for (let attempt = 1; attempt <= RETRIES; attempt++) await events.next("reconnecting");
    const retries = events.all("reconnecting").slice(0, RETRIES);

    // Attempts count up from 1, each delay in [0, min(cap, initial * factor^(attempt-1))].
    expect(retries.map((retry) => retry.attempt)).toEqual(Array.from({ length: RETRIES }, (_, i) => i + 1));
    for (const { attempt, delayMs } of retries) {
      expect(delayMs).toBeGreaterThanOrEqual(0);
      expect(delayMs).toBeLessThanOrEqual(backoffCeiling(attempt, backoff));
      expect(delayMs).toBeLessThanOrEqual(backoff.maxDelayMs);
    }
    expect(backoffCeiling(RETRIES, backoff)).toBe(backoff.maxDelayMs);
    // Jitter: not one fixed delay. Growth: later retries go beyond the first retry's ceiling
    // (all nine from attempt 4 on staying under 20 ms has a probability below 1e-8).
    expect(new Set(retries.map((retry) => retry.delayMs)).size).toBeGreaterThan(1);
    expect(Math.max(...retries.slice(3).map((retry) => retry.delayMs))).toBeGreaterThan(
      backoff.initialDelayMs,
    );

    // Every attempt was a refused TCP connection: 1006 with ws's reason, and a retry.
    const closes = events.all("closed");
    expect(closes.length).toBeGreaterThanOrEqual(RETRIES);
    for (const closed of closes)
      expect(closed).toEqual({
        code: 1006,
        reason: "",
        willReconnect: true,
        error: expect.stringMatching(/ECONNREFUSED/),
      });
    expect(events.all("open")).toEqual([]);

    await stack.startGateway({}, { port });
    const { welcome } = await events.next("open");
    expect(welcome.type).toBe("welcome");
    expect(sdk.state).toBe("open");
  });
});

describe("gateway restart", () => {
  it("the client reconnects by itself and gets only its own symbols again, not the auto-subscribe default", async () => {
    const port = await freePort();
    let running = await stack.startGateway({}, { port });
    const { sdk, events } = client({
      url: `ws://127.0.0.1:${port}/ws`,
      clientId: "sdk-restart",
      backoff: { initialDelayMs: 20, factor: 2, maxDelayMs: 200 },
    });
    // Asked for before connecting: remembered, then sent once the welcome arrives.
    sdk.subscribe("signals", ["AAPL"]);
    sdk.subscribe("price_updates", ["MSFT"]);
    sdk.connect();

    /** The acks that restore the subscriptions, then a check of what the client receives. */
    async function expectOnlyItsSymbols(round: number): Promise<void> {
      // In either order: after a reconnection the signals subscribe carries `since` (a resume).
      const acked = new Set<string>();
      while (!acked.has("signals") || !acked.has("price_updates"))
        acked.add((await events.next("subscribed")).channel);
      expect(sdk.activeSubscriptions).toEqual({
        // Not in the auto-subscribe default: nothing, as the welcome said.
        order_books: [],
        signals: ["AAPL"],
        price_updates: ["MSFT"],
        trades: "*",
        portfolio: "*",
      });
      // Signals are delivered in publish order: had GOOG been sent, it would come before AAPL.
      stack.publisher.publish("strategy.signals.test", JSON.stringify(signal("GOOG")));
      stack.publisher.publish("strategy.signals.test", JSON.stringify(signal("AAPL")));
      await events.next("signal", (frame) => frame.symbol === "AAPL");
      expect(events.all("signal").map((frame) => frame.symbol)).toEqual(Array(round).fill("AAPL"));

      stack.publisher.publish("market.prices.AAPL", JSON.stringify({ symbol: "AAPL", price: 100 + round }));
      stack.publisher.publish("market.prices.MSFT", JSON.stringify({ symbol: "MSFT", price: 200 + round }));
      await waitForIngest(running, stack.publisher, "price_updates", 2);
      flushPrices(running);
      const update = await events.next("price_update");
      expect(update.symbols).toEqual({ MSFT: { price: 200 + round } });

      // Channels the client never touched stay on the default: every symbol.
      stack.publisher.publish(
        "execution.trades.test",
        JSON.stringify({ symbol: "TSLA", side: "BUY", quantity: 1, price: 5 }),
      );
      expect(await events.next("trade_executed")).toMatchObject({ symbol: "TSLA" });
    }

    await events.next("open");
    await expectOnlyItsSymbols(1);

    await stack.close(running);
    expect(await events.next("closed")).toEqual({
      code: 1001,
      reason: "Server shutting down; reconnect",
      willReconnect: true,
    });
    await events.next("reconnecting");
    running = await stack.startGateway({}, { port });

    const { welcome } = await events.next("open");
    // The new gateway starts this connection on the default again; the SDK restores the rest.
    expect(welcome.subscriptions).toEqual(DEFAULT_SUBSCRIPTIONS);
    await expectOnlyItsSymbols(2);
    expect(sdk.subscriptions).toEqual({ signals: ["AAPL"], price_updates: ["MSFT"] });
    expect(events.all("error")).toEqual([]);
    expect(events.all("server_error")).toEqual([]);
  });
});
