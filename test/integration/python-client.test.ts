/**
 * examples/python-client, run as a third party runs it: a python3 subprocess with Debian's
 * websockets, against a real gateway and nats-server. The test publishes prices and trades on NATS,
 * cuts the client's connection, publishes while it is away, and asserts every line it printed:
 * prices, trades, the reconnect with its (seeded) full-jitter delay, and the resume that replays
 * exactly the missed trades. Without python3 or python3-websockets it fails, with what to install.
 */
import { type ChildProcessWithoutNullStreams, spawn, spawnSync } from "node:child_process";
import path from "node:path";
import type { NatsConnection } from "@nats-io/transport-node";
import { afterEach, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { type RunningGateway, startGateway, waitForIngest, waitUntilReady } from "../helpers/gateway.js";
import { LinkCutter } from "../helpers/link-cutter.js";
import { NatsServer } from "../helpers/nats-server.js";
import { python3WithWebsockets } from "../helpers/python3.js";

const EXAMPLE = path.resolve(import.meta.dirname, "../../examples/python-client");
const CLIENT = path.join(EXAMPLE, "client.py");

/** The example as a subprocess, with every line it printed. */
class PythonClient {
  readonly lines: string[] = [];
  private stderr = "";
  private waiters: (() => void)[] = [];
  readonly exited: Promise<number | null>;

  constructor(private readonly child: ChildProcessWithoutNullStreams) {
    let partial = "";
    child.stdout.setEncoding("utf8").on("data", (chunk: string) => {
      const parts = (partial + chunk).split("\n");
      partial = parts.pop() ?? "";
      this.lines.push(...parts);
      for (const wake of this.waiters.splice(0)) wake();
    });
    child.stderr.setEncoding("utf8").on("data", (chunk: string) => {
      this.stderr += chunk;
    });
    this.exited = new Promise((resolve) =>
      child.once("exit", (code) => {
        for (const wake of this.waiters.splice(0)) wake();
        resolve(code);
      }),
    );
  }

  static start(args: string[]): PythonClient {
    const child = spawn(python3WithWebsockets(), [CLIENT, ...args], {
      env: { ...process.env, PYTHONDONTWRITEBYTECODE: "1" },
    });
    return new PythonClient(child);
  }

  /** Resolve once the client has printed `line`. */
  async printed(line: string, timeoutMs = 10_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!this.lines.includes(line)) {
      if (this.child.exitCode !== null || Date.now() > deadline)
        throw new Error(
          `the client never printed "${line}"; it printed:\n${this.lines.join("\n")}\nstderr:\n${this.stderr}`,
        );
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, deadline - Date.now());
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  /** SIGTERM, as a service manager stops it; its exit status. */
  async stop(): Promise<number | null> {
    if (this.child.exitCode === null) this.child.kill("SIGTERM");
    return this.exited;
  }

  get errors(): string {
    return this.stderr;
  }
}

function trade(symbol: string, side: "BUY" | "SELL", quantity: number, price: number): Uint8Array {
  return new TextEncoder().encode(JSON.stringify({ symbol, side, quantity, price }));
}

function tick(symbol: string, price: number, change_pct: number): Uint8Array {
  return new TextEncoder().encode(JSON.stringify({ symbol, price, change_pct }));
}

describe("examples/python-client against a real gateway", () => {
  let nats: NatsServer | undefined;
  let publisher: NatsConnection | undefined;
  let running: RunningGateway | undefined;
  let relay: LinkCutter | undefined;
  let client: PythonClient | undefined;

  afterEach(async () => {
    await client?.stop();
    await relay?.close();
    await running?.close();
    await publisher?.close();
    await nats?.stop();
  });

  async function startStack(): Promise<{ url: string; publisher: NatsConnection; running: RunningGateway }> {
    nats = await NatsServer.start();
    publisher = await nats.client();
    // Staleness off: a "stale" status line would depend on how fast the machine runs the test.
    running = await startGateway({ NATS_URL: nats.url, WEBSOCKET_STALE_AFTER_MS: "0" });
    await waitUntilReady(running);
    relay = await LinkCutter.start(running.port);
    return { url: `ws://127.0.0.1:${relay.port}/ws`, publisher, running };
  }

  it("prints prices of its two symbols and every trade, and after a lost connection resumes the trades it missed", async () => {
    const stack = await startStack();
    client = PythonClient.start([
      "--url",
      stack.url,
      "--symbols",
      "AAPL,MSFT",
      "--client-id",
      "py-example",
      "--jitter-seed",
      "7",
    ]);
    await client.printed("subscribed trades: all symbols");

    stack.publisher.publish("market.prices.AAPL", tick("AAPL", 150.25, 0.33));
    await client.printed("price AAPL 150.25 (+0.33%)");
    stack.publisher.publish("market.prices.GOOG", tick("GOOG", 140.1, 1.5));
    stack.publisher.publish("market.prices.MSFT", tick("MSFT", 380.5, -0.31));
    await client.printed("price MSFT 380.50 (-0.31%)");
    stack.publisher.publish("execution.trades.venue", trade("AAPL", "BUY", 10, 150.25));
    stack.publisher.publish("execution.trades.venue", trade("MSFT", "SELL", 5, 380.5));
    await client.printed("trade #2 SELL 5 MSFT @ 380.50");

    // The network drops; trades 3 and 4 are published while the client is away.
    relay?.cutAndHold();
    await client.printed("connection lost (code 1006); reconnecting in 0.16 s (attempt 1)");
    stack.publisher.publish("execution.trades.venue", trade("AAPL", "SELL", 3, 151));
    stack.publisher.publish("execution.trades.venue", trade("TSLA", "BUY", 1, 240.75));
    await waitForIngest(stack.running, stack.publisher, "trades", 4);
    relay?.restore();
    await client.printed("replayed 2 missed trades; live from here");

    stack.publisher.publish("execution.trades.venue", trade("AAPL", "BUY", 2, 152.5));
    await client.printed("trade #5 BUY 2 AAPL @ 152.50");
    expect(await client.stop()).toBe(0);
    expect(client.errors).toBe("");
    expect(client.lines).toEqual([
      "connected as py-example (channels: portfolio, price_updates, signals, trades)",
      "subscribed price_updates: AAPL, MSFT",
      "subscribed trades: all symbols",
      "price AAPL 150.25 (+0.33%)",
      "price MSFT 380.50 (-0.31%)",
      "trade #1 BUY 10 AAPL @ 150.25",
      "trade #2 SELL 5 MSFT @ 380.50",
      "connection lost (code 1006); reconnecting in 0.16 s (attempt 1)",
      "connected as py-example (channels: portfolio, price_updates, signals, trades)",
      "subscribed price_updates: AAPL, MSFT",
      "resuming trades after #2",
      "trade #3 SELL 3 AAPL @ 151.00",
      "trade #4 BUY 1 TSLA @ 240.75",
      "replayed 2 missed trades; live from here",
      "trade #5 BUY 2 AAPL @ 152.50",
      "bye",
    ]);
  }, 60_000);

  it("says so when the gateway cannot resume (a restarted gateway without JetStream has a new epoch), and goes on live", async () => {
    const stack = await startStack();
    client = PythonClient.start(["--url", stack.url, "--client-id", "py-restart", "--jitter-seed", "7"]);
    await client.printed("subscribed trades: all symbols");
    stack.publisher.publish("execution.trades.venue", trade("AAPL", "BUY", 10, 150.25));
    await client.printed("trade #1 BUY 10 AAPL @ 150.25");

    relay?.cutAndHold();
    await client.printed("connection lost (code 1006); reconnecting in 0.16 s (attempt 1)");
    const port = stack.running.port;
    await stack.running.close();
    running = await startGateway(
      { NATS_URL: nats?.url ?? "", WEBSOCKET_STALE_AFTER_MS: "0" },
      undefined,
      port,
    );
    await waitUntilReady(running);
    relay?.restore();
    await client.printed(
      "trades could not be resumed (epoch_mismatch): live from now; reload missed trades from their system of record",
    );
    stack.publisher.publish("execution.trades.venue", trade("MSFT", "SELL", 5, 380.5));
    await client.printed("trade #1 SELL 5 MSFT @ 380.50");
    expect(await client.stop()).toBe(0);
    expect(client.lines).toEqual([
      "connected as py-restart (channels: portfolio, price_updates, signals, trades)",
      "subscribed price_updates: AAPL, MSFT",
      "subscribed trades: all symbols",
      "trade #1 BUY 10 AAPL @ 150.25",
      "connection lost (code 1006); reconnecting in 0.16 s (attempt 1)",
      "connected as py-restart (channels: portfolio, price_updates, signals, trades)",
      "subscribed price_updates: AAPL, MSFT",
      "trades could not be resumed (epoch_mismatch): live from now; reload missed trades from their system of record",
      "trade #1 SELL 5 MSFT @ 380.50",
      "bye",
    ]);
  }, 60_000);

  it("stops for good when a newer connection with its client_id replaces it (4000), with exit status 1", async () => {
    const stack = await startStack();
    client = PythonClient.start(["--url", stack.url, "--client-id", "py-replaced"]);
    await client.printed("subscribed trades: all symbols");
    const newer = new WebSocket(`${stack.running.wsUrl}?client_id=py-replaced`);
    try {
      expect(await client.exited).toBe(1);
    } finally {
      newer.close();
    }
    expect(client.lines).toEqual([
      "connected as py-replaced (channels: portfolio, price_updates, signals, trades)",
      "subscribed price_updates: AAPL, MSFT",
      "subscribed trades: all symbols",
      "the gateway closed the connection with 4000 REPLACED (Replaced by a newer connection with the same client_id); not reconnecting",
    ]);
  }, 60_000);

  it("prints the gateway's error frame for a refused subscribe and keeps running", async () => {
    const stack = await startStack();
    client = PythonClient.start([
      "--url",
      stack.url,
      "--symbols",
      "AAPL,not a symbol",
      "--client-id",
      "py-errors",
    ]);
    await client.printed("subscribed trades: all symbols");
    stack.publisher.publish("execution.trades.venue", trade("AAPL", "BUY", 10, 150.25));
    await client.printed("trade #1 BUY 10 AAPL @ 150.25");
    expect(await client.stop()).toBe(0);
    expect(client.lines).toEqual([
      "connected as py-errors (channels: portfolio, price_updates, signals, trades)",
      'gateway error INVALID_SYMBOLS for subscribe price_updates: Invalid symbols: "not a symbol"',
      "subscribed trades: all symbols",
      "trade #1 BUY 10 AAPL @ 150.25",
      "bye",
    ]);
  }, 60_000);
});

describe("the Python example's prerequisites", () => {
  it("fail the test with what to install when no python3 has websockets", () => {
    expect(() => python3WithWebsockets(["/nonexistent/python3"])).toThrow(
      "no python3 with the websockets package (10.4 or later) found: the Python example needs it. Install it (Debian: apt-get install python3 python3-websockets, which `bash scripts/test-prerequisites.sh` does), or set PYTHON3 to a python3 that has it.",
    );
  });
});

describe("examples/python-client/backoff.py", () => {
  it("draws each delay between 0 and a ceiling that doubles from 0.5 s up to 30 s, and starts again after a stable connection", () => {
    const script = `
import json
from backoff import Backoff
class Highest:
    def uniform(self, low, high):
        return high
backoff = Backoff(rng=Highest())
ceilings = [backoff.next_delay() for _ in range(8)]
after_stable = backoff.next_delay(connected_for=10.0)
print(json.dumps([ceilings, after_stable, backoff.attempt]))
`;
    const result = spawnSync(python3WithWebsockets(), ["-c", script], {
      cwd: EXAMPLE,
      encoding: "utf8",
      env: { ...process.env, PYTHONDONTWRITEBYTECODE: "1" },
    });
    expect(result.stderr).toBe("");
    expect(JSON.parse(result.stdout)).toEqual([[0.5, 1, 2, 4, 8, 16, 30, 30], 0.5, 1]);
  });
});
