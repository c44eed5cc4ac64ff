/**
 * The SDK knows every frame the gateway can send, with the very schema objects the server uses:
 * a control frame added to src/core/protocol.ts or a channel added to plugins/ fails here until
 * the SDK knows it too.
 */
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import type { z } from "zod";
import { DATA_FRAME_CHANNELS, parseServerFrame, SERVER_FRAME_SCHEMAS } from "../../src/client/index.js";
import { subscriptionFrames } from "../../src/client/subscriptions.js";
import { loadConfig } from "../../src/config.js";
import { frameSchemasOf, frameTypeOf } from "../../src/core/plugin.js";
import { loadPlugins } from "../../src/core/plugin-loader.js";
import { positionFields } from "../../src/core/positions.js";
import { SERVER_CONTROL_FRAMES } from "../../src/core/protocol.js";
import { stateExampleSteps } from "../../src/core/state-examples.js";

const PLUGINS_DIR = fileURLToPath(new URL("../../plugins", import.meta.url));

describe("the SDK's frame table", () => {
  it("holds every server control frame, with the server's own schema", () => {
    for (const schema of SERVER_CONTROL_FRAMES) {
      const type = frameTypeOf(schema) as keyof typeof SERVER_FRAME_SCHEMAS;
      expect(SERVER_FRAME_SCHEMAS[type], type).toBe(schema);
    }
  });

  it("holds every plugin's outbound frame, with the plugin's schema and channel (and seq and epoch on lossless channels)", async () => {
    const channels = await loadPlugins(PLUGINS_DIR, loadConfig({}));
    const fromPlugins = Object.fromEntries(
      channels.flatMap((channel) =>
        frameSchemasOf(channel).map((schema) => [frameTypeOf(schema), channel.plugin.name]),
      ),
    );
    expect(DATA_FRAME_CHANNELS).toEqual(fromPlugins);
    for (const channel of channels) {
      if (channel.kind !== "lossless") {
        for (const schema of frameSchemasOf(channel)) {
          const type = frameTypeOf(schema) as keyof typeof SERVER_FRAME_SCHEMAS;
          expect(SERVER_FRAME_SCHEMAS[type], type).toBe(schema);
        }
        continue;
      }
      const { plugin } = channel;
      const type = frameTypeOf(plugin.outbound) as keyof typeof SERVER_FRAME_SCHEMAS;
      // Every field of the plugin's frame, with the very same schema, plus the gateway's position.
      const shape = (SERVER_FRAME_SCHEMAS[type] as unknown as z.ZodObject).shape;
      const own = (plugin.outbound as z.ZodObject).shape;
      for (const [field, schema] of Object.entries(own))
        expect(shape[field], `${type}.${field}`).toBe(schema);
      expect(Object.keys(shape).sort(), type).toEqual(
        [...Object.keys(own), ...Object.keys(positionFields)].sort(),
      );
      for (const [field, schema] of Object.entries(positionFields))
        expect(shape[field], `${type}.${field}`).toBe(schema);
    }
    expect(Object.keys(SERVER_FRAME_SCHEMAS)).toHaveLength(
      SERVER_CONTROL_FRAMES.length + Object.keys(fromPlugins).length,
    );
  });

  it("validates the plugins' own example frames (as the gateway sends them: lossless ones with a position)", async () => {
    const channels = await loadPlugins(PLUGINS_DIR, loadConfig({}));
    for (const channel of channels) {
      const { settings } = channel;
      const inbound = channel.plugin.examples.map((example) => channel.plugin.inbound.parse(example));
      if (channel.kind === "state") {
        for (const step of stateExampleSteps(channel.plugin, settings, inbound) ?? [])
          expect(parseServerFrame(JSON.stringify(step.build()))).toMatchObject({ ok: true, known: true });
        continue;
      }
      const built = channel.plugin.toFrame(inbound[0], new Date(), settings) as object;
      const frame = channel.kind === "lossless" ? { ...built, seq: 7, epoch: "GATEWAY_TRADES@1" } : built;
      expect(parseServerFrame(JSON.stringify(frame))).toMatchObject({ ok: true, known: true });
    }
  });

  it("refuses a lossless channel's frame without a valid position", () => {
    const trade = {
      type: "trade_executed",
      symbol: "AAPL",
      side: "BUY",
      quantity: 1,
      price: 2,
      timestamp: "2024-12-19T12:00:00Z",
    };
    expect(parseServerFrame(JSON.stringify({ ...trade, seq: 3, epoch: "e" }))).toMatchObject({ ok: true });
    for (const position of [{}, { seq: 0, epoch: "e" }, { seq: 1.5, epoch: "e" }, { seq: 3, epoch: "" }])
      expect(
        parseServerFrame(JSON.stringify({ ...trade, ...position })),
        JSON.stringify(position),
      ).toMatchObject({
        ok: false,
        message: "Invalid trade_executed frame",
      });
  });
});

