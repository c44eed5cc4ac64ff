/**
 * Received frames are validated with the server's schemas, and a frame that fails is reported
 * through the `error` event: never thrown, never delivered, and the connection carries on. The
 * bad frames come from a real gateway running fixture plugins (one drifted from the SDK's schema,
 * one of a type the SDK does not know), and, for bytes no gateway would send, from a relay that
 * injects raw WebSocket frames.
 */
import path from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import type { GatewayClient } from "../../src/client/node.js";
import { withGateway } from "../helpers/with-gateway.js";
import type { ClientRecorder } from "./helpers/recorder.js";
import { openThroughProxy } from "./helpers/sdk.js";
import { type TcpProxy, webSocketFrame } from "./helpers/tcp-proxy.js";

const DRIFT_PLUGINS = path.join(import.meta.dirname, "fixtures/plugins-drift");

const stack = withGateway({ pluginsDir: DRIFT_PLUGINS });
let proxy: TcpProxy;
let sdk: GatewayClient;
let events: ClientRecorder;

beforeAll(async () => {
  ({ proxy, sdk, events } = await openThroughProxy(stack));
});

/** Publish, then a known-good frame after it: once that is here, the first has been handled. */
async function publishThenBarrier(subject: string, payload: unknown, barrierSymbol: string): Promise<void> {
  stack.publisher.publish(subject, JSON.stringify(payload));
  stack.publisher.publish("headlines.x", JSON.stringify({ symbol: barrierSymbol, text: "barrier" }));
  await events.next("frame", (frame) => frame.type === "headline" && frame.symbol === barrierSymbol);
}

describe("frame validation", () => {
  it("a frame of a known type that fails its schema is an error event, not a signal, and not thrown", async () => {
    await publishThenBarrier("strategy.signals.x", { symbol: "AAPL", confidence: "high" }, "B1");
    const [error] = events.all("error");
    expect(error).toEqual({
      kind: "invalid_frame",
      message: "Invalid signal frame",
      data: {
        type: "signal",
        symbol: "AAPL",
        confidence: "high",
        timestamp: expect.any(String),
        seq: expect.any(Number),
        epoch: expect.any(String),
      },
      issues: expect.arrayContaining([
        { path: "confidence", message: expect.any(String) },
        { path: "signal_type", message: expect.any(String) },
      ]),
    });
    expect(events.all("signal")).toEqual([]);
    expect(events.all("frame").map((frame) => frame.type)).toEqual(["welcome", "headline"]);
    expect(sdk.state).toBe("open");
  });

  it("a frame of a type the SDK does not know is delivered as is through the frame event", async () => {
    await publishThenBarrier("headlines.x", { symbol: "MSFT", text: "Microsoft ships" }, "B2");
    expect(events.all("frame")).toContainEqual({
      type: "headline",
      symbol: "MSFT",
      text: "Microsoft ships",
      timestamp: expect.any(String),
      seq: expect.any(Number),
      epoch: expect.any(String),
    });
  });

  it("bytes that are not a frame object are error events too, and the connection keeps working", async () => {
    const before = events.all("error").length;
    proxy.inject(webSocketFrame(Buffer.from("hello")));
    proxy.inject(webSocketFrame(Buffer.from("[1,2]")));
    proxy.inject(webSocketFrame(Buffer.from('{"no":"type"}')));
    proxy.inject(webSocketFrame(Buffer.from('{"type":"pong","id":{"not":"an id"}}')));
    proxy.inject(webSocketFrame(Buffer.from("{}"), "binary"));
    await events.next("error", () => events.all("error").length === before + 5);
    expect(events.all("error").slice(before)).toEqual([
      { kind: "invalid_frame", message: "Frame is not JSON", data: "hello", issues: [] },
      { kind: "invalid_frame", message: "Frame is not a JSON object", data: [1, 2], issues: [] },
      { kind: "invalid_frame", message: "Frame has no string `type`", data: { no: "type" }, issues: [] },
      {
        kind: "invalid_frame",
        message: "Invalid pong frame",
        data: { type: "pong", id: { not: "an id" } },
        issues: [{ path: "id", message: expect.any(String) }],
      },
      {
        kind: "invalid_frame",
        message: "Binary frame: the gateway sends text frames only",
        data: expect.anything(),
        issues: [],
      },
    ]);
    expect(events.all("pong")).toEqual([]);

    sdk.subscribe("headlines", ["AAPL"]);
    expect(await events.next("subscribed")).toMatchObject({ channel: "headlines", symbols: ["AAPL"] });
    expect(events.all("closed")).toEqual([]);
  });
});
