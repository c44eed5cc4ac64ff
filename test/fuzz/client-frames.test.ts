/**
 * Property-based fuzzing of the client frame handler over a real connection: arbitrary strings,
 * JSON values, deeply nested documents, unicode and near-valid frames. For every frame the
 * gateway answers exactly one reply (pong, an ack or an error frame), the connection stays open,
 * the process does not throw, and the connection's subscription state stays consistent with the
 * gateway's index. Every reply is also checked against asyncapi.yaml by the contract setup file.
 */
import fc from "fast-check";
import { beforeAll, describe, expect, it } from "vitest";
import type { ClientSession } from "../../src/core/client-session.js";
import type { RunningGateway } from "../helpers/gateway.js";
import type { TestClient } from "../helpers/test-client.js";
import { withGateway } from "../helpers/with-gateway.js";

const CHANNELS = ["price_updates", "signals", "trades", "portfolio"];
const REPLY_TYPES = ["pong", "subscribed", "unsubscribed", "error"];
/** Frames stay under WEBSOCKET_MAX_MESSAGE_BYTES (4096): larger ones are a separate test (1009). */
const MAX_FRAME_CHARS = 1000;

/** Frames that are almost right: the interesting part of the input space. */
const nearValidFrame = fc.record(
  {
    type: fc.oneof(
      fc.constantFrom("ping", "subscribe", "unsubscribe", "pong", "PING", ""),
      fc.string(),
      fc.integer(),
    ),
    channel: fc.oneof(
      fc.constantFrom(...CHANNELS, "news", "__proto__", "constructor"),
      fc.string(),
      fc.anything(),
    ),
    symbols: fc.oneof(
      fc.constant("*"),
      fc.array(fc.constantFrom("AAPL", "MSFT", "*", "BRK.B", "aapl", "", " ", "A".repeat(33), "💹"), {
        maxLength: 8,
      }),
      fc.array(fc.string({ maxLength: 10 }), { maxLength: 8 }),
      fc.anything(),
    ),
    id: fc.oneof(fc.string({ maxLength: 70 }), fc.integer(), fc.double(), fc.anything()),
  },
  { requiredKeys: [] },
);

const deeplyNested = fc.integer({ min: 1, max: 400 }).map((depth) => "[".repeat(depth) + "]".repeat(depth));

const anyFrame = fc
  .oneof(
    fc.string({ maxLength: 200 }),
    fc.string({ unit: "grapheme", maxLength: 100 }),
    fc.json({ maxDepth: 4 }),
    nearValidFrame.map((frame) => JSON.stringify(frame) ?? "null"),
    deeplyNested,
  )
  .filter((text) => text.length <= MAX_FRAME_CHARS);

/** The session's own view and the gateway's index must tell the same story. */
function checkConsistency(running: RunningGateway, session: ClientSession): void {
  let symbols = 0;
  for (const channel of CHANNELS) {
    const { all, bySymbol } = running.gateway.index.subscribers(channel);
    const state = session.subscriptions.get(channel);
    expect(all.has(session), channel).toBe(state === "*");
    for (const [symbol, sessions] of bySymbol) {
      expect(sessions.has(session), `${channel}/${symbol}`).toBe(state instanceof Set && state.has(symbol));
    }
    if (state instanceof Set) {
      symbols += state.size;
      for (const symbol of state) expect(bySymbol.get(symbol)?.has(session)).toBe(true);
    }
  }
  expect(session.symbolCount).toBe(symbols);
}

describe("fuzzing client frames", () => {
  // The fuzzer sends as fast as the gateway answers; the rate limit has its own tests.
  const stack = withGateway({
    env: { WEBSOCKET_RATE_LIMIT_BURST: "1000000", WEBSOCKET_RATE_LIMIT_PER_SECOND: "1000000" },
    publisher: false,
  });
  let client: TestClient;

  beforeAll(async () => {
    client = await stack.connect({ query: { client_id: "fuzz" } });
  });

  it("answers every frame with exactly one reply and keeps the connection and its state sound", async () => {
    const { running } = stack;
    const session = running.gateway.endpoint.clients.get("fuzz") as ClientSession;
    await fc.assert(
      fc.asyncProperty(anyFrame, async (text) => {
        client.send(text);
        const reply = await client.next();
        expect(REPLY_TYPES).toContain(reply.type);
        // Nothing else was sent: a ping round trip comes back with nothing before it.
        expect(await client.drainUntilPong()).toEqual([]);
        expect(client.closeEvent).toBeUndefined();
        checkConsistency(running, session);
      }),
      { numRuns: 400 },
    );
  }, 60_000);

  it("closes a connection that sends a frame over WEBSOCKET_MAX_MESSAGE_BYTES with 1009, and only that one", async () => {
    const big = await stack.connect();
    big.send(JSON.stringify({ type: "subscribe", channel: "signals", symbols: Array(2000).fill("AAPL") }));
    expect((await big.waitForClose()).code).toBe(1009);
    expect((await client.request({ type: "ping" })).type).toBe("pong");
  });
});
