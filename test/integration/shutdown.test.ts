/**
 * Graceful shutdown of the real process (src/main.ts, as `npm start` runs it): on SIGTERM the
 * gateway drains (readiness 503 at once, each client told its reconnect_in_ms and streaming until
 * then), the clients get close code 1001 each at its time (drain-notice.test.ts has the detail),
 * NATS is drained, and the process exits 0.
 */
import { type ChildProcess, spawn } from "node:child_process";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { publishLoadSignal } from "../helpers/backlog.js";
import { freePort } from "../helpers/free-port.js";
import { TestClient } from "../helpers/test-client.js";
import { tsxArgs } from "../helpers/tsx-args.js";
import { withGateway } from "../helpers/with-gateway.js";

const ROOT = path.resolve(import.meta.dirname, "../..");

/** Start `tsx src/main.ts` and resolve once it logs that it is listening. */
async function startProcess(
  env: Record<string, string>,
): Promise<{ child: ChildProcess; output: () => string; exited: Promise<number | null> }> {
  const child = spawn(process.execPath, tsxArgs("src/main.ts"), {
    cwd: ROOT,
    env: { ...process.env, LOG_LEVEL: "info", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
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
  return { child, output: () => output, exited };
}

describe("graceful shutdown", () => {
  // A nats-server of its own for each test.
  const stack = withGateway({ scope: "test", gateway: false });

  /** The gateway process on this test's nats-server and a free port, SIGKILLed after the test if still up. */
  async function startOnNats(env: Record<string, string>) {
    const port = await freePort();
    const started = await startProcess({
      NATS_URL: stack.nats.url,
      PORT: String(port),
      HOST: "127.0.0.1",
      ...env,
    });
    stack.defer(() => {
      if (started.child.exitCode === null) started.child.kill("SIGKILL");
    });
    return { ...started, port, url: `ws://127.0.0.1:${port}/ws` };
  }

  it("SIGTERM closes every client with 1001, drains NATS and exits 0", async () => {
    const started = await startOnNats({ SHUTDOWN_DRAIN_MS: "0" });
    const { url, exited } = started;
    const clients = await Promise.all([
      TestClient.connect(url),
      TestClient.connect(url),
      TestClient.connect(url),
    ]);

    started.child.kill("SIGTERM");
    const closes = await Promise.all(clients.map((client) => client.waitForClose()));
    expect(closes).toEqual(Array(3).fill({ code: 1001, reason: "Server shutting down; reconnect" }));
    expect(await exited).toBe(0);
    expect(started.output()).toContain('"NATS connection drained and closed"');
    expect(started.output()).toContain('"shutdown complete"');
  });

  it("under load (50 clients, 2,000 signals/s), SIGTERM still closes everyone with 1001 and exits 0 within the grace period", async () => {
    const started = await startOnNats({ SHUTDOWN_DRAIN_MS: "0", SHUTDOWN_GRACE_MS: "5000" });
    const { url, exited } = started;
    const clients = await Promise.all(
      Array.from({ length: 50 }, () => TestClient.connect(url, { record: false })),
    );
    const { publisher } = stack;
    let published = 0;
    const load = setInterval(() => {
      for (let i = 0; i < 20; i++) publishLoadSignal(publisher, ++published);
    }, 10);
    try {
      // Load is flowing: every client has received signals before the signal to stop.
      await Promise.all(clients.map((client) => client.next("signal", () => true, 10_000)));
      const sentAt = Date.now();
      started.child.kill("SIGTERM");
      const closes = await Promise.all(clients.map((client) => client.waitForClose()));
      expect(new Set(closes.map((close) => close.code))).toEqual(new Set([1001]));
      expect(await exited).toBe(0);
      expect(Date.now() - sentAt).toBeLessThan(5000);
    } finally {
      clearInterval(load);
    }
  }, 30_000);

  it("drains on SIGTERM: /readyz 503 at once, frames keep flowing until each client's reconnect_in_ms, then 1001", async () => {
    // Spread clamped to SHUTDOWN_DRAIN_MS - WEBSOCKET_CLOSE_GRACE_MS = 1000 ms.
    const started = await startOnNats({ SHUTDOWN_DRAIN_MS: "1500", WEBSOCKET_CLOSE_GRACE_MS: "500" });
    const { port, url, exited } = started;
    const { publisher } = stack;
    const clients = await Promise.all(Array.from({ length: 10 }, () => TestClient.connect(url)));
    expect((await fetch(`http://127.0.0.1:${port}/readyz`)).status).toBe(200);
    const sentAt = Date.now();
    started.child.kill("SIGTERM");
    // Readiness goes first, so the load balancer stops sending clients.
    for (let attempt = 0; ; attempt++) {
      const status = (await fetch(`http://127.0.0.1:${port}/readyz`)).status;
      if (status === 503) break;
      expect(attempt, "readiness still 200 after SIGTERM").toBeLessThan(50);
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    expect(Date.now() - sentAt).toBeLessThan(1000);
    const notices = await Promise.all(clients.map((client) => client.next("shutdown_notice")));
    // Connections keep streaming until their own time: those told 600 ms or more get this one.
    publisher.publish(
      "strategy.signals.drain",
      JSON.stringify({ signal_type: "SELL", symbol: "DRAIN", price: 1, quantity: 1, confidence: 0.5 }),
    );
    const late = clients.filter((_, i) => (notices[i]?.reconnect_in_ms as number) >= 600);
    for (const client of late)
      expect(await client.next("signal", (frame) => frame.symbol === "DRAIN")).toMatchObject({
        symbol: "DRAIN",
      });
    // Then each is told to go and come back elsewhere, at its time, within the drain.
    for (const client of clients)
      expect(await client.waitForClose()).toEqual({ code: 1001, reason: "Server shutting down; reconnect" });
    expect(await exited).toBe(0);
    expect(Date.now() - sentAt).toBeGreaterThanOrEqual(1500);
  }, 30_000);
});

describe("start-up", () => {
  let child: ChildProcess | undefined;

  afterAll(() => {
    if (child && child.exitCode === null) child.kill("SIGKILL");
  });

  it("refuses to start without NATS_URL unless the demo is asked for, naming both", async () => {
    const child = spawn(process.execPath, tsxArgs("src/main.ts"), {
      cwd: ROOT,
      env: { ...process.env, NATS_URL: "", GATEWAY_DEMO: "", PORT: "0", LOG_LEVEL: "info" },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let output = "";
    child.stdout?.on("data", (chunk: Buffer) => {
      output += chunk.toString();
    });
    child.stderr?.on("data", (chunk: Buffer) => {
      output += chunk.toString();
    });
    const code = await new Promise<number | null>((resolve) => child.once("exit", (exit) => resolve(exit)));
    expect(code).toBe(1);
    expect(output).toContain(
      "gateway failed to start: NATS_URL is not set: set NATS_URL=nats://host:4222 to stream from NATS, or GATEWAY_DEMO=true to run the demo (simulated market)",
    );
  });

  it("GATEWAY_DEMO=true runs the demo, says so in the status document and /metrics, and warns about a misspelled setting", async () => {
    const port = await freePort();
    const started = await startProcess({
      GATEWAY_DEMO: "true",
      NATS_URL: "",
      NATS_URLS: "nats://127.0.0.1:4222",
      WEBSOCKET_PING_INTERVALL: "10",
      PORT: String(port),
      HOST: "127.0.0.1",
    });
    child = started.child;
    const status = (await (await fetch(`http://127.0.0.1:${port}/websocket/status`)).json()) as Record<
      string,
      unknown
    >;
    expect(status.mode).toBe("demo");
    expect(status.upstream).toEqual({ state: "connected", server: "embedded", history: "memory" });
    const metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    expect(metrics).toContain('gateway_mode{mode="demo"} 1');
    expect(metrics).toContain('gateway_mode{mode="nats"} 0');
    expect(started.output()).toContain('"unknown setting NATS_URLS: did you mean NATS_URL?"');
    expect(started.output()).toContain(
      '"unknown setting WEBSOCKET_PING_INTERVALL: did you mean WEBSOCKET_PING_INTERVAL?"',
    );
    started.child.kill("SIGINT");
    expect(await started.exited).toBe(0);
  });
});
