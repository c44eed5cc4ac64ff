/**
 * Starting each benchmark target (the gateway and its peers) as a child process, and stopping it.
 *
 * Every TypeScript child runs as `node --import tsx <file>`, not through tsx's CLI: the CLI is a
 * parent process that spawns a second node for the code, so its pid would be the wrong one to read
 * CPU and RSS from. With the loader hook the pid we return is the process doing the work.
 */
import { spawn } from "node:child_process";
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import path from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath, pathToFileURL } from "node:url";
import { transformSync } from "esbuild";
import { configSchema, SUBJECT_OVERRIDE_PREFIX } from "../../src/config.js";
import { freePort } from "../../test/helpers/free-port.js";
import { onServerCore } from "./cpu-pinning.js";

/**
 * gateway: `src/main.ts` under tsx (what `npm start` runs); gateway-prod: the production start,
 * `node dist/main.js` after `npm run build`; gateway-before: an earlier commit's `src/main.ts`
 * (StartTargetOptions.gatewayRoot) for an A/B run; the others are the peers in bench/peers.
 */
export type TargetName = "gateway" | "gateway-prod" | "gateway-before" | "naive-ws" | "nats-ws" | "socketio";

export interface RunningTarget {
  name: TargetName;
  /** Where clients connect: ws://… for the WebSocket targets, http://… for Socket.IO. */
  url: string;
  /** The process that serves the clients (for /proc/<pid>/stat and /proc/<pid>/status). */
  pid: number;
  stop(): Promise<void>;
}

export interface StartTargetOptions {
  natsUrl: string;
  /** nats-server's WebSocket listener; required for "nats-ws". */
  natsWsUrl?: string;
  /** nats-server's pid; "nats-ws" is served by it. */
  natsPid?: number;
  /** Extra or overriding gateway settings (e.g. WEBSOCKET_MAX_BUFFERED_BYTES). */
  gatewayEnv?: Record<string, string>;
  /**
   * Another checkout of the gateway to run instead of this one (its src/main.ts and plugins/), e.g.
   * a `git worktree` of an earlier commit for an A/B run ("gateway-before"). It must hold this
   * repository's bench plugin at bench/plugins/bench (the publisher's messages follow it).
   */
  gatewayRoot?: string;
  /** Load the bench channel plugin (default true); the storm runs on the real channels only. */
  benchPlugin?: boolean;
  /** The production start (`node dist/main.js`, compiled plugins) instead of `tsx src/main.ts`. */
  production?: boolean;
}

const REPO_ROOT = fileURLToPath(new URL("../../", import.meta.url));
const TSX_LOADER_URL = pathToFileURL(createRequire(import.meta.url).resolve("tsx")).href;
const PEER_FILES: Record<"naive-ws" | "socketio", string> = {
  "naive-ws": fileURLToPath(new URL("../peers/naive-ws.ts", import.meta.url)),
  socketio: fileURLToPath(new URL("../peers/socketio.ts", import.meta.url)),
};

const START_TIMEOUT_MS = 20_000;
const READY_POLL_MS = 100;
const GATEWAY_STOP_GRACE_MS = 10_000;
const PEER_STOP_GRACE_MS = 5_000;
const LOG_RING_LINES = 50;

export function serverPid(target: RunningTarget): number {
  return target.pid;
}

export async function startTarget(name: TargetName, opts: StartTargetOptions): Promise<RunningTarget> {
  switch (name) {
    case "gateway":
      return startGateway(opts);
    case "gateway-prod":
      return startGateway({ ...opts, production: true });
    case "gateway-before":
      if (!opts.gatewayRoot)
        throw new Error("gateway-before needs gatewayRoot: a checkout of the earlier commit");
      return startGateway(opts);
    case "naive-ws":
    case "socketio":
      return startPeer(name, opts);
    case "nats-ws":
      return natsServerWebSocket(opts);
  }
}

