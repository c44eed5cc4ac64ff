/**
 * examples/python-client, run as a third party runs it: a python3 subprocess with Debian's
 * websockets, against a real gateway and nats-server. The test publishes prices and trades on NATS,
 * cuts the client's connection, publishes while it is away, and asserts every line it printed:
 * prices, trades, the reconnect with its (seeded) full-jitter delay, and the resume that replays
 * exactly the missed trades; and order books: the top of book it printed after verifying each
 * snapshot and update. Without python3 or python3-websockets it fails, with what to install.
 */
import { type ChildProcessWithoutNullStreams, spawn, spawnSync } from "node:child_process";
import { once } from "node:events";
import path from "node:path";
import type { NatsConnection } from "@nats-io/transport-node";
import { afterEach, describe, expect, it, vi } from "vitest";
import WebSocket, { WebSocketServer } from "ws";
import {
  type BookMessage,
  type BookView,
  bookChecksum,
  bookMessage,
  snapshotFrame as bookSnapshotFrame,
  updateFrame as bookUpdateFrame,
  type Level,
  publishBook,
} from "../helpers/book-messages.js";
import { type RunningGateway, waitForIngest } from "../helpers/gateway.js";
import { LinkCutter } from "../helpers/link-cutter.js";
import { python3WithWebsockets } from "../helpers/python3.js";
import { withGateway } from "../helpers/with-gateway.js";

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

/** AAPL's book message upstream. */
const book = (kind: BookMessage["kind"], sequence: number, bids: Level[], asks: Level[]) =>
  bookMessage(kind, "AAPL", sequence, bids, asks);

const TIMESTAMP = "2024-12-19T12:00:00Z";

function send(socket: WebSocket, frame: Record<string, unknown>): void {
  socket.send(JSON.stringify(frame));
}

/** A gateway's order_book_snapshot of AAPL (the gateway's checksum) and its order_book_update. */
const snapshotFrame = (sequence: number, view: BookView) =>
  bookSnapshotFrame("AAPL", sequence, view, TIMESTAMP);
const updateFrame = (sequence: number, prevSequence: number, changes: BookView, checksum: number) =>
  bookUpdateFrame("AAPL", sequence, prevSequence, changes, checksum, TIMESTAMP);

/** Run a script in the example's directory (its modules importable); what it printed as JSON. */
function runPython(script: string, input = ""): unknown {
  const result = spawnSync(python3WithWebsockets(), ["-c", script], {
    cwd: EXAMPLE,
    encoding: "utf8",
    input,
    env: { ...process.env, PYTHONDONTWRITEBYTECODE: "1" },
  });
  expect(result.stderr).toBe("");
  return JSON.parse(result.stdout);
}

