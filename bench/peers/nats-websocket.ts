/**
 * nats-server for the benchmark: the broker every scenario publishes into and, with its own
 * WebSocket listener switched on, the "nats-ws" peer (clients speak the NATS protocol over
 * WebSocket and subscribe to the subject themselves; the server sends binary frames only).
 *
 * Started from a config file because the WebSocket listener cannot be enabled from the command
 * line on Debian's 2.9.10.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { freePort } from "../../test/helpers/free-port.js";
import { natsServerBinary } from "../../test/helpers/nats-server.js";
import { onServerCore } from "../lib/cpu-pinning.js";

/** nats-server's own default (1 MB), written out so the config documents what the run used. */
const MAX_PAYLOAD_BYTES = 1024 * 1024;
/** Debian's 2.9.10 takes 1 to 3 s to exit on SIGTERM; past this it is killed. */
const STOP_GRACE_MS = 3000;
const READY_TIMEOUT_MS = 10_000;

export interface RunningNatsServer {
  /** nats://127.0.0.1:<port>, for publishers and the targets' upstream connections. */
  url: string;
  /** ws://127.0.0.1:<wsPort>, when started with the WebSocket listener. */
  wsUrl?: string;
  pid: number;
  stop(): Promise<void>;
}

/**
 * The config file text: client listener, optional WebSocket listener, generous write deadline, and
 * optionally JetStream with a store directory of its own.
 */
export function natsServerConfig(opts: { port: number; wsPort?: number; jetStreamDir?: string }): string {
  const lines = [
    `listen: 127.0.0.1:${opts.port}`,
    `max_payload: ${MAX_PAYLOAD_BYTES}`,
    // The default (2 s in 2.9) would cut off clients that briefly fall behind under fan-out load;
    // the benchmark wants to measure their latency, not have them dropped as slow consumers.
    `write_deadline: "10s"`,
  ];
  if (opts.wsPort !== undefined) {
    lines.push("websocket {", `  listen: "127.0.0.1:${opts.wsPort}"`, "  no_tls: true", "}");
  }
  if (opts.jetStreamDir !== undefined) {
    lines.push("jetstream {", `  store_dir: ${JSON.stringify(opts.jetStreamDir)}`, "}");
  }
  return `${lines.join("\n")}\n`;
}

/** Two different free ports (asking twice could, rarely, hand back the same one). */
async function distinctFreePorts(): Promise<[number, number]> {
  const first = await freePort();
  for (;;) {
    const second = await freePort();
    if (second !== first) return [first, second];
  }
}

/**
 * `jetStream: true` runs the server with JetStream (the gateway's lossless channels then keep their
 * history in streams), its store in the run's own temporary folder, removed on stop.
 */
export async function startNatsServer(opts: {
  withWebSocket: boolean;
  jetStream?: boolean;
  /** It is the server under test ("nats-ws"): run it alone on the server core. */
  onServerCore?: boolean;
}): Promise<RunningNatsServer> {
  const binary = natsServerBinary(); // throws a clear "nats-server binary not found" message
  const [port, wsPort] = await distinctFreePorts();
  const configDir = mkdtempSync(path.join(tmpdir(), "bench-nats-"));
  const configFile = path.join(configDir, "nats-server.conf");
  writeFileSync(
    configFile,
    natsServerConfig({
      port,
      wsPort: opts.withWebSocket ? wsPort : undefined,
      jetStreamDir: opts.jetStream ? path.join(configDir, "jetstream") : undefined,
    }),
  );

  const start = opts.onServerCore
    ? onServerCore(binary, ["-c", configFile])
    : { command: binary, args: ["-c", configFile] };
  const child = spawn(start.command, start.args, { stdio: ["ignore", "ignore", "pipe"] });
  const removeConfig = () => rmSync(configDir, { recursive: true, force: true });
  try {
    await waitUntilReady(child);
  } catch (error) {
    await stopProcess(child);
    removeConfig();
    throw error;
  }
  // Keep draining stderr so the server never blocks on a full pipe.
  child.stderr?.resume();

  return {
    url: `nats://127.0.0.1:${port}`,
    wsUrl: opts.withWebSocket ? `ws://127.0.0.1:${wsPort}` : undefined,
    pid: child.pid as number,
    async stop() {
      await stopProcess(child);
      removeConfig();
    },
  };
}

function waitUntilReady(child: ChildProcess): Promise<void> {
  return new Promise((resolve, reject) => {
    let log = "";
    const timer = setTimeout(
      () => fail(new Error(`nats-server not ready after ${READY_TIMEOUT_MS} ms:\n${log}`)),
      READY_TIMEOUT_MS,
    );
    const onData = (chunk: Buffer) => {
      log += chunk.toString();
      if (log.includes("Server is ready")) finish();
    };
    const onExit = (code: number | null) =>
      fail(new Error(`nats-server exited early (code ${code}):\n${log}`));
    const onError = (error: Error) => fail(new Error(`cannot start nats-server: ${error.message}`));
    const cleanUp = () => {
      clearTimeout(timer);
      child.stderr?.off("data", onData);
      child.off("exit", onExit);
      child.off("error", onError);
    };
    const finish = () => {
      cleanUp();
      resolve();
    };
    const fail = (error: Error) => {
      cleanUp();
      reject(error);
    };
    child.stderr?.on("data", onData);
    child.once("exit", onExit);
    child.once("error", onError);
  });
}

/** SIGTERM, then SIGKILL if it is still there after the grace period; resolves once it is gone. */
async function stopProcess(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) return;
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  child.kill("SIGTERM");
  const timer = setTimeout(() => child.kill("SIGKILL"), STOP_GRACE_MS);
  await exited;
  clearTimeout(timer);
}