async function startGateway(opts: StartTargetOptions): Promise<RunningTarget> {
  const port = await freePort();
  const workDir = mkdtempSync(path.join(tmpdir(), "bench-gateway-"));
  const removeWorkDir = () => rmSync(workDir, { recursive: true, force: true });
  let child: TrackedChild | undefined;
  try {
    const root = opts.gatewayRoot ?? REPO_ROOT;
    // The production start runs compiled JavaScript only: its plugins are dist/plugins, and the
    // bench plugin is compiled beside them (dist/bench/plugins/bench, same relative imports).
    const compiled = opts.production ? path.join(root, "dist") : root;
    if (opts.production && !existsSync(path.join(compiled, "main.js")))
      throw new Error("gateway-prod needs `npm run build` first: dist/main.js is missing");
    const benchPlugin =
      opts.benchPlugin === false
        ? undefined
        : opts.production
          ? compileBenchPlugin(root)
          : path.join(root, "bench/plugins/bench");
    const pluginsDir = linkPluginsDir(workDir, compiled, benchPlugin);
    const entry = opts.production ? path.join(compiled, "main.js") : path.join(root, "src/main.ts");
    child = spawnNode(entry, opts.production ? [] : ["--import", TSX_LOADER_URL], {
      // Runs from the scratch folder so a developer's .env in the repository cannot leak in.
      cwd: workDir,
      env: {
        ...inheritedEnvWithoutGatewaySettings(),
        NATS_URL: opts.natsUrl,
        PORT: String(port),
        HOST: "127.0.0.1",
        LOG_LEVEL: "warn",
        PLUGINS_DIR: pluginsDir,
        WEBSOCKET_MAX_CONNECTIONS: "60000",
        WEBSOCKET_MAX_CONNECTIONS_PER_IP: "60000",
        // Seconds: keep protocol pings out of the measurement.
        WEBSOCKET_PING_INTERVAL: "300",
        // Stopped after its measurement: the SIGTERM drain (12 s by default) would outlast the
        // harness's stop grace, and every run would end in a kill after waiting for it.
        SHUTDOWN_DRAIN_MS: "0",
        ...benchGatewayEnv(),
        ...opts.gatewayEnv,
      },
    });
    await child.until(() => isReady(`http://127.0.0.1:${port}/readyz`), "GET /readyz returned 200");
  } catch (error) {
    if (child) await child.stop(GATEWAY_STOP_GRACE_MS);
    removeWorkDir();
    throw error;
  }
  const running = child;
  return {
    name: opts.production ? "gateway-prod" : opts.gatewayRoot ? "gateway-before" : "gateway",
    url: `ws://127.0.0.1:${port}/ws`,
    pid: running.pid,
    async stop() {
      await running.stop(GATEWAY_STOP_GRACE_MS);
      removeWorkDir();
    },
  };
}

/**
 * The bench plugin as JavaScript for the production start: dist/bench/plugins/bench/index.js, so
 * that its relative imports reach dist/src as the TypeScript one reaches src. Returns its folder.
 */
function compileBenchPlugin(root: string): string {
  const source = path.join(root, "bench/plugins/bench/index.ts");
  const folder = path.join(root, "dist/bench/plugins/bench");
  mkdirSync(folder, { recursive: true });
  const { code } = transformSync(readFileSync(source, "utf8"), {
    loader: "ts",
    format: "esm",
    target: "node20",
  });
  writeFileSync(path.join(folder, "index.js"), code);
  return folder;
}

/**
 * A PLUGINS_DIR holding links to the real plugin folders plus (unless left out) the bench plugin,
 * so the gateway serves its real channels and the benchmark one. The loader follows symlinks and
 * resolves imports from the real path, so nothing is copied.
 */
function linkPluginsDir(workDir: string, root: string, benchPluginDir: string | undefined): string {
  const pluginsDir = path.join(workDir, "plugins");
  mkdirSync(pluginsDir);
  const realPlugins = path.join(root, "plugins");
  for (const entry of readdirSync(realPlugins, { withFileTypes: true })) {
    if (!entry.isDirectory() || entry.name.startsWith(".")) continue;
    if (entry.name === "bench") throw new Error("plugins/bench exists: it would clash with the bench plugin");
    symlinkSync(path.join(realPlugins, entry.name), path.join(pluginsDir, entry.name), "dir");
  }
  if (benchPluginDir) symlinkSync(benchPluginDir, path.join(pluginsDir, "bench"), "dir");
  return pluginsDir;
}

/**
 * BENCH_GATEWAY_ENV="KEY=value,KEY=value": settings for every gateway a benchmark starts, for an
 * A/B of one setting without editing the code (e.g. GATEWAY_TIMING=off, docs/latency.md).
 */
function benchGatewayEnv(): Record<string, string> {
  const settings: Record<string, string> = {};
  for (const entry of process.env.BENCH_GATEWAY_ENV?.split(",") ?? []) {
    const at = entry.indexOf("=");
    if (at > 0) settings[entry.slice(0, at).trim()] = entry.slice(at + 1).trim();
  }
  return settings;
}

/** The parent's environment minus any gateway setting, so a run is configured only by this file. */
function inheritedEnvWithoutGatewaySettings(): Record<string, string> {
  const gatewayKeys = new Set(Object.keys(configSchema.shape));
  const env: Record<string, string> = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (value === undefined || gatewayKeys.has(key) || key.startsWith(SUBJECT_OVERRIDE_PREFIX)) continue;
    env[key] = value;
  }
  return env;
}

