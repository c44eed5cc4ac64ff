/**
 * The SDK knows every frame the gateway can send, with the very schema objects the server uses:
 * a control frame added to src/core/protocol.ts or a channel added to plugins/ fails here until
 * the SDK knows it too.
 */
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { DATA_FRAME_CHANNELS, parseServerFrame, SERVER_FRAME_SCHEMAS } from "../../src/client/index.js";
import { subscriptionFrames } from "../../src/client/subscriptions.js";
import { loadConfig } from "../../src/config.js";
import { frameTypeOf } from "../../src/core/plugin.js";
import { loadPlugins } from "../../src/core/plugin-loader.js";
import { SERVER_CONTROL_FRAMES } from "../../src/core/protocol.js";

const PLUGINS_DIR = fileURLToPath(new URL("../../plugins", import.meta.url));

describe("the SDK's frame table", () => {
  it("holds every server control frame, with the server's own schema", () => {
    for (const schema of SERVER_CONTROL_FRAMES) {
      const type = frameTypeOf(schema) as keyof typeof SERVER_FRAME_SCHEMAS;
      expect(SERVER_FRAME_SCHEMAS[type], type).toBe(schema);
    }
  });

  it("holds every plugin's outbound frame, with the plugin's schema and channel", async () => {
    const channels = await loadPlugins(PLUGINS_DIR, loadConfig({}));
    const fromPlugins = Object.fromEntries(
      channels.map(({ plugin }) => [frameTypeOf(plugin.outbound), plugin.name]),
    );
    expect(DATA_FRAME_CHANNELS).toEqual(fromPlugins);
    for (const { plugin } of channels) {
      const type = frameTypeOf(plugin.outbound) as keyof typeof SERVER_FRAME_SCHEMAS;
      expect(SERVER_FRAME_SCHEMAS[type], type).toBe(plugin.outbound);
    }
    expect(Object.keys(SERVER_FRAME_SCHEMAS)).toHaveLength(SERVER_CONTROL_FRAMES.length + channels.length);
  });

  it("validates the plugins' own example frames", async () => {
    const channels = await loadPlugins(PLUGINS_DIR, loadConfig({}));
    for (const { plugin } of channels) {
      const frame = plugin.toFrame(plugin.inbound.parse(plugin.examples[0]), new Date());
      expect(parseServerFrame(JSON.stringify(frame))).toMatchObject({ ok: true, known: true });
    }
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

  it('"*" and "leave the channel" are one frame each', () => {
    expect(subscriptionFrames("subscribe", "signals", "*", 100, () => "a")).toEqual([
      { type: "subscribe", channel: "signals", symbols: "*", id: "a" },
    ]);
    expect(subscriptionFrames("unsubscribe", "signals", undefined, 100, () => "b")).toEqual([
      { type: "unsubscribe", channel: "signals", id: "b" },
    ]);
  });
});