describe("examples/python-client against a real gateway", () => {
  // NATS of its own for each test. Staleness off: a "stale" status line would depend on how fast
  // the machine runs the test.
  const fixture = withGateway({ scope: "test", gateway: false, env: { WEBSOCKET_STALE_AFTER_MS: "0" } });
  let relay: LinkCutter | undefined;
  let client: PythonClient | undefined;

  afterEach(async () => {
    await client?.stop();
  });

  async function startStack(
    env: Record<string, string> = {},
  ): Promise<{ url: string; publisher: NatsConnection; running: RunningGateway }> {
    const running = await fixture.startGateway(env);
    relay = fixture.track(await LinkCutter.start(running.port));
    return { url: `ws://127.0.0.1:${relay.port}/ws`, publisher: fixture.publisher, running };
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
      "connected as py-example (channels: order_books, portfolio, price_updates, signals, trades)",
      "subscribed price_updates: AAPL, MSFT",
      "subscribed trades: all symbols",
      "price AAPL 150.25 (+0.33%)",
      "price MSFT 380.50 (-0.31%)",
      "trade #1 BUY 10 AAPL @ 150.25",
      "trade #2 SELL 5 MSFT @ 380.50",
      "connection lost (code 1006); reconnecting in 0.16 s (attempt 1)",
      "connected as py-example (channels: order_books, portfolio, price_updates, signals, trades)",
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
    await fixture.close(stack.running);
    await fixture.startGateway({}, { port });
    relay?.restore();
    await client.printed(
      "trades could not be resumed (epoch_mismatch): live from now; reload missed trades from their system of record",
    );
    stack.publisher.publish("execution.trades.venue", trade("MSFT", "SELL", 5, 380.5));
    await client.printed("trade #1 SELL 5 MSFT @ 380.50");
    expect(await client.stop()).toBe(0);
    expect(client.lines).toEqual([
      "connected as py-restart (channels: order_books, portfolio, price_updates, signals, trades)",
      "subscribed price_updates: AAPL, MSFT",
      "subscribed trades: all symbols",
      "trade #1 BUY 10 AAPL @ 150.25",
      "connection lost (code 1006); reconnecting in 0.16 s (attempt 1)",
      "connected as py-restart (channels: order_books, portfolio, price_updates, signals, trades)",
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
      "connected as py-replaced (channels: order_books, portfolio, price_updates, signals, trades)",
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
      "connected as py-errors (channels: order_books, portfolio, price_updates, signals, trades)",
      'gateway error INVALID_SYMBOLS for subscribe price_updates: Invalid symbols: "not a symbol"',
      "subscribed trades: all symbols",
      "trade #1 BUY 10 AAPL @ 150.25",
      "bye",
    ]);
  }, 60_000);

  it("keeps the order books it is asked for: prints the verified top of book after each snapshot and update, and a stale book until the next snapshot", async () => {
    // Three levels per side: deltas push levels out of the view and pull them in from below it.
    const stack = await startStack({ ORDER_BOOKS_DEPTH: "3" });
    client = PythonClient.start(["--url", stack.url, "--books", "AAPL,MSFT", "--client-id", "py-books"]);
    await client.printed("subscribed order_books: AAPL, MSFT");
    const publish = (message: BookMessage) => publishBook(stack.publisher, message);

    publish(
      book(
        "snapshot",
        1001,
        [
          [150.24, 300],
          [150.23, 100],
          [150.22, 50],
          [150.21, 70],
        ],
        [
          [150.25, 200],
          [150.26, 500],
          [150.27, 80],
          [151, 1.5],
        ],
      ),
    );
    await client.printed("book AAPL bid 150.24 x 300 ask 150.25 x 200 spread 0.01 seq 1001 checksum ok");
    // The best bid goes: 150.21 enters the view from below it.
    publish(book("delta", 1002, [[150.24, 0]], [[150.25, 250]]));
    await client.printed("book AAPL bid 150.23 x 100 ask 150.25 x 250 spread 0.02 seq 1002 checksum ok");
    // A better bid pushes 150.21 out of the view: the update removes it (size 0), and the checksum
    // (over up to 10 levels) verifies only if the client removed it.
    publish(book("delta", 1003, [[150.245, 0.5]], []));
    await client.printed("book AAPL bid 150.245 x 0.5 ask 150.25 x 250 spread 0.005 seq 1003 checksum ok");
    // Below the view: no update. The next one applies to the view at 1003 (prev_sequence 1003).
    publish(book("delta", 1004, [], [[151, 3]]));
    publish(
      book(
        "delta",
        1005,
        [],
        [
          [150.25, 0],
          [150.26, 0],
        ],
      ),
    );
    await client.printed("book AAPL bid 150.245 x 0.5 ask 150.27 x 80 spread 0.025 seq 1005 checksum ok");
    // Upstream skips 1006: the gateway stops the book until a snapshot.
    publish(book("delta", 1007, [[150.23, 1]], []));
    await client.printed(
      "book AAPL stale (upstream_gap) after seq 1005: not current until the next snapshot",
    );
    publish(book("snapshot", 1010, [[150.3, 10]], [[150.31, 12]]));
    await client.printed("book AAPL bid 150.3 x 10 ask 150.31 x 12 spread 0.01 seq 1010 checksum ok");

    expect(await client.stop()).toBe(0);
    expect(client.errors).toBe("");
    expect(client.lines).toEqual([
      "connected as py-books (channels: order_books, portfolio, price_updates, signals, trades)",
      "subscribed price_updates: AAPL, MSFT",
      "subscribed trades: all symbols",
      "subscribed order_books: AAPL, MSFT",
      "book AAPL bid 150.24 x 300 ask 150.25 x 200 spread 0.01 seq 1001 checksum ok",
      "book AAPL bid 150.23 x 100 ask 150.25 x 250 spread 0.02 seq 1002 checksum ok",
      "book AAPL bid 150.245 x 0.5 ask 150.25 x 250 spread 0.005 seq 1003 checksum ok",
      "book AAPL bid 150.245 x 0.5 ask 150.27 x 80 spread 0.025 seq 1005 checksum ok",
      "book AAPL stale (upstream_gap) after seq 1005: not current until the next snapshot",
      "book AAPL bid 150.3 x 10 ask 150.31 x 12 spread 0.01 seq 1010 checksum ok",
      "bye",
    ]);
  }, 60_000);
});

