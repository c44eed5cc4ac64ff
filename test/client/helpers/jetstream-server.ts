/**
 * A real nats-server with JetStream (`-js`, its store in a fresh temporary directory) on a free
 * loopback port, for the SDK's resume tests across a gateway restart: the gateway keeps the
 * history of its lossless channels in JetStream streams, which outlive the gateway process.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { freePort } from "../../helpers/free-port.js";
import { natsServerBinary } from "../../helpers/nats-server.js";

export class JetStreamServer {
  private constructor(
    readonly port: number,
    private readonly child: ChildProcess,
    private readonly storeDir: string,
  ) {}

  get url(): string {
    return `nats://127.0.0.1:${this.port}`;
  }

  /** Start it and resolve once it accepts client connections. */
  static async start(): Promise<JetStreamServer> {
    const port = await freePort();
    const storeDir = mkdtempSync(path.join(tmpdir(), "sdk-resume-js-"));
    const child = spawn(natsServerBinary(), ["-a", "127.0.0.1", "-p", String(port), "-js", "-sd", storeDir], {
      stdio: ["ignore", "ignore", "pipe"],
    });
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
      child.once("exit", (code) => reject(new Error(`nats-server -js exited early (code ${code}):\n${log}`)));
    });
    // Keep draining stderr so the child never blocks on a full pipe.
    child.stderr?.resume();
    return new JetStreamServer(port, child, storeDir);
  }

  /** A publisher connection for the test to inject upstream messages. */
  client(): Promise<NatsConnection> {
    return connect({ servers: this.url, name: "test-publisher" });
  }

  /** Stop the process (only this one, by its handle) and remove its store. */
  async stop(): Promise<void> {
    if (this.child.exitCode === null && this.child.signalCode === null)
      await new Promise<void>((resolve) => {
        this.child.once("exit", () => resolve());
        this.child.kill("SIGKILL");
      });
    rmSync(this.storeDir, { recursive: true, force: true });
  }
}
