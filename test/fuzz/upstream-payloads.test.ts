/**
 * Property-based fuzzing of every plugin's inbound path (the same ChannelStream the broker calls):
 * arbitrary bytes, JSON values, unicode and near-valid payloads never throw, and each message is
 * counted in the stream's error_count exactly when the contract (size limit, JSON, the plugin's
 * inbound schema) says it is invalid.
 */
import fc from "fast-check";
import pino from "pino";
import { describe, expect, it } from "vitest";
import { loadConfig } from "../../src/config.js";
import { ResumeGates } from "../../src/core/history/resume-gate.js";
import { buildPipeline } from "../../src/core/pipeline.js";
import { DEFAULT_PLUGINS_DIR, loadPlugins } from "../../src/core/plugin-loader.js";
import { SubscriptionIndex } from "../../src/core/subscription-index.js";

const config = loadConfig({ NATS_MAX_PAYLOAD_BYTES: "4096" });
const channels = await loadPlugins(DEFAULT_PLUGINS_DIR, config);
const encoder = new TextEncoder();

/** Each plugin's own examples with fields replaced by arbitrary values: the near-valid space. */
function nearValid(examples: unknown[]): fc.Arbitrary<unknown> {
  return fc
    .tuple(
      fc.constantFrom(...examples),
      fc.dictionary(
        fc.constantFrom(
          "symbol",
          "price",
          "quantity",
          "side",
          "signal_type",
          "confidence",
          "timestamp",
          "positions",
          "total_pnl",
          "account",
          "volume",
        ),
        fc.anything(),
        { maxKeys: 3 },
      ),
    )
    .map(([example, overrides]) => ({ ...(example as object), ...overrides }));
}

const decoder = new TextDecoder();

describe.each(channels.map((channel) => [channel.plugin.name, channel] as const))(
  "fuzzing the %s inbound parser",
  (_name, channel) => {
    it("never throws; every message is accepted or counted once as invalid", () => {
      const index = new SubscriptionIndex([channel.plugin.name], 100);
      const gates = new ResumeGates({ maxBufferedBytes: 1 << 20, onOverflow: () => undefined });
      const logger = pino({ level: "silent" });
      // The channel's own pipeline, as the gateway builds it: its stream is what the broker calls.
      const { stream } = buildPipeline(channel, { config, logger, index, gates });
      const { health } = stream;
      const parsesAsInbound = (bytes: Uint8Array): boolean => {
        try {
          return channel.plugin.inbound.safeParse(JSON.parse(decoder.decode(bytes))).success;
        } catch {
          return false;
        }
      };
      const payload = fc.oneof(
        fc.uint8Array({ maxLength: 300 }),
        fc.string({ unit: "grapheme", maxLength: 200 }).map((text) => encoder.encode(text)),
        fc.json({ maxDepth: 5 }).map((text) => encoder.encode(text)),
        nearValid(channel.plugin.examples).map((value) => encoder.encode(JSON.stringify(value) ?? "null")),
        fc.integer({ min: 4097, max: 20000 }).map((size) => new Uint8Array(size).fill(0x20)),
      );
      fc.assert(
        fc.property(payload, (bytes) => {
          // The oracle: what the contract says about this payload, computed independently.
          const valid = bytes.byteLength <= config.NATS_MAX_PAYLOAD_BYTES && parsesAsInbound(bytes);
          const errorsBefore = health.errorCount;
          expect(() => stream.handle("fuzz.subject", bytes)).not.toThrow();
          expect(health.errorCount - errorsBefore).toBe(valid ? 0 : 1);
        }),
        { numRuns: 500 },
      );
    });
  },
);
