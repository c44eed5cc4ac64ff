/**
 * The real gateway as a child process (src/main.ts under tsx, as `npm start` runs it), for tests that
 * crash it (SIGKILL) and start it again: start() resolves once it listens and /readyz answers 200.
 * Every process started here is remembered, so a test file's afterAll can stop them all, each by
 * its own PID (stopGatewayProcesses).
 *
 * Also TradeReader: a WebSocket client of the `trades` channel that keeps its last (seq, epoch)
 * and resumes with it after each reconnect, recording every trade frame across connections.
 */
import { type ChildProcess, spawn } from "node:child_process";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { expect } from "vitest";
import { freePort } from "./free-port.js";
import { type Frame, TestClient } from "./test-client.js";

const ROOT = path.resolve(import.meta.dirname, "../..");
/**
 * tsx's loader, imported into the gateway's own node process. Not `tsx/dist/cli.mjs`: the tsx CLI
 * runs the script in a second node process and relays signals to it, so a SIGKILL would kill only
 * the CLI and leave the gateway running, orphaned. Here the PID is the gateway's.
 */
const TSX_LOADER = pathToFileURL(path.join(ROOT, "node_modules/tsx/dist/loader.mjs")).href;

export interface ProcessExit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

const started = new Set<GatewayProcess>();

export class GatewayProcess {
  /** Resolves when the process has exited, however it ended. */
  readonly exited: Promise<ProcessExit>;
  private log = "";

  private constructor(
    private readonly child: ChildProcess,
    readonly port: number,
    readonly name: string,
  ) {
    const onData = (chunk: Buffer) => {
      this.log += chunk.toString();
    };
    child.stdout?.on("data", onData);
    child.stderr?.on("data", onData);
    this.exited = new Promise((resolve) => {
      child.once("exit", (code, signal) => {
        started.delete(this);
        resolve({ code, signal });
      });
    });
  }

  /**
   * Spawn the gateway with `env` (PORT, HOST=127.0.0.1 and LOG_LEVEL=info unless given) and resolve
   * once GET /readyz answers 200. `port`: a free one unless given (to restart where clients expect
   * the gateway). Rejects with the process output if it exits or is not ready within
   * `readyTimeoutMs`; the process is killed then.
   */
  static async start(
    env: Record<string, string>,
    options: { port?: number; readyTimeoutMs?: number; name?: string } = {},
  ): Promise<GatewayProcess> {
    const port = options.port ?? (await freePort());
    const child = spawn(process.execPath, ["--import", TSX_LOADER, "src/main.ts"], {
      cwd: ROOT,
      env: {
        ...process.env,
        LOG_LEVEL: "info",
        HOST: "127.0.0.1",
        ...env,
        PORT: String(port),
      },
      stdio: ["ignore", "pipe", "pipe"],
    });
    const gateway = new GatewayProcess(child, port, options.name ?? `gateway:${port}`);
    started.add(gateway);
    try {
      await gateway.waitUntilReady(options.readyTimeoutMs ?? 15_000);
    } catch (error) {
      await gateway.kill("SIGKILL");
      throw error;
    }
    return gateway;
  }

  get pid(): number {
    return this.child.pid as number;
  }

  get wsUrl(): string {
    return `ws://127.0.0.1:${this.port}/ws`;
  }

