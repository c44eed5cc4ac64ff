/**
 * Delivery quality through the SDK, against the real gateway, a real nats-server and real
 * sockets: a channel reported stale (with its reason) when the gateway loses NATS and live again
 * once the link is back (and, for a channel with a staleness threshold, data flows); a conflated
 * channel's interval_ms sent, confirmed by the gateway and re-sent after a reconnection; an
 * interval on a lossless channel refused before anything is sent; delivery_status tracked.
 */
import { describe, expect, it } from "vitest";
import type {
  GatewayClient,
  GatewayClientOptions,
  StaleReason,
  StreamStatusFrame,
} from "../../src/client/node.js";
import { AUTO_SUBSCRIBED_CHANNELS, BUNDLED_CHANNELS } from "../helpers/channels.js";
import { waitUntilReady } from "../helpers/gateway.js";
import { withGateway } from "../helpers/with-gateway.js";
import type { ClientRecorder } from "./helpers/recorder.js";
import { recordedClient, startProxy } from "./helpers/sdk.js";
import { webSocketFrame } from "./helpers/tcp-proxy.js";

const ISO = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;
/** The channels this connection is subscribed to (the auto-subscribe default): they hear every status. */
const CHANNELS = AUTO_SUBSCRIBED_CHANNELS;

const stack = withGateway({ gateway: false });

function client(options: GatewayClientOptions) {
  return recordedClient(stack, { backoff: { initialDelayMs: 20, maxDelayMs: 100 }, ...options });
}

/**
 * The first stream_status frame for `channel` with that status (and reason) among those received
 * from the `from`-th on, or the next one. Channels change in no set order: each is awaited alone.
 */
function statusFrame(
  sdk: GatewayClient,
  events: ClientRecorder,
  from: number,
  channel: string,
  status: "live" | "stale",
  reason?: StaleReason,
): Promise<StreamStatusFrame> {
  const matches = (frame: StreamStatusFrame) =>
    frame.channel === channel && frame.status === status && (reason === undefined || frame.reason === reason);
  const seen = events.all("stream_status").slice(from).find(matches);
  if (seen) return Promise.resolve(seen);
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      off();
      reject(new Error(`no stream_status ${channel} ${status} ${reason ?? ""} within 10 s`));
    }, 10_000);
    const off = sdk.on("stream_status", (frame) => {
      if (!matches(frame)) return;
      clearTimeout(timer);
      off();
      resolve(frame);
    });
  });
}

