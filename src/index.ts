/**
 * The public API for plugin authors: `import { definePlugin, schemas } from "trading-stream-gateway"`,
 * the package's name (package.json "name" and "exports"). A plugin folder anywhere on disk gets
 * this file from the gateway that loads it (core/plugin-imports.ts); in this repository
 * tsconfig.json "paths" maps the name here too.
 */
import { z } from "zod";
import { SYMBOL_PATTERN } from "./core/protocol.js";

export type { GatewayConfig } from "./config.js";
export type {
  ChannelPlugin,
  DeliveryPolicy,
  IntervalSpec,
  StateHooks,
  StatePlugin,
  StatePosition,
} from "./core/plugin.js";
export { definePlugin, defineStatePlugin } from "./core/plugin.js";

/** Building blocks shared by plugin schemas, so every channel spells them the same way. */
export const schemas = {
  /** A symbol as clients subscribe to it. */
  symbol: z.string().regex(SYMBOL_PATTERN, "symbol must be 1 to 32 of A-Z a-z 0-9 . _ : / -"),
  /** An upstream timestamp: ISO-8601 with `Z` or an offset. */
  timestamp: z.iso.datetime({ offset: true }).describe("ISO-8601 timestamp (UTC `Z` or with offset)"),
  /** An outbound timestamp: ISO-8601 UTC with `Z`. */
  utcTimestamp: z.iso.datetime().describe("ISO-8601 UTC timestamp"),
  /** A finite number (JSON has no NaN or Infinity, but a schema should say so). */
  number: z.number().finite(),
};

/**
 * The timestamp a frame carries: the upstream one when given (unchanged if already UTC `Z`,
 * converted to UTC otherwise), else the time the gateway built the frame.
 */
export function frameTimestamp(upstream: string | undefined, now: Date): string {
  if (upstream === undefined) return now.toISOString();
  return upstream.endsWith("Z") ? upstream : new Date(upstream).toISOString();
}