async function isReady(url: string): Promise<boolean> {
  try {
    const response = await fetch(url, { signal: AbortSignal.timeout(1000) });
    await response.body?.cancel();
    return response.status === 200;
  } catch {
    return false;
  }
}

async function startPeer(name: "naive-ws" | "socketio", opts: StartTargetOptions): Promise<RunningTarget> {
  const port = await freePort();
  const child = spawnNode(PEER_FILES[name], ["--import", TSX_LOADER_URL], {
    cwd: REPO_ROOT,
    env: { ...process.env, PORT: String(port), NATS_URL: opts.natsUrl },
  });
  try {
    await child.until(() => child.stdoutLines.some((line) => line === `READY ${port}`), `READY ${port}`);
  } catch (error) {
    await child.stop(PEER_STOP_GRACE_MS);
    throw error;
  }
  return {
    name,
    url: name === "socketio" ? `http://127.0.0.1:${port}` : `ws://127.0.0.1:${port}/`,
    pid: child.pid,
    stop: () => child.stop(PEER_STOP_GRACE_MS),
  };
}

/** nats-server serves its own WebSocket clients: nothing to start, and the orchestrator stops it. */
function natsServerWebSocket(opts: StartTargetOptions): RunningTarget {
  if (!opts.natsWsUrl || opts.natsPid === undefined) {
    throw new Error("nats-ws needs natsWsUrl and natsPid: start nats-server with its WebSocket listener");
  }
  return { name: "nats-ws", url: opts.natsWsUrl, pid: opts.natsPid, stop: async () => {} };
}

interface TrackedChild {
  pid: number;
  /** Lines the child printed on stdout (peers print only their READY line; capped at the ring size). */
  stdoutLines: string[];
  /** Resolve once `check` holds; reject with the child's recent output if it exits or times out. */
  until(check: () => boolean | Promise<boolean>, what: string): Promise<void>;
  /** SIGTERM, SIGKILL after `graceMs`; resolves once the process is gone. */
  stop(graceMs: number): Promise<void>;
}

/** Node running `file` (with `loader` flags, e.g. tsx's), alone on the server core. */
function spawnNode(
  file: string,
  loader: string[],
  options: { cwd: string; env: NodeJS.ProcessEnv },
): TrackedChild {
  // BENCH_NODE_ARGS adds node flags to every target, e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof"
  // to profile the servers under load (the profile is written when the target exits on SIGTERM).
  const extra = process.env.BENCH_NODE_ARGS?.split(" ").filter(Boolean) ?? [];
  const start = onServerCore(process.execPath, ["--max-old-space-size=4096", ...extra, ...loader, file]);
  const child = spawn(start.command, start.args, {
    cwd: options.cwd,
    env: options.env,
    stdio: ["ignore", "pipe", "pipe"],
  });
  const recentLog: string[] = [];
  const stdoutLines: string[] = [];
  const remember = (ring: string[], line: string) => {
    ring.push(line);
    if (ring.length > LOG_RING_LINES) ring.shift();
  };
  // Reading both pipes for the child's whole life also keeps it from blocking on a full pipe.
  if (child.stdout) {
    createInterface({ input: child.stdout }).on("line", (line) => {
      remember(stdoutLines, line);
      remember(recentLog, line);
    });
  }
  if (child.stderr) createInterface({ input: child.stderr }).on("line", (line) => remember(recentLog, line));

  let exitDescription: string | undefined;
  let spawnError: Error | undefined;
  const exited = new Promise<void>((resolve) => {
    child.once("exit", (code, signal) => {
      exitDescription = signal ? `signal ${signal}` : `code ${code}`;
      resolve();
    });
    child.once("error", (error) => {
      spawnError = error;
      exitDescription ??= `spawn error: ${error.message}`;
      resolve();
    });
  });
  const describe = (problem: string) =>
    new Error(
      `${path.relative(REPO_ROOT, file)} ${problem}; last output:\n${recentLog.join("\n") || "(none)"}`,
      { cause: spawnError },
    );

  return {
    get pid() {
      return child.pid ?? -1;
    },
    stdoutLines,
    async until(check, what) {
      const deadline = Date.now() + START_TIMEOUT_MS;
      for (;;) {
        if (exitDescription !== undefined) throw describe(`exited (${exitDescription}) before ${what}`);
        if (await check()) return;
        if (Date.now() > deadline)
          throw describe(`not ready after ${START_TIMEOUT_MS} ms (waiting for ${what})`);
        await new Promise((resolve) => setTimeout(resolve, READY_POLL_MS));
      }
    },
    async stop(graceMs) {
      if (exitDescription !== undefined || child.pid === undefined) return;
      child.kill("SIGTERM");
      const timer = setTimeout(() => child.kill("SIGKILL"), graceMs);
      await exited;
      clearTimeout(timer);
    },
  };
}
