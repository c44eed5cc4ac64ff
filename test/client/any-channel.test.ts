/**
 * The SDK with an extra plugin loaded: a gateway serving the four bundled channels and `news`, a
 * channel this SDK was built without. The bundled channels keep their typed events; `news` is
 * learnt from welcome's channel_info and its frames arrive as generic data frames (channel, type,
 * payload), validated against the schema the gateway published for it. A frame that fails that
 * schema (injected by a relay: the gateway would not send one) is an error event, never
 * delivered. Nothing in src/client names `news`.
 */
import { beforeAll, describe, expect, it } from "vitest";
import type { GatewayClient } from "../../src/client/node.js";
import { BUNDLED_CHANNELS } from "../helpers/channels.js";
import { pluginsWithNews } from "../helpers/plugins-dir.js";
import { withGateway } from "../helpers/with-gateway.js";
import type { ClientRecorder } from "./helpers/recorder.js";
import { openThroughProxy } from "./helpers/sdk.js";
import { type TcpProxy, webSocketFrame } from "./helpers/tcp-proxy.js";

const ISO_UTC = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{3})?Z$/;
const plugins = pluginsWithNews("sdk-plugins");

const stack = withGateway({ pluginsDir: plugins.dir });
stack.defer(() => plugins.remove());
let proxy: TcpProxy;
let sdk: GatewayClient;
let events: ClientRecorder;

beforeAll(async () => {
  ({ proxy, sdk, events } = await openThroughProxy(stack));
});

describe("an SDK that knows any channel the gateway announces", () => {
  it("learns the extra channel from the welcome", async () => {
    const welcome = events.all("open")[0]?.welcome;
    expect(welcome?.channels).toEqual(["news", ...BUNDLED_CHANNELS]);
    expect(welcome?.channel_info).toHaveProperty("news.frame_type", "news");
    // Lossless, as the gateway said: an interval is refused before anything is sent.
    expect(() => sdk.subscribe("news", ["AAPL"], { intervalMs: 500 })).toThrow(TypeError);
  });

  it("delivers the extra channel's frames as generic data frames, validated", async () => {
    sdk.subscribe("news", ["AAPL"]);
    expect(await events.next("subscribed")).toMatchObject({ channel: "news", symbols: ["AAPL"] });
    stack.publisher.publish(
      "news.wire",
      JSON.stringify({ symbol: "AAPL", headline: "Apple beats", source: "wire" }),
    );
    const data = await events.next("channel_data");
    expect(data).toEqual({
      channel: "news",
      type: "news",
      payload: {
        type: "news",
        symbol: "AAPL",
        headline: "Apple beats",
        source: "wire",
        timestamp: expect.stringMatching(ISO_UTC),
        seq: 1,
        epoch: expect.any(String),
      },
    });
    // The same frame through the frame event, as every frame is.
    expect(events.all("frame").at(-1)).toEqual(data.payload);
  });

  it("keeps the bundled channels' typed events", async () => {
    sdk.subscribe("trades", ["MSFT"]);
    expect(await events.next("subscribed")).toMatchObject({ channel: "trades", symbols: ["MSFT"] });
    stack.publisher.publish(
      "execution.trades.x",
      JSON.stringify({ symbol: "MSFT", side: "BUY", quantity: 5, price: 400 }),
    );
    expect(await events.next("trade_executed")).toMatchObject({
      type: "trade_executed",
      symbol: "MSFT",
      seq: 1,
    });
    expect(events.all("channel_data").map((frame) => frame.channel)).toEqual(["news"]);
  });

  it("reports a frame that fails the published schema as an error event and delivers nothing", async () => {
    const before = events.all("frame").length;
    proxy.inject(
      webSocketFrame(Buffer.from(JSON.stringify({ type: "news", headline: 42, seq: 9, epoch: "e" }))),
    );
    const error = await events.next("error");
    expect(error).toEqual({
      kind: "invalid_frame",
      message: "Invalid news frame",
      data: { type: "news", headline: 42, seq: 9, epoch: "e" },
      issues: expect.arrayContaining([{ path: "headline", message: expect.any(String) }]),
    });
    expect(events.all("frame").length).toBe(before);
    expect(events.all("channel_data").length).toBe(1);
    expect(sdk.state).toBe("open");
  });
});