describe("examples/python-client/order_books.py", () => {
  it("js_number writes numbers as JSON.stringify does", () => {
    const tricky = [
      150,
      150.25,
      0.1,
      0.1 + 0.2,
      1e21,
      1e20,
      1e16,
      1e-5,
      1e-6,
      1e-7,
      1.5e-7,
      -0,
      5e-324,
      2 ** 53 + 1,
    ];
    const prices = Array.from(
      { length: 2000 },
      (_, i) => Math.round(((i * 7919) % 1_000_000) * 1.37) / 10 ** (i % 7),
    );
    const numbers = [...tricky, ...prices];
    const script = `
import json, sys
from order_books import js_number
print(json.dumps([js_number(x) for x in json.load(sys.stdin)]))
`;
    // Python reads 150 as an int and 150.25 as a float, as it reads any frame.
    expect(runPython(script, JSON.stringify(numbers))).toEqual(numbers.map((x) => JSON.stringify(x)));
  });
});

describe("examples/python-client against a gateway whose book frames do not verify", () => {
  let server: WebSocketServer | undefined;
  let client: PythonClient | undefined;

  afterEach(async () => {
    await client?.stop();
    await new Promise((resolve) => server?.close(resolve));
  });

  it("subscribes to the book again on a checksum that does not match and on an update off the chain, and drops the updates in flight until the fresh snapshot", async () => {
    // A real gateway sends no such frame: a stand-in speaking asyncapi.yaml's frames does.
    server = new WebSocketServer({ port: 0, host: "127.0.0.1" });
    await once(server, "listening");
    const requests: Record<string, unknown>[] = [];
    const connected = new Promise<WebSocket>((resolve) =>
      server?.once("connection", (socket: WebSocket) => {
        socket.on("message", (data) => requests.push(JSON.parse(String(data))));
        send(socket, {
          type: "welcome",
          client_id: "py-resync",
          channels: ["order_books"],
          subscriptions: { order_books: [] },
          ping_interval: 30,
          price_update_interval: 1,
          portfolio_update_interval: 1,
          max_message_bytes: 65536,
          timestamp: TIMESTAMP,
        });
        resolve(socket);
      }),
    );
    const { port } = server.address() as { port: number };
    client = PythonClient.start(["--url", `ws://127.0.0.1:${port}/ws`, "--books", "AAPL"]);
    const socket = await connected;
    /** The client's requests with this id, once there are `count` of them. */
    const asked = (id: string, count = 1) =>
      vi.waitFor(() => {
        const matching = requests.filter((request) => request.id === id);
        expect(matching).toHaveLength(count);
        return matching;
      });
    const answer = (id: string) =>
      send(socket, {
        type: "subscribed",
        channel: "order_books",
        symbols: ["AAPL"],
        id,
        timestamp: TIMESTAMP,
      });

    const first: BookView = { bids: [[150.24, 300]], asks: [[150.25, 200]] };
    const second: BookView = { bids: [[150.24, 300]], asks: [[150.25, 250]] };
    await asked("books");
    answer("books");
    send(socket, snapshotFrame(1001, first));
    send(socket, updateFrame(1002, 1001, { bids: [], asks: [[150.25, 250]] }, 12345));
    send(socket, updateFrame(1003, 1002, { bids: [], asks: [[150.25, 300]] }, 0)); // in flight: dropped
    const [resync] = await asked("resync AAPL");
    expect(resync).toEqual({
      type: "subscribe",
      channel: "order_books",
      symbols: ["AAPL"],
      id: "resync AAPL",
    });
    answer("resync AAPL");
    send(socket, snapshotFrame(1003, second));
    await client.printed("book AAPL bid 150.24 x 300 ask 150.25 x 250 spread 0.01 seq 1003 checksum ok");
    send(socket, updateFrame(1005, 1004, { bids: [], asks: [] }, bookChecksum(second)));
    await asked("resync AAPL", 2);
    send(socket, snapshotFrame(1005, first));
    await client.printed("book AAPL bid 150.24 x 300 ask 150.25 x 200 spread 0.01 seq 1005 checksum ok");

    expect(await client.stop()).toBe(0);
    expect(client.lines).toEqual([
      "connected as py-resync (channels: order_books)",
      "subscribed order_books: AAPL",
      "book AAPL bid 150.24 x 300 ask 150.25 x 200 spread 0.01 seq 1001 checksum ok",
      `book AAPL resync: checksum ${bookChecksum(second)} at seq 1002 is not the gateway's 12345; subscribing again for a fresh snapshot`,
      "book AAPL bid 150.24 x 300 ask 150.25 x 250 spread 0.01 seq 1003 checksum ok",
      "book AAPL resync: update seq 1005 follows seq 1004, not 1003; subscribing again for a fresh snapshot",
      "book AAPL bid 150.24 x 300 ask 150.25 x 200 spread 0.01 seq 1005 checksum ok",
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
    expect(runPython(script)).toEqual([[0.5, 1, 2, 4, 8, 16, 30, 30], 0.5, 1]);
  });
});
