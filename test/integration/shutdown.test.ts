/**
 * Graceful shutdown of the real process (src/main.ts, as `npm start` runs it): on SIGTERM the
 * clients get close code 1001, NATS is drained, and the process exits 0.
 */
import { type ChildProcess, spawn } from "node:child_process";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { freePort } from "../helpers/free-port.js";
import { NatsServer } from "../helpers/nats-server.js";
import { TestClient } from "../helpers/test-client.js";

const ROOT = path.resolve(import.meta.dirname, "../..");

/** Start `tsx src/main.ts` and resolve once it logs that it is listening. */
async function startProcess(
  env: Record<string, string>,
): Promise<{ child: ChildProcess; output: () => string }> {
  const child = spawn(process.execPath, [path.join(ROOT, "node_modules/tsx/dist/cli.mjs"), "src/main.ts"], {
    cwd: ROOT,
    env: { ...process.env, LOG_LEVEL: "info", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  await new Promise<void>((resolve, reject) => {
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      if (output.includes('"gateway listening"')) resolve();
    };
    child.stdout?.on("data", onData);
    child.stderr?.on("data", onData);
    child.once("exit", (code) => reject(new Error(`gateway exited early (${code}):\n${output}`)));
  });
  return { child, output: () => output };
}

describe("graceful shutdown", () => {
  let nats: NatsServer;
  let child: ChildProcess | undefined;

  afterAll(async () => {
    if (child && child.exitCode === null) child.kill("SIGKILL");
    await nats?.stop();
  });

  it("SIGTERM closes every client with 1001, drains NATS and exits 0", async () => {
    nats = await NatsServer.start();
    const port = await freePort();
    const started = await startProcess({ NATS_URL: nats.url, PORT: String(port), HOST: "127.0.0.1" });
    child = started.child;
    const url = `ws://127.0.0.1:${port}/ws`;
    const clients = await Promise.all([
      TestClient.connect(url),
      TestClient.connect(url),
      TestClient.connect(url),
    ]);

    const exited = new Promise<number | null>((resolve) =>
      started.child.once("exit", (code) => resolve(code)),
    );
    started.child.kill("SIGTERM");
    const closes = await Promise.all(clients.map((client) => client.waitForClose()));
    expect(closes).toEqual(Array(3).fill({ code: 1001, reason: "Server shutting down" }));
    expect(await exited).toBe(0);
    expect(started.output()).toContain('"NATS connection drained and closed"');
    expect(started.output()).toContain('"shutdown complete"');
  });

  it("under load (50 clients, 2,000 signals/s), SIGTERM still closes everyone with 1001 and exits 0 within the grace period", async () => {
    const loadNats = await NatsServer.start();
    const port = await freePort();
    const started = await startProcess({
      NATS_URL: loadNats.url,
      PORT: String(port),
      HOST: "127.0.0.1",
      SHUTDOWN_GRACE_MS: "5000",
    });
    child = started.child;
    const url = `ws://127.0.0.1:${port}/ws`;
    const clients = await Promise.all(
      Array.from({ length: 50 }, () => TestClient.connect(url, { record: false })),
    );
    const publisher = await loadNats.client();
    let published = 0;
    const load = setInterval(() => {
      for (let i = 0; i < 20; i++) {
        published++;
        publisher.publish(
          "strategy.signals.load",
          JSON.stringify({
            signal_type: "BUY",
            symbol: "LOAD",
            price: published,
            quantity: 1,
            confidence: 0.5,
          }),
        );
      }
    }, 10);
    try {
      // Load is flowing: every client has received signals before the signal to stop.
      await Promise.all(clients.map((client) => client.next("signal", () => true, 10_000)));
      const exited = new Promise<number | null>((resolve) =>
        started.child.once("exit", (code) => resolve(code)),
      );
      const sentAt = Date.now();
      started.child.kill("SIGTERM");
      const closes = await Promise.all(clients.map((client) => client.waitForClose()));
      expect(new Set(closes.map((close) => close.code))).toEqual(new Set([1001]));
      expect(await exited).toBe(0);
      expect(Date.now() - sentAt).toBeLessThan(5000);
    } finally {
      clearInterval(load);
      await publisher.close();
      await loadNats.stop();
    }
  }, 30_000);
});
