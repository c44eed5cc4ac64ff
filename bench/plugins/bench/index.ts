/**
 * The benchmark channel: every message published on `bench.>` goes, unconflated and unchanged, to
 * every client. It exists only so the gateway can be measured on exactly the traffic its peers
 * (naive ws loop, nats-server's WebSocket listener, Socket.IO) carry, and is loaded only by the
 * benchmark harness through a temporary PLUGINS_DIR, never from plugins/.
 *
 * The frame keeps `n` and `t` as top-level numbers right after `type`, because load workers pull
 * them out of the text with a prefix scan instead of JSON.parse. The message number is `n`, not
 * `seq`: the gateway stamps its own `seq` and `epoch` on every frame of an immediate channel (and
 * the plugin loader refuses an immediate plugin whose frame defines either).
 */
import { z } from "zod";
import { definePlugin, schemas } from "../../../src/index.js";

const benchMessage = z
  .object({
    n: z.number().int().nonnegative().describe("Message number, from 0, per publisher run"),
    t: schemas.number.describe("Scheduled publish time, ms since the epoch (fractions allowed)"),
    symbol: schemas.symbol,
    payload: z.string().max(8192).describe("Padding that sizes the message (about 300 B or 2 KB)"),
  })
  .meta({
    title: "Benchmark message (upstream)",
    description: "A load-test message, published on bench.<anything> by the benchmark publisher",
  });

const benchFrame = z
  .object({
    type: z.literal("bench"),
    n: z.number().int(),
    t: z.number(),
    symbol: z.string(),
    payload: z.string(),
  })
  .meta({
    title: "Benchmark message",
    description: "A load-test message, delivered immediately and unchanged to every subscriber",
  });

export default definePlugin({
  name: "bench",
  description: "Benchmark traffic, delivered the moment it arrives. Never conflated, never dropped.",
  subject: "bench.>",
  inbound: benchMessage,
  outbound: benchFrame,
  examples: [{ n: 0, t: 1734609600000.25, symbol: "BENCH", payload: "xxxxxxxxxxxxxxxx" }],
  delivery: { mode: "immediate" },
  key: (message) => message.symbol,
  toFrame: (message) => ({
    type: "bench" as const,
    n: message.n,
    t: message.t,
    symbol: message.symbol,
    payload: message.payload,
  }),
});
