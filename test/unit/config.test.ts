/**
 * Configuration as an operator meets it: the seed's variables keep the seed's names and defaults,
 * a bad value stops start-up with a message naming the variable, and the documented files
 * (.env.example, docs/configuration.md) list every variable with its real default.
 */
import { readFileSync } from "node:fs";
import { parseEnv } from "node:util";
import { describe, expect, it } from "vitest";
import { ConfigError, configSchema, loadConfig, natsServers } from "../../src/config.js";
import { DEFAULT_PLUGINS_DIR, loadPlugins } from "../../src/core/plugin-loader.js";
import { settingVariables } from "../../src/core/plugin-settings.js";

const repoFile = (name: string) => readFileSync(new URL(`../../${name}`, import.meta.url), "utf8");

/** The error loadConfig throws for this environment (fails the test if it does not throw). */
function configError(env: Record<string, string>): ConfigError {
  try {
    loadConfig(env);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return error as ConfigError;
  }
  throw new Error(`loadConfig(${JSON.stringify(env)}) did not throw`);
}

describe("defaults", () => {
  it("are the seed's for the seed's variables", () => {
    const config = loadConfig({});
    expect(config.WEBSOCKET_ENABLED).toBe(true);
    expect(config.WEBSOCKET_PING_INTERVAL).toBe(30);
    expect(config.WEBSOCKET_PRICE_UPDATE_INTERVAL).toBe(3);
    expect(config.WEBSOCKET_PORTFOLIO_UPDATE_INTERVAL).toBe(5);
    expect(config.WEBSOCKET_MAX_CONNECTIONS).toBe(100);
  });

  it("listen on port 8000 (the seed's ws://localhost:8000/ws) and auto-subscribe (the seed's MVP)", () => {
    const config = loadConfig({});
    expect(config.PORT).toBe(8000);
    expect(config.WEBSOCKET_AUTO_SUBSCRIBE).toBe(true);
  });

  it("run the embedded demo broker when NATS_URL is unset", () => {
    const config = loadConfig({});
    expect(config.NATS_URL).toBeUndefined();
    expect(natsServers(config)).toBeUndefined();
    expect(config.subjectOverrides).toEqual({});
  });

  it("treat an empty string as unset, as .env files and shells write it", () => {
    const config = loadConfig({
      WEBSOCKET_PING_INTERVAL: "",
      WEBSOCKET_ENABLED: "",
      PORT: "",
      NATS_URL: "",
      LOG_LEVEL: "",
    });
    expect(config.WEBSOCKET_PING_INTERVAL).toBe(30);
    expect(config.WEBSOCKET_ENABLED).toBe(true);
    expect(config.PORT).toBe(8000);
    expect(config.NATS_URL).toBeUndefined();
    expect(config.LOG_LEVEL).toBe("info");
  });

  it("ignore variables that are not the gateway's", () => {
    const config = loadConfig({ PATH: "/usr/bin", HOME: "/root", WEBSOCKET_PORT_TYPO: "1" });
    expect(config.PORT).toBe(8000);
  });
});

describe("values", () => {
  it("accept fractional intervals in seconds", () => {
    const config = loadConfig({
      WEBSOCKET_PRICE_UPDATE_INTERVAL: "0.25",
      WEBSOCKET_PORTFOLIO_UPDATE_INTERVAL: "1.5",
      WEBSOCKET_PING_INTERVAL: "0.5",
    });
    expect(config.WEBSOCKET_PRICE_UPDATE_INTERVAL).toBe(0.25);
    expect(config.WEBSOCKET_PORTFOLIO_UPDATE_INTERVAL).toBe(1.5);
    expect(config.WEBSOCKET_PING_INTERVAL).toBe(0.5);
  });

  it.each([
    ["false", false],
    ["0", false],
    ["no", false],
    ["true", true],
    ["1", true],
    ["yes", true],
    ["True", true],
    ["FALSE", false],
    [" YES ", true],
  ])("read the boolean %j as %s", (value, expected) => {
    expect(loadConfig({ WEBSOCKET_ENABLED: value }).WEBSOCKET_ENABLED).toBe(expected);
    expect(loadConfig({ WEBSOCKET_AUTO_SUBSCRIBE: value }).WEBSOCKET_AUTO_SUBSCRIBE).toBe(expected);
  });

  it("read numbers from their string form", () => {
    const config = loadConfig({ PORT: "9001", WEBSOCKET_MAX_CONNECTIONS: "2500", SHUTDOWN_GRACE_MS: "500" });
    expect(config.PORT).toBe(9001);
    expect(config.WEBSOCKET_MAX_CONNECTIONS).toBe(2500);
    expect(config.SHUTDOWN_GRACE_MS).toBe(500);
  });

  it("accept PORT=0 (any free port, as tests use)", () => {
    expect(loadConfig({ PORT: "0" }).PORT).toBe(0);
  });
});