describe("subscription frames", () => {
  it("stay within max_message_bytes, in order, the first one replacing the default", () => {
    let ids = 0;
    const symbols = Array.from({ length: 300 }, (_, i) => `S${i}`);
    const frames = subscriptionFrames("subscribe", "price_updates", symbols, 256, () => `sub-${++ids}`);
    expect(frames.length).toBeGreaterThan(1);
    for (const frame of frames)
      expect(new TextEncoder().encode(JSON.stringify(frame)).length).toBeLessThanOrEqual(256);
    expect(frames.flatMap((frame) => frame.symbols)).toEqual(symbols);
    expect(frames.map((frame) => frame.id)).toEqual(frames.map((_, i) => `sub-${i + 1}`));
  });

  it("since goes on the last frame only, and every frame still fits", () => {
    let ids = 0;
    const since = { seq: 1041, epoch: "GATEWAY_TRADES@2024-12-19T11:00:00.000000000Z" };
    const symbols = Array.from({ length: 300 }, (_, i) => `S${i}`);
    const frames = subscriptionFrames("subscribe", "trades", symbols, 256, () => `sub-${++ids}`, since);
    expect(frames.length).toBeGreaterThan(1);
    for (const frame of frames)
      expect(new TextEncoder().encode(JSON.stringify(frame)).length).toBeLessThanOrEqual(256);
    expect(frames.map((frame) => (frame.type === "subscribe" ? frame.since : undefined))).toEqual([
      ...Array(frames.length - 1).fill(undefined),
      since,
    ]);
    expect(frames.flatMap((frame) => frame.symbols)).toEqual(symbols);
    expect(subscriptionFrames("subscribe", "trades", "*", 256, () => "c", since)).toEqual([
      { type: "subscribe", channel: "trades", symbols: "*", id: "c", since },
    ]);
  });

  it("interval_ms goes on every subscribe frame, and every frame still fits", () => {
    let ids = 0;
    const symbols = Array.from({ length: 300 }, (_, i) => `S${i}`);
    const frames = subscriptionFrames(
      "subscribe",
      "price_updates",
      symbols,
      256,
      () => `sub-${++ids}`,
      undefined,
      60_000,
    );
    expect(frames.length).toBeGreaterThan(1);
    for (const frame of frames) {
      expect(new TextEncoder().encode(JSON.stringify(frame)).length).toBeLessThanOrEqual(256);
      expect(frame.type === "subscribe" ? frame.interval_ms : undefined).toBe(60_000);
    }
    expect(frames.flatMap((frame) => frame.symbols)).toEqual(symbols);
    expect(
      subscriptionFrames("unsubscribe", "price_updates", undefined, 256, () => "u", undefined, 500),
    ).toEqual([{ type: "unsubscribe", channel: "price_updates", id: "u" }]);
  });

  it('"*" and "leave the channel" are one frame each', () => {
    expect(subscriptionFrames("subscribe", "signals", "*", 100, () => "a")).toEqual([
      { type: "subscribe", channel: "signals", symbols: "*", id: "a" },
    ]);
    expect(subscriptionFrames("unsubscribe", "signals", undefined, 100, () => "b")).toEqual([
      { type: "unsubscribe", channel: "signals", id: "b" },
    ]);
  });
});
