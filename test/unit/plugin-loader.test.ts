/**
 * The plugin loader as a plugin author meets it: the real plugins/ folder loads into the seed's
 * four channels with subjects and intervals from configuration, and a malformed plugin stops
 * start-up with an error that names the plugin and the problem (never at the first message).
 */
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";
import { ConfigError, loadConfig } from "../../src/config.js";
import { subjectsOverlap } from "../../src/core/ingest/subject.js";
import type { LoadedChannel } from "../../src/core/plugin.js";
import { loadPlugins, PluginLoadError } from "../../src/core/plugin-loader.js";

const PLUGINS_DIR = fileURLToPath(new URL("../../plugins", import.meta.url));
const fixture = (name: string) => fileURLToPath(new URL(`../fixtures/${name}`, import.meta.url));

/** The PluginLoadError loading this directory throws (fails the test if it loads). */
async function loadError(directory: string, env: Record<string, string> = {}): Promise<PluginLoadError> {
  const error = await loadPlugins(directory, loadConfig(env)).then(
    () => undefined,
    (thrown: unknown) => thrown,
  );
  expect(error).toBeInstanceOf(PluginLoadError);
  return error as PluginLoadError;
}

describe("the real plugins/ directory", () => {
  it("loads the seed's four channels and the order books, in a stable order", async () => {
    const channels = await loadPlugins(PLUGINS_DIR, loadConfig({}));
    expect(channels.map((channel) => channel.plugin.name)).toEqual([
      "order_books",
      "portfolio",
      "price_updates",
      "signals",
      "trades",
    ]);
  });

  it("listens on the documented default subjects", async () => {
    const channels = await loadPlugins(PLUGINS_DIR, loadConfig({}));
    expect(Object.fromEntries(channels.map((channel) => [channel.plugin.name, channel.subject]))).toEqual({
      order_books: "market.books.>",
      portfolio: "portfolio.updates",
      price_updates: "market.prices.>",
      signals: "strategy.signals.>",
      trades: "execution.trades.>",
    });
  });

  it("conflates prices and portfolio at the configured intervals; signals and trades are lossless; books are state", async () => {
    const kinds = (channels: LoadedChannel[]) =>
      Object.fromEntries(
        channels.map((channel) => [
          channel.plugin.name,
          channel.kind === "conflated"
            ? { kind: channel.kind, intervalMs: channel.intervalMs, merge: channel.merge }
            : { kind: channel.kind },
        ]),
      );
    expect(kinds(await loadPlugins(PLUGINS_DIR, loadConfig({})))).toEqual({
      order_books: { kind: "state" },
      portfolio: { kind: "conflated", intervalMs: 5000, merge: false },
      price_updates: { kind: "conflated", intervalMs: 3000, merge: true },
      signals: { kind: "lossless" },
      trades: { kind: "lossless" },
    });
    const fast = await loadPlugins(
      PLUGINS_DIR,
      loadConfig({ WEBSOCKET_PRICE_UPDATE_INTERVAL: "0.25", WEBSOCKET_PORTFOLIO_UPDATE_INTERVAL: "1.5" }),
    );
    expect(kinds(fast)).toMatchObject({
      price_updates: { intervalMs: 250 },
      portfolio: { intervalMs: 1500 },
    });
  });

  it("applies a NATS_SUBJECT_<NAME> override to that channel only", async () => {
    const channels = await loadPlugins(PLUGINS_DIR, loadConfig({ NATS_SUBJECT_SIGNALS: "algo.signals.>" }));
    const subjects = Object.fromEntries(channels.map((channel) => [channel.plugin.name, channel.subject]));
    expect(subjects.signals).toBe("algo.signals.>");
    expect(subjects.price_updates).toBe("market.prices.>");
    expect(subjects.trades).toBe("execution.trades.>");
  });

  it("rejects an invalid override, naming the variable and the channel", async () => {
    const error = await loadError(PLUGINS_DIR, { NATS_SUBJECT_SIGNALS: "strategy signals" });
    expect(error.message).toContain("NATS_SUBJECT_SIGNALS");
    expect(error.message).toContain('"signals"');
    expect(error.message).toContain("not a valid NATS subject");
  });

  it("rejects an override naming no loaded channel, so a typo cannot go unnoticed", async () => {
    const error = await loadPlugins(PLUGINS_DIR, loadConfig({ NATS_SUBJECT_PRICES: "market.px.>" })).then(
      () => undefined,
      (thrown: unknown) => thrown,
    );
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as Error).message).toContain(
      'NATS_SUBJECT_PRICES: no channel named "prices" is loaded (channels: order_books, portfolio, price_updates, signals, trades)',
    );
  });

  it("rejects an override that makes two channels overlap", async () => {
    const error = await loadError(PLUGINS_DIR, { NATS_SUBJECT_SIGNALS: "market.prices.AAPL" });
    expect(error.message).toContain("signals");
    expect(error.message).toContain("clashes with");
    expect(error.message).toContain('"market.prices.>"');
  });
});