describe("stream status", () => {
  it("reports every channel stale (upstream_disconnected) while NATS is down, and live again after it restarts and data flows", async () => {
    const running = await stack.startGateway();
    const { sdk, events } = client({ url: running.wsUrl });
    sdk.connect();
    const { welcome } = await events.next("open");

    // Known from the welcome: every channel live, and announced once each.
    expect(Object.keys(welcome.stream_status ?? {}).sort()).toEqual(BUNDLED_CHANNELS);
    for (const channel of BUNDLED_CHANNELS)
      expect(sdk.streamStatus[channel]).toEqual({ status: "live", since: expect.stringMatching(ISO) });
    const announced = await Promise.all(BUNDLED_CHANNELS.map(() => events.next("channel_status")));
    expect(announced.map(({ channel }) => channel).sort()).toEqual(BUNDLED_CHANNELS);

    await stack.nats.stop();
    try {
      const stale = await Promise.all(
        CHANNELS.map((channel) => statusFrame(sdk, events, 0, channel, "stale", "upstream_disconnected")),
      );
      for (const frame of stale) {
        expect(frame).toEqual({
          type: "stream_status",
          channel: frame.channel,
          status: "stale",
          reason: "upstream_disconnected",
          since: expect.stringMatching(ISO),
          timestamp: expect.stringMatching(ISO),
        });
        expect(sdk.streamStatus[frame.channel]).toEqual({
          status: "stale",
          reason: "upstream_disconnected",
          since: frame.since,
        });
      }
      // One stream_status each (no repeats), each also told as a channel_status.
      expect(events.all("stream_status")).toHaveLength(CHANNELS.length);
      expect(
        events
          .all("channel_status")
          .slice(BUNDLED_CHANNELS.length)
          .map(({ channel, status, reason }) => `${channel} ${status} ${reason}`)
          .sort(),
      ).toEqual(CHANNELS.map((channel) => `${channel} stale upstream_disconnected`));
    } finally {
      await stack.nats.restart();
    }
    await waitUntilReady(running);
    const back = CHANNELS.length;

    // Events (trades, signals) have no staleness threshold: live as soon as the link is back.
    for (const channel of ["signals", "trades"]) {
      await statusFrame(sdk, events, back, channel, "live");
      expect(sdk.streamStatus[channel]).toMatchObject({ status: "live" });
    }
    // Prices and the portfolio have a threshold: still stale, now because nothing came since the
    // link is back...
    for (const channel of ["portfolio", "price_updates"]) {
      await statusFrame(sdk, events, back, channel, "stale", "no_data");
      expect(sdk.streamStatus[channel]).toMatchObject({ status: "stale", reason: "no_data" });
    }
    // ...until a price arrives.
    const fresh = await stack.nats.client();
    try {
      fresh.publish("market.prices.AAPL", JSON.stringify({ symbol: "AAPL", price: 101 }));
      const live = await statusFrame(sdk, events, back, "price_updates", "live");
      expect(live).toEqual({
        type: "stream_status",
        channel: "price_updates",
        status: "live",
        since: expect.stringMatching(ISO),
        timestamp: expect.stringMatching(ISO),
      });
      expect(sdk.streamStatus.price_updates).toEqual({ status: "live", since: live.since });
      await events.next("price_update", (frame) => frame.symbols.AAPL?.price === 101);
    } finally {
      await fresh.close();
    }
    expect(sdk.streamStatus.portfolio).toMatchObject({ status: "stale", reason: "no_data" });
    expect(sdk.state).toBe("open");
  }, 30_000);

  it("takes the status of a channel from its subscribed ack", async () => {
    const running = await stack.startGateway();
    const { sdk, events } = client({ url: running.wsUrl });
    sdk.subscribe("trades", ["AAPL"]);
    sdk.connect();
    const ack = await events.next("subscribed", (frame) => frame.channel === "trades");
    expect(ack.stream_status).toEqual({ status: "live", since: expect.stringMatching(ISO) });
    expect(sdk.streamStatus.trades).toEqual(ack.stream_status);
  });
});

