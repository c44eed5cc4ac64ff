/**
 * One version everywhere a user reads one, all from package.json's "version": GET /websocket/status,
 * info.version of the OpenAPI and AsyncAPI documents (committed, and as a running gateway serves
 * them), and `gateway --version`. (The compiled start reports it too:
 * test/production/production-start.test.ts.)
 */
import { readFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { parse as parseYaml } from "yaml";
import { CliProcess } from "../client/helpers/cli-process.js";
import { withGateway } from "../helpers/with-gateway.js";

const ROOT = path.resolve(import.meta.dirname, "../..");
const PACKAGE_VERSION = (
  JSON.parse(readFileSync(path.join(ROOT, "package.json"), "utf8")) as { version: string }
).version;
const infoVersion = (document: unknown) => (document as { info: { version: string } }).info.version;

const stack = withGateway();

describe("one version: package.json's", () => {
  it("is a semantic version", () => {
    expect(PACKAGE_VERSION).toMatch(/^\d+\.\d+\.\d+$/);
  });

  it("is the committed documents' info.version", () => {
    expect(infoVersion(parseYaml(readFileSync(path.join(ROOT, "asyncapi.yaml"), "utf8")))).toBe(
      PACKAGE_VERSION,
    );
    expect(infoVersion(JSON.parse(readFileSync(path.join(ROOT, "specs/openapi.json"), "utf8")))).toBe(
      PACKAGE_VERSION,
    );
  });

  it("is what a running gateway reports in /websocket/status and serves in its documents", async () => {
    const get = (route: string) => fetch(`${stack.running.httpUrl}${route}`);
    const status = (await (await get("/websocket/status")).json()) as { version: string };
    expect(status.version).toBe(PACKAGE_VERSION);
    expect(infoVersion(await (await get("/openapi.json")).json())).toBe(PACKAGE_VERSION);
    expect(infoVersion(parseYaml(await (await get("/asyncapi.yaml")).text()))).toBe(PACKAGE_VERSION);
  });

  it("is what `gateway --version` prints", async () => {
    const cli = CliProcess.start(["--version"]);
    expect(await cli.exited).toBe(0);
    expect(cli.stdout.lines).toEqual([PACKAGE_VERSION]);
  });
});