describe("malformed plugins stop loading with an error naming the plugin and the problem", () => {
  it("a plugin without a name", async () => {
    const error = await loadError(fixture("plugins-missing-name"));
    expect(error.plugin).toBe("bad");
    expect(error.message).toContain('Plugin "bad"');
    expect(error.message).toContain("name is missing");
  });

  /** The test, the fixture folder, and the whole message its load error must have. */
  it.each([
    [
      "an outbound schema without a literal type",
      "plugins-frame-type-missing",
      'Plugin "bad": outbound must be a z.object whose `type` is a z.literal("...")',
    ],
    [
      "an outbound frame type that is a protocol frame type",
      "plugins-frame-type-protocol",
      'Plugin "bad": outbound frame type "error" is a protocol frame type; choose another',
    ],
    [
      "an immediate channel whose frame has its own seq (the gateway stamps seq and epoch)",
      "plugins-reserved-seq",
      'Plugin "bad": outbound field "seq" is reserved: the gateway stamps it on every frame of an immediate channel',
    ],
    [
      "two plugins with the same outbound frame type",
      "plugins-frame-type-duplicate",
      'Plugin "beta" (folder "b"): outbound frame type "alert" is already used by plugin "alpha"',
    ],
  ])("%s", async (_test, folder, message) => {
    const error = await loadError(fixture(folder));
    expect(error.message).toBe(message);
  });

  /** The test, the fixture folder, and what its load error must say: each part of it. */
  it.each([
    [
      "a channel name clients cannot write (upper case, dash)",
      "plugins-bad-name",
      "headlines",
      "name must be 1 to 64 of a-z 0-9 _",
    ],
    [
      "two folders with the same channel name",
      "plugins-duplicate",
      '"dup"',
      "duplicate channel name",
      'folder "a"',
    ],
    [
      "two plugins whose subjects overlap (a.> and a.b)",
      "plugins-clash",
      'Plugin "two"',
      'subject "a.b" clashes with "a.>"',
      'plugin "one"',
    ],
    [
      "a schema that is not a zod schema",
      "plugins-not-zod",
      'Plugin "plain"',
      "inbound: must be a zod 4 schema",
    ],
    [
      "toFrame output that fails the plugin's own outbound schema",
      "plugins-bad-example",
      'Plugin "broken"',
      "toFrame(examples[0]) fails the outbound schema at price",
    ],
    [
      "an example that fails the plugin's own inbound schema",
      "plugins-bad-inbound-example",
      'Plugin "broken"',
      "examples[0] fails the inbound schema",
    ],
    [
      "a default export that is not an object",
      "plugins-not-object",
      'Plugin "text"',
      "export default definePlugin",
    ],
    [
      "a merging conflated plugin without mergeFrames",
      "plugins-merge-missing",
      'Plugin "prices"',
      "mergeFrames",
    ],
  ])("%s", async (_test, folder, ...parts) => {
    const error = await loadError(fixture(folder));
    for (const part of parts) expect(error.message).toContain(part);
  });

  describe("directories", () => {
    const empty = mkdtempSync(path.join(tmpdir(), "gateway-no-plugins-"));
    afterAll(() => rmSync(empty, { recursive: true, force: true }));

    it("a plugins directory that does not exist", async () => {
      const error = await loadError(path.join(empty, "missing"));
      expect(error.message).toContain("plugins directory does not exist");
    });

    it("a plugins directory with no plugin in it", async () => {
      const error = await loadError(empty);
      expect(error.message).toContain("no plugins found");
    });
  });
});

describe("docs/plugins.md's worked example", () => {
  it("is a working plugin: a news channel loads from its own folder", async () => {
    const [news, ...others] = await loadPlugins(fixture("plugins-news"), loadConfig({}));
    expect(others).toEqual([]);
    expect(news?.plugin.name).toBe("news");
    expect(news?.subject).toBe("news.>");
    expect(news?.kind).toBe("lossless");
    // It can sit beside the four real channels: its subject overlaps none of theirs.
    const real = await loadPlugins(PLUGINS_DIR, loadConfig({}));
    for (const channel of real) expect(subjectsOverlap(channel.subject, "news.>")).toBe(false);
  });

  it("is the code docs/plugins.md shows (the fixture is the page's block)", () => {
    const page = readFileSync(new URL("../../docs/plugins.md", import.meta.url), "utf8");
    const blocks = [...page.matchAll(/```ts\n([\s\S]*?)```/g)].map((match) => match[1] as string);
    const shown = blocks.find((block) => block.includes('name: "news"'));
    expect(shown, "docs/plugins.md has no ```ts block defining the news plugin").toBeDefined();
    const file = readFileSync(new URL("../fixtures/plugins-news/news/index.ts", import.meta.url), "utf8");
    expect(shown?.trim()).toBe(file.trim());
  });
});