  get httpUrl(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  /** Everything the process wrote so far (JSON log lines). */
  output(): string {
    return this.log;
  }

  /** The parsed JSON log lines whose `msg` is `message`. */
  logLines(message: string): Record<string, unknown>[] {
    const lines: Record<string, unknown>[] = [];
    for (const line of this.log.split("\n")) {
      if (!line.includes(JSON.stringify(message))) continue;
      try {
        const parsed = JSON.parse(line) as Record<string, unknown>;
        if (parsed.msg === message) lines.push(parsed);
      } catch {
        // not a log line
      }
    }
    return lines;
  }

  /** The NATS server the gateway uses now ("host:port"), from its status document. */
  async natsServer(): Promise<string | undefined> {
    const status = (await (await fetch(`${this.httpUrl}/websocket/status`)).json()) as {
      upstream?: { server?: string | null };
    };
    return status.upstream?.server ?? undefined;
  }

  waitForOutput(text: string, timeoutMs = 10_000): Promise<void> {
    if (this.log.includes(text)) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const onData = () => {
        if (!this.log.includes(text)) return;
        cleanup();
        resolve();
      };
      const timer = setTimeout(() => {
        cleanup();
        reject(new Error(`${this.name} did not log ${text} within ${timeoutMs} ms:\n${this.tail()}`));
      }, timeoutMs);
      const cleanup = () => {
        clearTimeout(timer);
        this.child.stdout?.off("data", onData);
        this.child.stderr?.off("data", onData);
      };
      // Registered after the constructor's listener, so `log` already has the chunk.
      this.child.stdout?.on("data", onData);
      this.child.stderr?.on("data", onData);
    });
  }

  /** Send `signal` to this process (by its PID) and resolve once it has exited. */
  async kill(signal: NodeJS.Signals = "SIGKILL"): Promise<ProcessExit> {
    if (this.running) this.child.kill(signal);
    return this.exited;
  }

  /** The last lines of output, for error messages. */
  tail(lines = 30): string {
    return this.log.split("\n").slice(-lines).join("\n");
  }

  /** Poll GET /readyz until 200; fail early if the process exits. */
  private async waitUntilReady(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    let last = "no answer";
    for (;;) {
      if (!this.running) throw new Error(`${this.name} exited before it was ready:\n${this.tail()}`);
      try {
        const response = await fetch(`${this.httpUrl}/readyz`, { signal: AbortSignal.timeout(1000) });
        if (response.status === 200) return;
        last = `HTTP ${response.status} ${await response.text()}`;
      } catch (error) {
        last = (error as Error).message;
      }
      if (Date.now() > deadline)
        throw new Error(`${this.name} not ready within ${timeoutMs} ms (${last}):\n${this.tail()}`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
}

/** SIGKILL every gateway process still running (each by its own PID) and wait for them to exit. */
export async function stopGatewayProcesses(): Promise<void> {
  await Promise.all([...started].map((gateway) => gateway.kill("SIGKILL")));
}

/** A trade payload as upstream publishes it on `execution.trades.<anything>`. */
export function tradePayload(tradeId: string, symbol = "AAPL", price = 10): string {
  return JSON.stringify({ symbol, side: "BUY", quantity: 1, price, trade_id: tradeId });
}

export interface Position {
  seq: number;
  epoch: string;
}

/**
 * A client of the `trades` channel that survives gateway crashes the way an application would: it
 * keeps the last (seq, epoch) it received and subscribes with it as `since` on every new
 * connection. Gateways must run with WEBSOCKET_AUTO_SUBSCRIBE=false, so that nothing arrives on a
 * new connection before the resume is answered.
 */
export class TradeReader {
  /** Every trade_executed frame received, all connections concatenated, in arrival order. */
  readonly trades: Frame[] = [];
  /** The `subscribed` acks, one per connection. */
  readonly acks: Frame[] = [];
  /** The `replayed` frames, one per recovered resume, with the trades received before it on its connection. */
  readonly replays: { frame: Frame; tradesBefore: number }[] = [];
  /** Frames a test did not expect (errors). */
  readonly unexpected: Frame[] = [];
  /** The position of the last trade received. */
  last: Position | undefined;
  /** Where the first connection started (its `since`). */
  start: Position | undefined;
  client: TestClient | undefined;
  private waiters: (() => void)[] = [];

  constructor(private readonly symbols: "*" | string[] = "*") {}

  /**
   * Connect to `url` and subscribe to trades with a `since`: the last position received (before
   * any trade, where the first connection started); on the first connection, the head announced in
   * the welcome frame (nothing before it is wanted), or `startAfter` in the welcome's epoch when
   * given. Resolves with the `subscribed` ack.
   */
  async connect(url: string, options: { startAfter?: number } = {}): Promise<Frame> {
    const client = await TestClient.connect(url, { welcome: false });
    this.client = client;
    let welcomed!: (frame: Frame) => void;
    const welcome = new Promise<Frame>((resolve) => {
      welcomed = resolve;
    });
    // TestClient records every frame in `frames` (from its own listener, registered first):
    // read them from there, so that frames that arrived with the handshake are not missed.
    let cursor = 0;
    const tradesAtConnect = this.trades.length;
    const read = () => {
      while (cursor < client.frames.length) {
        const frame = client.frames[cursor++] as Frame;
        if (frame.type === "welcome") welcomed(frame);
        else if (frame.type === "trade_executed") {
          this.trades.push(frame);
          this.last = { seq: frame.seq as number, epoch: frame.epoch as string };
        } else if (frame.type === "replayed")
          this.replays.push({ frame, tradesBefore: this.trades.length - tradesAtConnect });
        else if (frame.type === "error") this.unexpected.push(frame);
      }
      this.wake();
    };
    client.socket.on("message", read);
    client.socket.on("close", () => this.wake());
    read();
    const head = await withTimeout(welcome, 5000, "welcome frame");
    const announced = (head.positions as Record<string, Position> | undefined)?.trades;
    if (announced === undefined)
      throw new Error(`no trades position in the welcome: ${JSON.stringify(head)}`);
    // Resume from the last trade received; before any, from where the first connection started.
    const since =
      this.last ??
      this.start ??
      (options.startAfter === undefined ? announced : { seq: options.startAfter, epoch: announced.epoch });
    this.start ??= since;
    const ack = await client.request({ type: "subscribe", channel: "trades", symbols: this.symbols, since });
    this.acks.push(ack);
    return ack;
  }

  /** Resolve once `predicate` holds (checked on every frame), or reject after `timeoutMs`. */
  async until(predicate: () => boolean, what: string, timeoutMs = 20_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!predicate()) {
      const remaining = deadline - Date.now();
      if (remaining <= 0)
        throw new Error(
          `timed out waiting for ${what}: ${this.trades.length} trades, last ${JSON.stringify(this.trades.at(-1))}`,
        );
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.min(remaining, 1000));
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  /**
   * Connect to `url` after the last connection was lost, and check the resume: recovered, in the
   * epoch of the last trade received. Resolves with the `subscribed` ack.
   */
  async resume(url: string): Promise<Frame> {
    const before = this.last;
    const ack = await this.connect(url);
    expect(ack).toMatchObject({ type: "subscribed", channel: "trades", recovered: true });
    expect((ack.position as Position).epoch).toBe(before?.epoch);
    return ack;
  }

  /**
   * Wait for the last of the `expected` trade_ids, then for a ping round trip (anything the gateway
   * still owed, a duplicate, would arrive before the pong), and check what arrived: exactly
   * `expected`, in order, once each (exactnessProblems), and no error frame.
   */
  async receivedExactly(expected: string[], timeoutMs = 20_000): Promise<void> {
    await this.until(() => this.trades.at(-1)?.trade_id === expected.at(-1), "the last trade", timeoutMs);
    await this.client?.drainUntilPong();
    expect(exactnessProblems(this.trades, expected)).toEqual([]);
    expect(this.unexpected).toEqual([]);
  }

  /**
   * The last resume's replay, checked: it announced (`count`) as many frames as it sent. Returns
   * how many it sent, all after the position resumed from (0 when there was no replay).
   */
  replayed(): number {
    const replay = this.replays.at(-1);
    expect(replay?.frame.count).toBe(replay?.tradesBefore);
    return replay?.tradesBefore ?? 0;
  }

  /** Resolve once the current connection is closed (by the gateway's death or by us). */
  async closed(): Promise<void> {
    await this.client?.waitForClose();
  }

  async close(): Promise<void> {
    await this.client?.close();
  }

  private wake(): void {
    for (const wake of this.waiters.splice(0)) wake();
  }
}

/**
 * Check a delivered sequence against what was published: the trade_ids exactly `expected`, in
 * order, once each; `seq` strictly increasing; one epoch throughout. Returns a list of problems
 * (empty when exact), so a failure says what went wrong rather than dumping 1,000 frames.
 */
export function exactnessProblems(trades: Frame[], expected: string[]): string[] {
  const problems: string[] = [];
  const ids = trades.map((trade) => String(trade.trade_id));
  const seen = new Set<string>();
  const duplicates: string[] = [];
  for (const id of ids) {
    if (seen.has(id)) duplicates.push(id);
    seen.add(id);
  }
  if (duplicates.length > 0)
    problems.push(`${duplicates.length} duplicates, first ${duplicates.slice(0, 5).join(", ")}`);
  const missing = expected.filter((id) => !seen.has(id));
  if (missing.length > 0) problems.push(`${missing.length} missing, first ${missing.slice(0, 5).join(", ")}`);
  const wanted = new Set(expected);
  const extra = ids.filter((id) => !wanted.has(id));
  if (extra.length > 0) problems.push(`${extra.length} unexpected, first ${extra.slice(0, 5).join(", ")}`);
  const firstDifference = ids.findIndex((id, index) => id !== expected[index]);
  if (problems.length === 0 && (firstDifference !== -1 || ids.length !== expected.length))
    problems.push(
      `out of order at index ${firstDifference}: ${ids.slice(firstDifference, firstDifference + 5)}`,
    );
  for (let index = 1; index < trades.length; index++) {
    const previous = trades[index - 1] as Frame;
    const current = trades[index] as Frame;
    if ((current.seq as number) <= (previous.seq as number)) {
      problems.push(`seq not increasing at index ${index}: ${previous.seq} then ${current.seq}`);
      break;
    }
  }
  const epochs = new Set(trades.map((trade) => trade.epoch));
  if (epochs.size > 1) problems.push(`several epochs: ${[...epochs].join(", ")}`);
  return problems;
}

function withTimeout<T>(promise: Promise<T>, timeoutMs: number, what: string): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}`)), timeoutMs);
    promise.then(
      (value) => {
        clearTimeout(timer);
        resolve(value);
      },
      (error: unknown) => {
        clearTimeout(timer);
        reject(error);
      },
    );
  });
}

/**
 * Publish `total` messages at a steady pace (`perTick` every `tickMs`), each with `publishOne(i)`
 * (awaited, so a publisher that waits for an ack keeps its order). `untilPublished(n)` resolves
 * once n have been published.
 */
export class SteadyPublisher {
  published = 0;
  readonly done: Promise<void>;
  private stopped = false;
  private waiters: (() => void)[] = [];

  constructor(
    readonly total: number,
    publishOne: (index: number) => void | Promise<void>,
    options: { perTick?: number; tickMs?: number } = {},
  ) {
    const perTick = options.perTick ?? 2;
    const tickMs = options.tickMs ?? 10;
    this.done = (async () => {
      while (this.published < total && !this.stopped) {
        const tickStart = Date.now();
        for (let i = 0; i < perTick && this.published < total; i++) {
          await publishOne(this.published);
          this.published++;
        }
        for (const wake of this.waiters.splice(0)) wake();
        await new Promise((resolve) => setTimeout(resolve, Math.max(0, tickMs - (Date.now() - tickStart))));
      }
    })();
  }

  async untilPublished(count: number, timeoutMs = 30_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (this.published < Math.min(count, this.total)) {
      if (Date.now() > deadline) throw new Error(`only ${this.published} of ${count} published in time`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, 1000);
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  stop(): void {
    this.stopped = true;
  }
}

/** A small seeded PRNG (mulberry32), so that a failing random choice can be replayed. */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * How many trades a client has when the test kills something: between 100 and 800, drawn from
 * RESUME_SEED (or the clock) and logged with the seed, so that a run can be replayed.
 */
export function killPoints(file: string): (test: string) => number {
  const seed = Number(process.env.RESUME_SEED ?? Date.now() % 2 ** 31);
  const random = seededRandom(seed);
  return (test) => {
    const point = 100 + Math.floor(random() * 701);
    console.log(`[${file}] ${test}: seed ${seed}, kill after ${point} trades received`);
    return point;
  };
}