describe("bad values stop start-up with a ConfigError naming the variable", () => {
  it.each([
    ["WEBSOCKET_PING_INTERVAL", "abc"],
    ["WEBSOCKET_PING_INTERVAL", "0"],
    ["WEBSOCKET_PING_INTERVAL", "-5"],
    ["WEBSOCKET_PRICE_UPDATE_INTERVAL", "Infinity"],
    ["WEBSOCKET_MAX_CONNECTIONS", "-1"],
    ["WEBSOCKET_MAX_CONNECTIONS", "1.5"],
    ["WEBSOCKET_ENABLED", "maybe"],
    ["WEBSOCKET_AUTO_SUBSCRIBE", "sometimes"],
    ["PORT", "70000"],
    ["PORT", "eighty"],
    ["LOG_LEVEL", "verbose"],
    ["NATS_MAX_PAYLOAD_BYTES", "0"],
  ])("%s=%j", (variable, value) => {
    const error = configError({ [variable]: value });
    expect(error.message).toContain(`${variable}=${JSON.stringify(value)}`);
  });

  it("names every bad variable at once, not only the first", () => {
    const error = configError({ WEBSOCKET_PING_INTERVAL: "abc", PORT: "70000", WEBSOCKET_ENABLED: "maybe" });
    expect(error.message).toContain('WEBSOCKET_PING_INTERVAL="abc"');
    expect(error.message).toContain('PORT="70000"');
    expect(error.message).toContain('WEBSOCKET_ENABLED="maybe"');
  });
});

describe("NATS settings", () => {
  it("collect NATS_SUBJECT_<CHANNEL> overrides keyed by channel name", () => {
    const config = loadConfig({
      NATS_SUBJECT_PRICE_UPDATES: "prices.>",
      NATS_SUBJECT_SIGNALS: "  algo.signals.>  ",
      NATS_SUBJECT_PORTFOLIO: "",
      NATS_URL: "nats://127.0.0.1:4222",
    });
    expect(config.subjectOverrides).toEqual({ price_updates: "prices.>", signals: "algo.signals.>" });
  });

  it("split NATS_URL on commas and trim each server", () => {
    const config = loadConfig({ NATS_URL: " nats://a:4222 ,nats://b:4222,  nats://c:4222 , " });
    expect(natsServers(config)).toEqual(["nats://a:4222", "nats://b:4222", "nats://c:4222"]);
  });

  it("read a single NATS_URL as one server", () => {
    expect(natsServers(loadConfig({ NATS_URL: "nats://127.0.0.1:4222" }))).toEqual(["nats://127.0.0.1:4222"]);
  });

  it("treat a blank NATS_URL as unset (demo mode), not as a server called ''", () => {
    expect(natsServers(loadConfig({ NATS_URL: "   " }))).toBeUndefined();
  });
});

describe("documentation", () => {
  const variables = Object.keys(configSchema.shape);

  it(".env.example lists every variable, each with its default", () => {
    const example = repoFile(".env.example");
    const assigned = parseEnv(example);
    const defaults = loadConfig({});
    for (const variable of variables) {
      if (defaults[variable as keyof typeof defaults] === undefined) {
        // No default (NATS_URL unset means demo mode): it appears commented out.
        expect(example).toMatch(new RegExp(`^# ?${variable}=`, "m"));
        expect(assigned[variable]).toBeUndefined();
        continue;
      }
      expect(assigned, `${variable} missing from .env.example`).toHaveProperty(variable);
    }
    // Loading the example changes nothing: every value written there is the default.
    const {
      subjectOverrides,
      streamNameOverrides,
      environment: _set,
      ...fromExample
    } = loadConfig(assigned as Record<string, string>);
    const {
      subjectOverrides: _none,
      streamNameOverrides: _noStreams,
      environment: _nothingSet,
      ...allDefaults
    } = defaults;
    expect(fromExample).toEqual(allDefaults);
    expect(subjectOverrides).toEqual({});
    expect(streamNameOverrides).toEqual({});
  });

  it(".env.example lists every bundled plugin's own settings, commented out with their defaults", async () => {
    const example = repoFile(".env.example");
    const channels = await loadPlugins(DEFAULT_PLUGINS_DIR, loadConfig({}));
    for (const { plugin } of channels)
      for (const { variable, fallback } of settingVariables(plugin))
        expect(example, `${variable} missing from .env.example`).toMatch(
          new RegExp(
            `^# ?${variable}=${String(fallback ?? "").replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}$`,
            "m",
          ),
        );
  });

  it(".env.example shows the four subject overrides, commented out", () => {
    const example = repoFile(".env.example");
    for (const line of [
      "NATS_SUBJECT_PRICE_UPDATES=market.prices.>",
      "NATS_SUBJECT_SIGNALS=strategy.signals.>",
      "NATS_SUBJECT_TRADES=execution.trades.>",
      "NATS_SUBJECT_PORTFOLIO=portfolio.updates",
    ]) {
      expect(example).toMatch(new RegExp(`^# ?${line.replace(/[.*+?^${}()|[\]\\>]/g, "\\$&")}$`, "m"));
    }
  });

  it("docs/configuration.md describes every variable, with its default", () => {
    const page = repoFile("docs/configuration.md");
    const declared = configSchema.safeParse({});
    for (const variable of variables) {
      const start = page.indexOf(`### \`${variable}\`\n`);
      expect(start, `${variable} missing from docs/configuration.md`).toBeGreaterThan(-1);
      const section = page.slice(start, page.indexOf("\n### ", start + 1));
      // The default as the schema declares it: WEBSOCKET_DEGRADE_BYTES is derived later, by loadConfig.
      const value = declared.success ? declared.data[variable as keyof typeof declared.data] : undefined;
      if (value === undefined) expect(section, variable).toContain("Default: unset");
      else if (Array.isArray(value) || value === "") expect(section, variable).toContain("Default: empty");
      else expect(section, variable).toContain(`Default: \`${String(value)}\``);
    }
  });
});
