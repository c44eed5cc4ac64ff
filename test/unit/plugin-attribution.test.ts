/**
 * PluginAttribution (src/core/plugin-attribution.ts): the plugin an error came from, read from
 * the frames of its stack (or its cause's), and nothing guessed when the stack names no plugin
 * folder.
 */
import { mkdirSync, mkdtempSync, rmSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { afterAll, describe, expect, it } from "vitest";
import type { LoadedChannel } from "../../src/core/plugin.js";
import { PluginAttribution } from "../../src/core/plugin-attribution.js";

const PLUGINS_DIR = mkdtempSync(path.join(tmpdir(), "plugin-attribution-"));
for (const folder of ["news", "newsletter"]) mkdirSync(path.join(PLUGINS_DIR, folder));
/** A folder shared by symlink: Node runs its files from the real path. */
const SHARED = mkdtempSync(path.join(tmpdir(), "plugin-attribution-shared-"));
symlinkSync(SHARED, path.join(PLUGINS_DIR, "alerts"));

afterAll(() => {
  rmSync(PLUGINS_DIR, { recursive: true, force: true });
  rmSync(SHARED, { recursive: true, force: true });
});

function channel(source: string, name: string): LoadedChannel {
  return { kind: "lossless", source, plugin: { name } } as unknown as LoadedChannel;
}

const attribution = new PluginAttribution(
  [channel("news", "headlines"), channel("newsletter", "letters"), channel("alerts", "alerts")],
  PLUGINS_DIR,
);

/** An Error whose stack has these frames, innermost first. */
function errorAt(...frames: string[]): Error {
  const error = new Error("failed");
  error.stack = ["Error: failed", ...frames.map((frame) => `    at ${frame}`)].join("\n");
  return error;
}

const gatewayFrame = "ConflatedDelivery.flush (/opt/gateway/src/core/delivery/conflated-delivery.ts:10:3)";

describe("PluginAttribution", () => {
  it("names the plugin of the innermost frame in a plugin folder, written as a path or as a file URL", () => {
    const asPath = errorAt(`audit (${path.join(PLUGINS_DIR, "news", "index.ts")}:3:9)`, gatewayFrame);
    const asUrl = errorAt(
      gatewayFrame,
      `${pathToFileURL(path.join(PLUGINS_DIR, "newsletter", "index.ts")).href}:7:1`,
      `${pathToFileURL(path.join(PLUGINS_DIR, "news", "index.ts")).href}:3:9`,
    );
    expect(attribution.originOf(asPath)).toEqual({ plugin: "news", channel: "headlines" });
    expect(attribution.originOf(asUrl)).toEqual({ plugin: "newsletter", channel: "letters" });
  });

  it("follows a symlinked folder to where its files run from", () => {
    const error = errorAt(`${pathToFileURL(path.join(SHARED, "index.ts")).href}:1:1`);
    expect(attribution.originOf(error)).toEqual({ plugin: "alerts", channel: "alerts" });
  });

  it("reads the cause when the error itself was made elsewhere", () => {
    const cause = errorAt(`${path.join(PLUGINS_DIR, "news", "schema.ts")}:2:2`);
    const wrapper = errorAt(gatewayFrame);
    wrapper.cause = cause;
    expect(attribution.originOf(wrapper)).toEqual({ plugin: "news", channel: "headlines" });
  });

  it("guesses nothing: no stack, no plugin frame, or a path only in the message", () => {
    expect(attribution.originOf("a string reason")).toBeUndefined();
    expect(attribution.originOf(undefined)).toBeUndefined();
    expect(attribution.originOf(errorAt(gatewayFrame))).toBeUndefined();
    const quoted = errorAt(gatewayFrame);
    quoted.stack = `Error: cannot read ${path.join(PLUGINS_DIR, "news", "data.json")}\n${quoted.stack?.split("\n").slice(1).join("\n")}`;
    expect(attribution.originOf(quoted)).toBeUndefined();
    // A folder whose name merely starts like a plugin's is not that plugin.
    const sibling = errorAt(`${path.join(PLUGINS_DIR, "news-old", "index.ts")}:1:1`);
    expect(attribution.originOf(sibling)).toBeUndefined();
  });
});
