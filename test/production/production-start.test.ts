/**
 * The production path, as README's "Production start" and docs/operations.md describe it, on a copy
 * of the repository: `npm run build`, then production dependencies only (`npm ci --omit=dev`), then
 * `node dist/main.js` against a real nats-server with JetStream. The gateway streams a trade end to
 * end, serves the dashboard and the docs, refuses to start without NATS_URL, and stops on SIGTERM.
 *
 * Slow (a build and an install: about a minute), and needs the npm registry (or npm's cache).
 */
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, symlinkSync, unlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BUILD_INPUTS, startCompiledGateway, stopCompiledGateways } from "../helpers/compiled-gateway.js";
import { STREAM_EPOCH } from "../helpers/epochs.js";
import { NatsServer } from "../helpers/nats-server.js";
import { TestClient } from "../helpers/test-client.js";

const ROOT = path.resolve(import.meta.dirname, "../..");
/**
 * What a deployment needs of the repository to build (sources, manifests, the committed docs: the
 * compiled gateway's build inputs), and what `npm ci` reads besides.
 */
const COPIED = [...BUILD_INPUTS, ".puppeteerrc.json"];

let dir: string;
let nats: NatsServer;
const children: ChildProcess[] = [];

function run(command: string, args: string[], timeoutMs: number): void {
  const result = spawnSync(command, args, { cwd: dir, encoding: "utf8", timeout: timeoutMs });
  if (result.status !== 0)
    throw new Error(
      `${command} ${args.join(" ")} failed (${result.status}):\n${result.stdout}\n${result.stderr}`,
    );
}

/** `node dist/main.js` with `env`, not waited for (it may never be ready): its output and exit code. */
function start(env: Record<string, string>): {
  child: ChildProcess;
  output: () => string;
  exit: Promise<number | null>;
} {
  const child = spawn(process.execPath, ["dist/main.js"], {
    cwd: dir,
    env: { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "", LOG_LEVEL: "info", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  children.push(child);
  let output = "";
  for (const stream of [child.stdout, child.stderr])
    stream?.on("data", (chunk: Buffer) => (output += chunk.toString()));
  const exit = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  return { child, output: () => output, exit };
}

beforeAll(async () => {
  dir = mkdtempSync(path.join(tmpdir(), "gateway-production-"));
  for (const entry of COPIED) cpSync(path.join(ROOT, entry), path.join(dir, entry), { recursive: true });
  // Build with the development dependencies (compiler, bundler), as a build stage would...
  symlinkSync(path.join(ROOT, "node_modules"), path.join(dir, "node_modules"));
  run("npm", ["run", "build"], 120_000);
  unlinkSync(path.join(dir, "node_modules"));
  // ...then run with the production dependencies alone.
  run("npm", ["ci", "--omit=dev", "--no-audit", "--no-fund", "--prefer-offline"], 180_000);
  nats = await NatsServer.start({ jetstream: true });
}, 300_000);

afterAll(async () => {
  await stopCompiledGateways();
  for (const child of children) if (child.exitCode === null) child.kill("SIGKILL");
  await nats?.remove();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe("the production start: node dist/main.js on production dependencies only", () => {
  it("has no development dependency installed", () => {
    for (const name of ["tsx", "typescript", "vitest", "esbuild", "@asyncapi/generator"])
      expect(existsSync(path.join(dir, "node_modules", name)), `${name} is installed`).toBe(false);
    expect(existsSync(path.join(dir, "dist/main.js"))).toBe(true);
    expect(existsSync(path.join(dir, "dist/dashboard/index.html"))).toBe(true);
  });

  it("refuses to start without NATS_URL, naming NATS_URL and GATEWAY_DEMO", async () => {
    const { exit, output } = start({ PORT: "0" });
    expect(await exit).toBe(1);
    expect(output()).toContain("NATS_URL is not set");
    expect(output()).toContain("GATEWAY_DEMO=true");
  });

  it("streams a trade end to end, serves the dashboard and the docs, and stops on SIGTERM", async () => {
    // Resolved once /readyz answers 200.
    const gateway = await startCompiledGateway(dir, { NATS_URL: nats.url, SHUTDOWN_DRAIN_MS: "0" });
    const client = await TestClient.connect(gateway.wsUrl, { record: false });
    const publisher = await nats.client();
    publisher.publish(
      "execution.trades.prod",
      JSON.stringify({ symbol: "AAPL", side: "BUY", quantity: 10, price: 150.25, trade_id: "prod-1" }),
    );
    await publisher.flush();
    expect(await client.next("trade_executed")).toMatchObject({
      symbol: "AAPL",
      trade_id: "prod-1",
      seq: 1,
      // A stream's epoch (j...), not a memory one (m...): the production start keeps history in JetStream.
      epoch: expect.stringMatching(STREAM_EPOCH),
    });
    await publisher.close();
    for (const page of ["/", "/docs/", "/docs/asyncapi/", "/asyncapi.yaml", "/openapi.json", "/metrics"]) {
      expect((await fetch(`${gateway.httpUrl}${page}`)).status, page).toBe(200);
    }
    // The compiled gateway finds its version (package.json's) as the source one does.
    const { version } = JSON.parse(readFileSync(path.join(dir, "package.json"), "utf8")) as {
      version: string;
    };
    const status = (await (await fetch(`${gateway.httpUrl}/websocket/status`)).json()) as { version: string };
    expect(status.version).toBe(version);
    const exit = gateway.kill("SIGTERM");
    expect(await client.waitForClose()).toEqual({ code: 1001, reason: "Server shutting down; reconnect" });
    expect(await exit).toBe(0);
  });
});
