/**
 * The SDK's subscription handling against the real gateway: the auto-subscribe default never
 * shows on a channel the client subscribed explicitly (not even in the moment before the gateway
 * applies the subscription), large requests are split below max_message_bytes instead of getting
 * the connection closed with 1009, and a request the gateway refuses is reported and forgotten.
 */
import { describe, expect, it } from "vitest";
import { GatewayClient } from "../../src/client/node.js";
import { waitForIngest } from "../helpers/gateway.js";
import { MANUAL_FLUSH, withGateway } from "../helpers/with-gateway.js";
import { recordedClient } from "./helpers/sdk.js";

const stack = withGateway({ env: MANUAL_FLUSH });

const sdkClient = () => recordedClient(stack, { url: stack.running.wsUrl });

describe("the auto-subscribe default", () => {
  it("is hidden on a channel subscribed explicitly, including the snapshot sent on connect", async () => {
    const { running, publisher } = stack;
    publisher.publish("market.prices.AAPL", JSON.stringify({ symbol: "AAPL", price: 150 }));
    publisher.publish("market.prices.MSFT", JSON.stringify({ symbol: "MSFT", price: 380 }));
    publisher.publish(
      "portfolio.updates",
      JSON.stringify({ account: "acct-1", positions: {}, total_pnl: 1 }),
    );
    publisher.publish(
      "portfolio.updates",
      JSON.stringify({ account: "acct-2", positions: {}, total_pnl: 2 }),
    );
    await waitForIngest(running, publisher, "price_updates", 2);
    await waitForIngest(running, publisher, "portfolio", 2);

    // What any connection gets first: the default's snapshot of every symbol and account.
    const raw = await stack.connect();
    const snapshot = await raw.drainUntilPong();
    expect(snapshot).toContainEqual(
      expect.objectContaining({
        type: "price_update",
        symbols: { AAPL: { price: 150 }, MSFT: { price: 380 } },
      }),
    );
    expect(snapshot.filter((frame) => frame.type === "portfolio_update")).toHaveLength(2);
    await raw.close();

    const { sdk, events } = sdkClient();
    sdk.subscribe("price_updates", ["MSFT"]);
    sdk.subscribe("portfolio", ["acct-2"]);
    sdk.connect();
    await events.next("subscribed", (ack) => ack.channel === "price_updates");
    await events.next("subscribed", (ack) => ack.channel === "portfolio");
    // The subscribe snapshots follow the acks.
    await events.next("price_update");
    await events.next("price_update");
    await events.next("portfolio_update");
    await events.next("portfolio_update");

    // Twice each: the default's snapshot cut down to the client's symbols, then the subscribe
    // snapshot. Never AAPL, never acct-1.
    expect(events.all("price_update").map((frame) => frame.symbols)).toEqual([
      { MSFT: { price: 380 } },
      { MSFT: { price: 380 } },
    ]);
    expect(events.all("portfolio_update").map((frame) => frame.account)).toEqual(["acct-2", "acct-2"]);
    const priceEvents = events.events
      .filter(
        ({ name, payload }) =>
          name === "price_update" ||
          (name === "subscribed" && (payload as { channel: string }).channel === "price_updates"),
      )
      .map(({ name }) => name);
    expect(priceEvents).toEqual(["price_update", "subscribed", "price_update"]);
  });
});

describe("requests", () => {
  it("a subscribe larger than max_message_bytes is split, and the connection stays open", async () => {
    const { sdk, events } = sdkClient();
    sdk.connect();
    const { welcome } = await events.next("open");
    const symbols = Array.from({ length: 400 }, (_, i) => `SYM${String(i).padStart(6, "0")}`);
    expect(JSON.stringify({ type: "subscribe", channel: "signals", symbols }).length).toBeGreaterThan(
      welcome.max_message_bytes,
    );

    sdk.subscribe("signals", symbols);
    const acks: string[][] = [];
    while (acks.at(-1)?.length !== symbols.length) {
      const ack = await events.next("subscribed");
      acks.push(ack.symbols as string[]);
    }
    expect(acks.length).toBeGreaterThan(1);
    expect(acks.at(-1)).toEqual([...symbols].sort());
    expect(sdk.subscriptions).toEqual({ signals: [...symbols].sort() });
    expect(sdk.state).toBe("open");
    expect(events.all("closed")).toEqual([]);
  });

  it("a request the gateway refuses is reported with its id and dropped from the remembered state", async () => {
    const { sdk, events } = sdkClient();
    sdk.connect();
    await events.next("open");
    sdk.subscribe("trades", ["AAPL"]);
    sdk.subscribe("news", ["AAPL"]);
    expect(sdk.subscriptions).toEqual({ trades: ["AAPL"], news: ["AAPL"] });

    const refusal = await events.next("server_error");
    expect(refusal).toMatchObject({ type: "error", code: "UNKNOWN_CHANNEL", id: expect.any(String) });
    await events.next("subscribed", (ack) => ack.channel === "trades");
    expect(sdk.subscriptions).toEqual({ trades: ["AAPL"] });

    // Single symbols cannot leave "*": refused, and the state stays "*" as the gateway has it.
    sdk.subscribe("signals", "*");
    await events.next("subscribed", (ack) => ack.channel === "signals");
    sdk.unsubscribe("signals", ["AAPL"]);
    expect(await events.next("server_error")).toMatchObject({ code: "SUBSCRIPTION_CONFLICT" });
    expect(sdk.subscriptions).toEqual({ trades: ["AAPL"], signals: "*" });
    expect(sdk.state).toBe("open");
  });

  it("a channel left while disconnected is left again on connect", async () => {
    const { publisher } = stack;
    const { sdk, events } = sdkClient();
    sdk.subscribe("trades", ["AAPL"]);
    sdk.unsubscribe("trades");
    expect(sdk.subscriptions).toEqual({ trades: [] });
    sdk.connect();
    expect(await events.next("unsubscribed")).toMatchObject({ channel: "trades", symbols: [] });
    expect(sdk.activeSubscriptions).toMatchObject({ trades: [], signals: "*" });

    publisher.publish(
      "execution.trades.t",
      JSON.stringify({ symbol: "AAPL", side: "BUY", quantity: 1, price: 1 }),
    );
    publisher.publish(
      "strategy.signals.t",
      JSON.stringify({ signal_type: "BUY", symbol: "AAPL", price: 1, quantity: 1, confidence: 1 }),
    );
    // The signal was published after the trade: once it is here, a trade would have been too.
    await events.next("signal");
    expect(events.all("trade_executed")).toEqual([]);
  });

  it("malformed arguments throw at once (a caller's mistake), and change nothing", () => {
    const { sdk } = sdkClient();
    expect(() => sdk.subscribe("signals", ["AA PL"])).toThrow(RangeError);
    expect(() => sdk.subscribe("signals", [])).toThrow(TypeError);
    expect(() => sdk.subscribe("", ["AAPL"])).toThrow(TypeError);
    expect(sdk.subscriptions).toEqual({});
    // A client_id the gateway would refuse (HTTP 400, on every attempt) is refused here.
    expect(() => new GatewayClient({ url: stack.running.wsUrl, clientId: "has space" })).toThrow(TypeError);
    expect(() => new GatewayClient({ url: "http//nowhere" })).toThrow(/Invalid gateway URL|ws:\/\//);
  });
});
