/**
 * COMPATIBILITY PLACE: the only module of the core that names channels.
 *
 * The core knows no channel: intervals, delivery class and staleness come from the plugins and
 * reach clients in welcome's `channel_info`. Two things still name the seed's channels, and both
 * live here:
 * - the seed protocol's fixed fields `price_update_interval` and `portfolio_update_interval` (in
 *   welcome and the status document), filled from the plugins named `price_updates` and
 *   `portfolio`, or from their settings when such a plugin is not loaded;
 * - the channel names the protocol's examples use, which describe the bundled deployment.
 */
import { z } from "zod";
import type { GatewayConfig } from "../config.js";
import type { LoadedChannel } from "./plugin.js";

/** The bundled channels as the protocol's examples name them, by the kind of channel each is. */
export const EXAMPLE_CHANNELS = {
  /** Conflated, merged per client. */
  conflated: "price_updates",
  /** Conflated per account. */
  perAccount: "portfolio",
  /** Lossless. */
  lossless: "trades",
  /** Lossless too. */
  losslessOther: "signals",
} as const;

/** Every bundled channel, in the order the gateway loads them (folder names). */
export const EXAMPLE_CHANNEL_LIST = [
  EXAMPLE_CHANNELS.perAccount,
  EXAMPLE_CHANNELS.conflated,
  EXAMPLE_CHANNELS.losslessOther,
  EXAMPLE_CHANNELS.lossless,
];

/** The fixed interval fields as the examples show them (the settings' defaults). */
export const EXAMPLE_SEED_INTERVALS: SeedIntervals = {
  price_update_interval: 3,
  portfolio_update_interval: 5,
};

/** The seed's fixed interval fields of the welcome frame. */
export const seedIntervalFields = {
  price_update_interval: z.number().describe("Seconds between price_update flushes"),
  portfolio_update_interval: z.number().describe("Seconds between portfolio_update flushes"),
};

export interface SeedIntervals {
  price_update_interval: number;
  portfolio_update_interval: number;
}

/** The seed's fixed interval fields, in seconds, from the plugins of those names. */
export function seedIntervals(channels: readonly LoadedChannel[], config: GatewayConfig): SeedIntervals {
  return {
    price_update_interval:
      secondsOf(channels, EXAMPLE_CHANNELS.conflated) ?? config.WEBSOCKET_PRICE_UPDATE_INTERVAL,
    portfolio_update_interval:
      secondsOf(channels, EXAMPLE_CHANNELS.perAccount) ?? config.WEBSOCKET_PORTFOLIO_UPDATE_INTERVAL,
  };
}

function secondsOf(channels: readonly LoadedChannel[], name: string): number | undefined {
  const channel = channels.find((candidate) => candidate.plugin.name === name);
  // toPrecision: 0.3 s is 300.00000000000006 ms in binary; the field gives back the setting's 0.3.
  return channel?.kind === "conflated" ? Number((channel.intervalMs / 1000).toPrecision(12)) : undefined;
}
