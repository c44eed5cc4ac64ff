/**
 * The seed's fixed interval fields (welcome and /websocket/status) come from the plugins named
 * price_updates and portfolio, in the one place of the core that names channels; without such a
 * plugin, from its setting, so the fields are always there.
 */
import path from "node:path";
import { describe, expect, it } from "vitest";
import { loadConfig } from "../../src/config.js";
import { loadPlugins } from "../../src/core/plugin-loader.js";
import { seedIntervals } from "../../src/core/seed-channels.js";

const ROOT = path.resolve(import.meta.dirname, "../..");

describe("the seed's fixed interval fields", () => {
  it("are the intervals of the plugins of those names, in seconds", async () => {
    const config = loadConfig({
      WEBSOCKET_PRICE_UPDATE_INTERVAL: "0.3",
      WEBSOCKET_PORTFOLIO_UPDATE_INTERVAL: "7",
    });
    const channels = await loadPlugins(path.join(ROOT, "plugins"), config);
    expect(seedIntervals(channels, config)).toEqual({
      price_update_interval: 0.3,
      portfolio_update_interval: 7,
    });
  });

  it("fall back to the settings when no plugin of those names is loaded", async () => {
    const config = loadConfig({ WEBSOCKET_PRICE_UPDATE_INTERVAL: "2" });
    const channels = await loadPlugins(path.join(ROOT, "test/fixtures/plugins-news"), config);
    expect(seedIntervals(channels, config)).toEqual({
      price_update_interval: 2,
      portfolio_update_interval: 5,
    });
  });
});