describe("interval_ms", () => {
  it("is sent with the subscribe, confirmed by the gateway, and re-sent after every reconnection", async () => {
    const running = await stack.startGateway();
    const proxy = await startProxy(stack, running.port);
    const { sdk, events } = client({ url: proxy.wsUrl });
    sdk.subscribe("price_updates", ["AAPL"], { intervalMs: 1000 });
    expect(sdk.intervals).toEqual({ price_updates: 1000 });
    sdk.connect();
    const first = await events.next("subscribed", (frame) => frame.channel === "price_updates");
    expect(first).toMatchObject({ channel: "price_updates", symbols: ["AAPL"], interval_ms: 1000 });

    // More symbols later keep the interval (the gateway's default here is 200 ms).
    sdk.subscribe("price_updates", ["MSFT"]);
    const more = await events.next("subscribed", (frame) => frame.channel === "price_updates");
    expect(more).toMatchObject({ symbols: ["AAPL", "MSFT"], interval_ms: 1000 });

    // The connection drops: the new one gets the same interval back, without being asked again.
    proxy.dropAll();
    await events.next("closed");
    await events.next("open");
    const restored = await events.next("subscribed", (frame) => frame.channel === "price_updates");
    expect(restored).toMatchObject({ symbols: ["AAPL", "MSFT"], interval_ms: 1000 });

    // Changing it takes effect at once; leaving the channel forgets it.
    sdk.subscribe("price_updates", ["AAPL"], { intervalMs: 500 });
    expect(await events.next("subscribed", (frame) => frame.channel === "price_updates")).toMatchObject({
      interval_ms: 500,
    });
    sdk.unsubscribe("price_updates");
    await events.next("unsubscribed", (frame) => frame.channel === "price_updates");
    expect(sdk.intervals).toEqual({});
    sdk.subscribe("price_updates", ["AAPL"]);
    expect(await events.next("subscribed", (frame) => frame.channel === "price_updates")).toMatchObject({
      interval_ms: 200,
    });
  }, 20_000);

  it("is refused up front on a lossless channel, and when it is no interval at all", async () => {
    const running = await stack.startGateway();
    const { sdk, events } = client({ url: running.wsUrl });
    for (const channel of ["trades", "signals"])
      expect(() => sdk.subscribe(channel, "*", { intervalMs: 500 })).toThrow(
        new TypeError(
          `intervalMs applies to conflated channels only (price_updates, portfolio): ${channel} is lossless, every frame is delivered as it comes`,
        ),
      );
    for (const intervalMs of [0, -5, 1.5, 60_001, Number.NaN])
      expect(() => sdk.subscribe("price_updates", "*", { intervalMs })).toThrow(RangeError);
    // Nothing was remembered: the connection starts on the default everywhere.
    expect(sdk.subscriptions).toEqual({});
    expect(sdk.intervals).toEqual({});
    sdk.connect();
    await events.next("open");
    expect(events.all("subscribed")).toEqual([]);
  });

  it("dropped from what the client remembers when the gateway refuses it (below WEBSOCKET_MIN_INTERVAL_MS)", async () => {
    const running = await stack.startGateway({ WEBSOCKET_MIN_INTERVAL_MS: "150" });
    const { sdk, events } = client({ url: running.wsUrl });
    sdk.connect();
    await events.next("open");
    sdk.subscribe("portfolio", "*", { intervalMs: 400 });
    expect(await events.next("subscribed", (frame) => frame.channel === "portfolio")).toMatchObject({
      interval_ms: 400,
    });
    sdk.subscribe("portfolio", "*", { intervalMs: 100 });
    expect(await events.next("server_error")).toMatchObject({ code: "INVALID_MESSAGE" });
    expect(sdk.intervals).toEqual({ portfolio: 400 });
    expect(sdk.subscriptions).toEqual({ portfolio: "*" });
  });
});

describe("delivery status", () => {
  it("is an event, and client.degraded until the gateway restores the intervals or the connection is new", async () => {
    const running = await stack.startGateway();
    const proxy = await startProxy(stack, running.port);
    const { sdk, events } = client({ url: proxy.wsUrl });
    sdk.connect();
    await events.next("open");
    expect(sdk.degraded).toBe(false);
    // The gateway widens a slow reader's intervals; here the frame is written by hand on the wire.
    const frame = {
      type: "delivery_status",
      degraded: true,
      intervals_ms: { price_updates: 6000, portfolio: 10000 },
      timestamp: "2024-12-19T12:00:00.000Z",
    };
    proxy.inject(webSocketFrame(Buffer.from(JSON.stringify(frame))));
    expect(await events.next("delivery_status")).toEqual(frame);
    expect(sdk.degraded).toBe(true);
    proxy.inject(
      webSocketFrame(
        Buffer.from(JSON.stringify({ ...frame, degraded: false, intervals_ms: { price_updates: 200 } })),
      ),
    );
    expect(await events.next("delivery_status")).toMatchObject({ degraded: false });
    expect(sdk.degraded).toBe(false);

    proxy.inject(webSocketFrame(Buffer.from(JSON.stringify(frame))));
    await events.next("delivery_status");
    expect(sdk.degraded).toBe(true);
    proxy.dropAll();
    await events.next("open");
    expect(sdk.degraded).toBe(false);
  });
});
