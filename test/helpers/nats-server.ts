/**
 * Starts a real nats-server on a free loopback port, and can stop and restart it on the same port
 * (for reconnect tests). Fails with a clear message when the binary is missing: tests that need it
 * never skip silently.
 */
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { jetstreamManager } from "@nats-io/jetstream";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { freePort } from "./free-port.js";

const CANDIDATES = [
  process.env.NATS_SERVER_BIN,
  "/usr/sbin/nats-server",
  "/usr/bin/nats-server",
  "/usr/local/bin/nats-server",
];

export function natsServerBinary(): string {
  for (const candidate of CANDIDATES) if (candidate && existsSync(candidate)) return candidate;
  const which = spawnSync("sh", ["-c", "command -v nats-server"], { encoding: "utf8" });
  if (which.status === 0 && which.stdout.trim()) return which.stdout.trim();
  throw new Error(
    "nats-server binary not found: integration tests need a real NATS server. Install it (Debian: apt-get install nats-server) or set NATS_SERVER_BIN.",
  );
}

export class NatsServer {
  private child: ChildProcess | undefined;
  private constructor(
    readonly port: number,
    private readonly extraArgs: string[] = [],
  ) {}

  get url(): string {
    return `nats://127.0.0.1:${this.port}`;
  }

  /**
   * `jetstream: true` runs with JetStream and a store directory of its own, kept across restarts
   * (as a real server's disk is) and removed by `remove()`.
   */
  static async start(
    options: { jetstream?: boolean; args?: string[]; port?: number } = {},
  ): Promise<NatsServer> {
    // `port`: a given one, for a server that comes back where clients expect it with other arguments.
    const server = new NatsServer(options.port ?? (await freePort()), [
      ...(options.jetstream ? jetStreamArgs() : []),
      ...(options.args ?? []),
    ]);
    await server.restart();
    return server;
  }

  /** Stop and delete the JetStream store, if any. */
  async remove(): Promise<void> {
    await this.stop();
    const store = this.extraArgs[this.extraArgs.indexOf("-sd") + 1];
    if (this.extraArgs.includes("-sd") && store) rmSync(store, { recursive: true, force: true });
  }

  /** (Re)start on the same port and resolve once it accepts client connections. */
  async restart(): Promise<void> {
    if (this.child) throw new Error("nats-server is already running");
    const child = spawn(natsServerBinary(), ["-a", "127.0.0.1", "-p", String(this.port), ...this.extraArgs], {
      stdio: ["ignore", "ignore", "pipe"],
    });
    this.child = child;
    let log = "";
    await new Promise<void>((resolve, reject) => {
      const onData = (chunk: Buffer) => {
        log += chunk.toString();
        if (log.includes("Server is ready")) {
          child.stderr?.off("data", onData);
          resolve();
        }
      };
      child.stderr?.on("data", onData);
      child.once("exit", (code) => reject(new Error(`nats-server exited early (code ${code}):\n${log}`)));
    });
    // Keep draining stderr so the child never blocks on a full pipe.
    child.stderr?.resume();
  }

  /**
   * A full mesh of `size` servers on loopback, each routing to all the others; with `jetstream`,
   * a JetStream cluster (each node with its own name and store).
   */
  static async startCluster(size: number, options: { jetstream?: boolean } = {}): Promise<NatsServer[]> {
    const clientPorts = await Promise.all(Array.from({ length: size }, () => freePort()));
    const routePorts = await Promise.all(Array.from({ length: size }, () => freePort()));
    const routes = routePorts.map((port) => `nats://127.0.0.1:${port}`).join(",");
    const servers = clientPorts.map(
      (port, index) =>
        new NatsServer(port, [
          "--cluster_name",
          "test",
          "--cluster",
          `nats://127.0.0.1:${routePorts[index]}`,
          "--routes",
          routes,
          ...(options.jetstream ? ["--server_name", `node-${index}`, ...jetStreamArgs()] : []),
        ]),
    );
    await Promise.all(servers.map((server) => server.restart()));
    if (options.jetstream) await untilClusterPlacesStreams(servers);
    return servers;
  }

  /** Stop (SIGKILL: immediate, like a crash) and wait until the process is gone. */
  async stop(): Promise<void> {
    const child = this.child;
    if (!child) return;
    this.child = undefined;
    if (child.exitCode !== null) return;
    await new Promise<void>((resolve) => {
      child.once("exit", () => resolve());
      child.kill("SIGKILL");
    });
  }

  /** A publisher connection for the test to inject upstream messages. */
  async client(): Promise<NatsConnection> {
    return connect({ servers: this.url, name: "test-publisher" });
  }
}

/** JetStream on, with a fresh store directory. */
function jetStreamArgs(): string[] {
  return ["-js", "-sd", mkdtempSync(path.join(tmpdir(), "nats-js-"))];
}

/** How long a new JetStream cluster may take to place its first stream on every node. */
const CLUSTER_FORMING_MS = 60_000;

/**
 * Until the new cluster can place a stream with a replica on every node: each server is "ready"
 * long before its JetStream meta group knows all its peers, and until it does, a stream of that
 * many replicas is refused ("no suitable peers for placement"; once it lasted past a gateway's
 * 30 s ready timeout in a CI rehearsal on a loaded machine). A probe stream, added and deleted.
 */
async function untilClusterPlacesStreams(servers: NatsServer[]): Promise<void> {
  const connection = await connect({ servers: servers.map((server) => server.url), name: "cluster-probe" });
  const deadline = Date.now() + CLUSTER_FORMING_MS;
  try {
    for (;;) {
      try {
        const jsm = await jetstreamManager(connection);
        await jsm.streams.add({
          name: "CLUSTER_PROBE",
          subjects: ["cluster.probe"],
          num_replicas: servers.length,
        });
        await jsm.streams.delete("CLUSTER_PROBE");
        return;
      } catch (error) {
        if (Date.now() > deadline)
          throw new Error(
            `the JetStream cluster could not place a stream on its ${servers.length} nodes within ${CLUSTER_FORMING_MS} ms: ${(error as Error).message}`,
          );
        await new Promise((resolve) => setTimeout(resolve, 250));
      }
    }
  } finally {
    await connection.close();
  }
}
