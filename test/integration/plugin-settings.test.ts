/**
 * Plugin settings: a plugin declares a zod object, the gateway reads it from <CHANNEL>_<KEY>
 * variables at start (validated like its own settings), hands the values to the plugin's hooks,
 * publishes them in the channel's info, and names misspelled ones.
 */
import path from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { ConfigError, loadConfig, unknownSettings } from "../../src/config.js";
import { loadPlugins } from "../../src/core/plugin-loader.js";
import { settingNames, settingVariable } from "../../src/core/plugin-settings.js";
import type { TestClient } from "../helpers/test-client.js";
import { withGateway } from "../helpers/with-gateway.js";

const PLUGINS = path.resolve(import.meta.dirname, "../fixtures/plugins-settings");

describe("a plugin's own settings", () => {
  const stack = withGateway({
    env: { HEADLINES_PREFIX: ">> ", HEADLINES_MAX_LENGTH: "12" },
    pluginsDir: PLUGINS,
  });
  let client: TestClient;

  beforeAll(async () => {
    // Not in the committed asyncapi.yaml: not recorded for the contract check.
    client = await stack.connect({ record: false });
  });

  it("are read from <CHANNEL>_<KEY> and reach the plugin's hooks", async () => {
    const { publisher } = stack;
    publisher.publish("headlines.wire", JSON.stringify({ text: "Markets open higher" }));
    await publisher.flush();
    const frame = await client.next("headline");
    expect(frame).toMatchObject({ type: "headline", text: ">> Markets o", max_length: 12 });
  });

  it("are published in the channel's info, in the welcome and at GET /websocket/channels", async () => {
    const welcome = client.frames[0] as unknown as { channel_info: Record<string, unknown> };
    expect(welcome.channel_info.headlines).toEqual({
      frame_type: "headline",
      delivery: "lossless",
      settings: { prefix: ">> ", maxLength: 12 },
    });
    const described = (await (await fetch(`${stack.running.httpUrl}/websocket/channels`)).json()) as Record<
      string,
      { settings?: unknown }
    >;
    expect(described.headlines?.settings).toEqual({ prefix: ">> ", maxLength: 12 });
  });

  it("take their defaults when unset", async () => {
    const [headlines] = await loadPlugins(PLUGINS, loadConfig({}));
    expect(headlines?.settings).toEqual({ prefix: "", maxLength: 80 });
  });

  it("are validated at start with the gateway's own messages", async () => {
    const loading = loadPlugins(PLUGINS, loadConfig({ HEADLINES_MAX_LENGTH: "5", HEADLINES_PREFIX: "" }));
    await expect(loading).rejects.toThrow(ConfigError);
    await expect(loading).rejects.toThrow(
      /^Invalid configuration:\n {2}HEADLINES_MAX_LENGTH="5": Too small: expected number to be >=10$/,
    );
  });

  it("are named by the misspelled-setting warning", async () => {
    const channels = await loadPlugins(PLUGINS, loadConfig({}));
    expect(
      unknownSettings(
        { HEADLINES_MAX_LENGHT: "20", HEADLINES_PREFIX: "x", OTHER_THING: "1" },
        settingNames(channels),
      ),
    ).toEqual([{ variable: "HEADLINES_MAX_LENGHT", closest: "HEADLINES_MAX_LENGTH" }]);
  });

  it("are named <CHANNEL>_<KEY> in upper snake case", () => {
    expect(settingVariable("order_books", "depth")).toBe("ORDER_BOOKS_DEPTH");
    expect(settingVariable("order_books", "maxLevels")).toBe("ORDER_BOOKS_MAX_LEVELS");
  });
});
