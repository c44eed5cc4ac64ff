/**
 * The `state` kind is generic, not book-specific: a drop-in plugin folder with a state of another
 * shape (an index's constituent weights, test/fixtures/plugins-state-weights) gets the core's
 * whole treatment through a real nats-server and real sockets: a snapshot on subscribing, chained
 * and checksummed updates for changes of its view only, redeliveries ignored, a gap told in-band
 * until the next snapshot, and its frames in the AsyncAPI document the gateway serves (every frame
 * here is checked against that document).
 */
import path from "node:path";
import { crc32 } from "node:zlib";
import { afterAll, describe, expect, it } from "vitest";
import { ContractValidator, loadAsyncApi } from "../helpers/contract.js";
import type { Frame, TestClient } from "../helpers/test-client.js";
import { withGateway } from "../helpers/with-gateway.js";

const ROOT = path.resolve(import.meta.dirname, "../..");

/** The fixture's checksum rule, written out: `name:weight` in name order, joined with `,`. */
const checksum = (weights: Record<string, number>) =>
  crc32(
    Object.entries(weights)
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([name, weight]) => `${name}:${JSON.stringify(weight)}`)
      .join(","),
  );

describe("a state channel of another shape (index_weights, a drop-in plugin)", () => {
  const stack = withGateway({
    pluginsDir: path.join(ROOT, "test/fixtures/plugins-state-weights"),
    env: { WEBSOCKET_AUTO_SUBSCRIBE: "false" },
  });
  const received: Frame[] = [];

  const publish = async (message: Record<string, unknown>) => {
    stack.publisher.publish(`index.weights.${message.index}`, JSON.stringify(message));
    await stack.publisher.flush();
  };
  const client = async (): Promise<TestClient> => {
    // The committed asyncapi.yaml knows nothing of this plugin: its frames are checked below
    // against the document this gateway serves instead.
    const connected = await stack.connect({ record: false });
    const ack = await connected.request({ type: "subscribe", channel: "index_weights", symbols: ["TECH5"] });
    expect(ack).toMatchObject({ type: "subscribed", channel: "index_weights", symbols: ["TECH5"] });
    return connected;
  };
  const next = async (subscriber: TestClient, type: string) => {
    const frame = await subscriber.next(type);
    received.push(frame);
    return frame;
  };
  const at = "2024-12-19T12:00:00Z";

  afterAll(async () => {
    // Runs while the fixture's gateway is still up (hooks run in reverse order of registration).
    const yaml = await (await fetch(`${stack.running.httpUrl}/asyncapi.yaml`)).text();
    const validator = new ContractValidator(loadAsyncApi(yaml));
    expect(received.map((frame) => validator.frameProblems(frame))).toEqual(received.map(() => []));
  });

  it("is announced as a state channel, kept out of the auto-subscribe default", async () => {
    const idle = await stack.connect({ record: false });
    const welcome = idle.frames[0] as Frame;
    expect((welcome.channel_info as Record<string, unknown>).index_weights).toEqual({
      frame_type: "index_weights",
      update_frame_type: "index_weights_update",
      delivery: "state",
    });
    expect((welcome.subscriptions as Record<string, unknown>).index_weights).toEqual([]);
  });

  it("sends a snapshot, then chained, checksummed updates for changes of the view, and tells a gap", async () => {
    await publish({
      index: "TECH5",
      kind: "snapshot",
      sequence: 1,
      weights: { MSFT: 0.6, AAPL: 0.4 },
      timestamp: at,
    });
    const subscriber = await client();
    expect(await next(subscriber, "index_weights")).toEqual({
      type: "index_weights",
      index: "TECH5",
      sequence: 1,
      weights: { AAPL: 0.4, MSFT: 0.6 },
      checksum: checksum({ AAPL: 0.4, MSFT: 0.6 }),
      timestamp: at,
    });
    await publish({
      index: "TECH5",
      kind: "delta",
      sequence: 2,
      weights: { AAPL: 0.3, NVDA: 0.1 },
      timestamp: at,
    });
    expect(await next(subscriber, "index_weights_update")).toEqual({
      type: "index_weights_update",
      index: "TECH5",
      sequence: 2,
      prev_sequence: 1,
      changed: { AAPL: 0.3, NVDA: 0.1 },
      checksum: checksum({ AAPL: 0.3, MSFT: 0.6, NVDA: 0.1 }),
      timestamp: at,
    });
    // 3 changes nothing, 2 again is a redelivery: the next update is 4's, chained to 2.
    await publish({ index: "TECH5", kind: "delta", sequence: 3, weights: { MSFT: 0.6 }, timestamp: at });
    await publish({ index: "TECH5", kind: "delta", sequence: 2, weights: { MSFT: 0.9 }, timestamp: at });
    await publish({ index: "TECH5", kind: "delta", sequence: 4, weights: { NVDA: 0 }, timestamp: at });
    expect(await next(subscriber, "index_weights_update")).toMatchObject({
      sequence: 4,
      prev_sequence: 2,
      changed: { NVDA: 0 },
      checksum: checksum({ AAPL: 0.3, MSFT: 0.6 }),
    });
    // A gap (5 never came): told in-band, nothing until the next snapshot, which starts again.
    await publish({ index: "TECH5", kind: "delta", sequence: 6, weights: { AAPL: 0.5 }, timestamp: at });
    expect(await next(subscriber, "state_status")).toMatchObject({
      channel: "index_weights",
      symbol: "TECH5",
      status: "stale",
      reason: "upstream_gap",
      sequence: 4,
    });
    await publish({ index: "TECH5", kind: "delta", sequence: 7, weights: { AAPL: 0.7 }, timestamp: at });
    await publish({ index: "TECH5", kind: "snapshot", sequence: 8, weights: { AAPL: 1 }, timestamp: at });
    expect(await next(subscriber, "index_weights")).toMatchObject({
      sequence: 8,
      weights: { AAPL: 1 },
      checksum: checksum({ AAPL: 1 }),
    });
    const books = subscriber.frames.filter((frame) => frame.type.startsWith("index_weights"));
    expect(books.map((frame) => frame.sequence)).toEqual([1, 2, 4, 8]);
  });
});
