/**
 * The compiled gateway (the production start, `node dist/main.js`) for tests that need it to run:
 *
 * - compiledGateway(): the repository's build inputs copied to a folder under the system's temp
 *   directory, node_modules linked to the repository's (the compiler and the bundler are
 *   development dependencies, as in a deployment's build stage), and `npm run build` run there:
 *   tsc, scripts/build-entry.ts (dist/main.js) and the dashboard bundle. Built once per test file
 *   (about 30-60 s on a loaded machine); removeCompiledGateway() deletes it. A copy, not the
 *   repository's own dist/: tests running beside it, or a developer's build, are left alone.
 * - startCompiledGateway(): `node dist/main.js` in that folder as a real process, with the
 *   environment of a deployment (PATH, HOME and the settings given, nothing of the test runner's),
 *   resolved once GET /readyz answers 200. stopCompiledGateways() kills every one still running,
 *   each by its own PID.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { cpSync, existsSync, mkdtempSync, rmSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { freePort } from "./free-port.js";

const ROOT = path.resolve(import.meta.dirname, "../..");

/** What `npm run build` reads, and what the compiled gateway serves from its folder (docs/). */
export const BUILD_INPUTS = [
  "src",
  "plugins",
  "scripts",
  "docs",
  "package.json",
  "package-lock.json",
  "tsconfig.json",
  "tsconfig.build.json",
];

const BUILD_TIMEOUT_MS = 180_000;

let built: Promise<string> | undefined;
let builtDir: string | undefined;

/** The folder of a compiled copy of the gateway (dist/main.js in it), built on first call. */
export function compiledGateway(): Promise<string> {
  built ??= build();
  return built;
}

/** Delete the compiled copy, if one was built. */
export function removeCompiledGateway(): void {
  if (builtDir) rmSync(builtDir, { recursive: true, force: true });
  builtDir = undefined;
  built = undefined;
}

async function build(): Promise<string> {
  const dir = mkdtempSync(path.join(tmpdir(), "gateway-compiled-"));
  builtDir = dir;
  for (const entry of BUILD_INPUTS)
    cpSync(path.join(ROOT, entry), path.join(dir, entry), { recursive: true });
  symlinkSync(path.join(ROOT, "node_modules"), path.join(dir, "node_modules"), "dir");
  const { code, output } = await run("npm", ["run", "build"], dir, BUILD_TIMEOUT_MS);
  if (code !== 0 || !existsSync(path.join(dir, "dist/main.js")))
    throw new Error(`npm run build failed in ${dir} (exit ${code}):\n${output}`);
  return dir;
}

function run(
  command: string,
  args: string[],
  cwd: string,
  timeoutMs: number,
): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve) => {
    const child = spawn(command, args, { cwd, stdio: ["ignore", "pipe", "pipe"], timeout: timeoutMs });
    let output = "";
    for (const stream of [child.stdout, child.stderr])
      stream.on("data", (chunk: Buffer) => {
        output += chunk.toString();
      });
    child.once("exit", (code) => resolve({ code, output }));
  });
}

const running = new Set<ChildProcess>();

export interface CompiledGatewayProcess {
  readonly port: number;
  readonly wsUrl: string;
  readonly httpUrl: string;
  /** Everything the process wrote so far. */
  output(): string;
  /**
   * Send `signal` to this process (by its PID) and resolve once it has exited, with its exit code
   * (null when the signal ended it).
   */
  kill(signal?: NodeJS.Signals): Promise<number | null>;
}

/**
 * Start `node dist/main.js` in `dir` (a compiledGateway() folder) with `env` (HOST=127.0.0.1 and
 * LOG_LEVEL=info unless given; PORT a free one) and resolve once /readyz answers 200. Rejects with
 * the process output if it exits or is not ready within `readyTimeoutMs` (the process is killed).
 */
export async function startCompiledGateway(
  dir: string,
  env: Record<string, string>,
  options: { readyTimeoutMs?: number } = {},
): Promise<CompiledGatewayProcess> {
  const port = await freePort();
  const child = spawn(process.execPath, ["dist/main.js"], {
    cwd: dir,
    env: {
      PATH: process.env.PATH ?? "",
      HOME: process.env.HOME ?? "",
      LOG_LEVEL: "info",
      HOST: "127.0.0.1",
      ...env,
      PORT: String(port),
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  running.add(child);
  let log = "";
  for (const stream of [child.stdout, child.stderr])
    stream?.on("data", (chunk: Buffer) => {
      log += chunk.toString();
    });
  const exited = new Promise<number | null>((resolve) =>
    child.once("exit", (code) => {
      running.delete(child);
      resolve(code);
    }),
  );
  const alive = () => child.exitCode === null && child.signalCode === null;
  const gateway: CompiledGatewayProcess = {
    port,
    wsUrl: `ws://127.0.0.1:${port}/ws`,
    httpUrl: `http://127.0.0.1:${port}`,
    output: () => log,
    kill: async (signal = "SIGKILL") => {
      if (alive()) child.kill(signal);
      return exited;
    },
  };
  const deadline = Date.now() + (options.readyTimeoutMs ?? 15_000);
  for (;;) {
    if (!alive()) throw new Error(`node dist/main.js exited before it was ready:\n${log}`);
    const ready = await fetch(`${gateway.httpUrl}/readyz`, { signal: AbortSignal.timeout(1000) }).then(
      (response) => response.status === 200,
      () => false,
    );
    if (ready) return gateway;
    if (Date.now() > deadline) {
      await gateway.kill();
      throw new Error(`node dist/main.js not ready in time:\n${log}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** SIGKILL every compiled gateway still running (each by its own PID) and wait for them to exit. */
export async function stopCompiledGateways(): Promise<void> {
  await Promise.all(
    [...running].map(
      (child) =>
        new Promise<void>((resolve) => {
          if (child.exitCode !== null || child.signalCode !== null) return resolve();
          child.once("exit", () => resolve());
          child.kill("SIGKILL");
        }),
    ),
  );
}
