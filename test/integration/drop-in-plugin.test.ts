/**
 * A new channel is a new folder under plugins/ and nothing else: a fixture plugin (`news`) is
 * dropped into a temporary plugins directory next to the four real ones, and the gateway, with no
 * change to src/, serves it end to end: NATS publish -> subscribed client frame, stream health in
 * /websocket/status, and a channel and messages in the live AsyncAPI document.
 */
import { beforeAll, describe, expect, it } from "vitest";
import { BUNDLED_CHANNELS } from "../helpers/channels.js";
import { ContractValidator, loadAsyncApi } from "../helpers/contract.js";
import { MEMORY_EPOCH } from "../helpers/epochs.js";
import { pluginsWithNews } from "../helpers/plugins-dir.js";
import type { TestClient } from "../helpers/test-client.js";
import { withGateway } from "../helpers/with-gateway.js";

const ISO_UTC = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{3})?Z$/;

describe("dropping in a plugin folder", () => {
  // In this (vitest) process the copied folder (under test/.tmp/) imports the plugin API by its
  // stable name through vitest's alias; outside-plugin.test.ts runs a real gateway process on a
  // folder outside the repository. The real plugins are symlinked (imports resolve from their
  // real path).
  const plugins = pluginsWithNews("plugins");
  const stack = withGateway({ pluginsDir: plugins.dir });
  stack.defer(() => plugins.remove());
  let client: TestClient;
  /** The gateway's epoch, from the welcome: one for all its lossless channels, news included. */
  let epoch: string;

  beforeAll(async () => {
    // The committed asyncapi.yaml knows nothing of `news`: this client is checked against the
    // live document below instead.
    client = await stack.connect({ record: false });
    epoch = (client.frames[0]?.positions as Record<string, { epoch: string }> | undefined)?.news
      ?.epoch as string;
    expect(epoch).toMatch(MEMORY_EPOCH);
  });

  it("announces the new channel in the welcome frame", () => {
    expect(client.frames[0]).toMatchObject({
      type: "welcome",
      channels: ["news", ...BUNDLED_CHANNELS],
      subscriptions: { news: "*" },
    });
    // An immediate-delivery plugin is a lossless channel: its head is announced with the others'.
    expect(client.frames[0]?.positions).toEqual({
      news: { seq: 0, epoch },
      signals: { seq: 0, epoch },
      trades: { seq: 0, epoch },
    });
    // What each channel is comes from its plugin, the new one's included; the seed's fixed
    // interval fields are still there, filled from the plugins of those names.
    const info = client.frames[0]?.channel_info as Record<string, Record<string, unknown>>;
    expect(Object.keys(info)).toEqual(["news", ...BUNDLED_CHANNELS]);
    expect(info.news).toEqual({ frame_type: "news", delivery: "lossless" });
    expect(info.price_updates).toMatchObject({
      frame_type: "price_update",
      delivery: "conflated",
      interval_ms: 200,
      stale_after_ms: 10_000,
    });
    expect(client.frames[0]).toMatchObject({ price_update_interval: 0.2, portfolio_update_interval: 0.2 });
    // And its stream status with the others': all live, the gateway being on NATS.
    const live = { status: "live", since: expect.stringMatching(ISO_UTC) };
    expect(client.frames[0]?.stream_status).toEqual({
      news: live,
      order_books: live,
      portfolio: live,
      price_updates: live,
      signals: live,
      trades: live,
    });
  });

  it("describes the new channel, with the JSON Schema of its frames, at /websocket/channels", async () => {
    const response = await fetch(`${stack.running.httpUrl}/websocket/channels`);
    expect(response.headers.get("content-type")).toBe("application/json; charset=utf-8");
    const channels = (await response.json()) as Record<string, Record<string, unknown>>;
    expect(Object.keys(channels)).toEqual(["news", ...BUNDLED_CHANNELS]);
    expect(channels.news).toEqual({
      frame_type: "news",
      delivery: "lossless",
      frame_schema: expect.objectContaining({
        type: "object",
        required: ["type", "symbol", "headline", "source", "timestamp", "seq", "epoch"],
        additionalProperties: false,
      }),
    });
    expect(channels.price_updates).toMatchObject({ interval_ms: 200, stale_after_ms: 10_000 });
  });

  it("delivers a NATS publish on the plugin's subject to a subscribed client", async () => {
    const ack = await client.request({ type: "subscribe", channel: "news", symbols: ["AAPL"] }, "n1");
    expect(ack).toEqual({
      type: "subscribed",
      channel: "news",
      symbols: ["AAPL"],
      position: { seq: 0, epoch },
      stream_status: { status: "live", since: expect.stringMatching(ISO_UTC) },
      id: "n1",
      timestamp: expect.stringMatching(ISO_UTC),
    });
    stack.publisher.publish(
      "news.wire",
      JSON.stringify({ symbol: "MSFT", headline: "Not for this client", source: "wire" }),
    );
    stack.publisher.publish(
      "news.wire",
      JSON.stringify({
        symbol: "AAPL",
        headline: "Apple beats estimates",
        source: "wire",
        timestamp: "2024-12-19T12:00:00Z",
      }),
    );
    // The second story on the channel (the MSFT one, not for this client, took seq 1).
    expect(await client.next("news")).toEqual({
      type: "news",
      symbol: "AAPL",
      headline: "Apple beats estimates",
      source: "wire",
      timestamp: "2024-12-19T12:00:00Z",
      seq: 2,
      epoch,
    });
  });

  it("reports the channel's stream health in /websocket/status", async () => {
    stack.publisher.publish("news.wire", JSON.stringify({ headline: "" }));
    await stack.publisher.flush();
    // The invalid story is counted; a valid one after it proves it has been processed.
    stack.publisher.publish(
      "news.wire",
      JSON.stringify({ symbol: "AAPL", headline: "Second story", source: "wire" }),
    );
    // The invalid story takes no position (no JetStream): this is the channel's third story.
    expect(await client.next("news", (frame) => frame.headline === "Second story")).toEqual({
      type: "news",
      symbol: "AAPL",
      headline: "Second story",
      source: "wire",
      timestamp: expect.stringMatching(ISO_UTC),
      seq: 3,
      epoch,
    });
    const status = (await (await fetch(`${stack.running.httpUrl}/websocket/status`)).json()) as {
      stream_health: Record<string, { error_count: number; is_healthy: boolean; last_update: string | null }>;
    };
    expect(Object.keys(status.stream_health)).toEqual(["news", ...BUNDLED_CHANNELS]);
    expect(status.stream_health.news).toMatchObject({
      error_count: 1,
      is_healthy: true,
      last_update: expect.any(String),
    });
  });

  it("appears in the AsyncAPI document the gateway serves, and its frames match it", async () => {
    const document = loadAsyncApi(await (await fetch(`${stack.running.httpUrl}/asyncapi.yaml`)).text());
    expect(document.channels.nats_news?.address).toBe("news.>");
    expect(Object.keys(document.channels.websocket?.messages ?? {})).toContain("news");
    expect(document.components.messages.nats_news?.examples.length).toBe(2);
    const validator = new ContractValidator(document);
    for (const frame of client.frames)
      expect(validator.frameProblems(frame), JSON.stringify(frame)).toEqual([]);
  });
});
