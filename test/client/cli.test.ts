/**
 * The `gateway` command end to end: the bin launcher spawned as a process against a real gateway
 * fed by a real nats-server, its output checked line by line. `tail` prints only the channel and
 * symbols asked for, reconnects by itself when the gateway restarts (saying so on stderr), prints
 * one JSON frame per line with --json, and stops for good on a terminal close code; `status`
 * prints the status document as a table.
 */
import { describe, expect, it } from "vitest";
import { BUNDLED_CHANNELS } from "../helpers/channels.js";
import { freePort } from "../helpers/free-port.js";
import {
  flushChannel,
  startGateway,
  upstreamMessages,
  waitForIngest,
  waitUntilReady,
} from "../helpers/gateway.js";
import { SEED_UPSTREAM } from "../helpers/seed-payloads.js";
import type { TestClient } from "../helpers/test-client.js";
import { MANUAL_FLUSH, withGateway } from "../helpers/with-gateway.js";
import { CliProcess } from "./helpers/cli-process.js";
import { startProxy } from "./helpers/sdk.js";

const TIME = /^\d{2}:\d{2}:\d{2}\.\d{3} {2}/;

// Conflated channels flush only when the test says so.
const stack = withGateway({ env: MANUAL_FLUSH });

/** The CLI as a process, killed (if still running) when the test ends. */
function cli(args: string[]): CliProcess {
  const started = CliProcess.start(args);
  stack.defer(async () => {
    started.kill();
    await started.exited;
  });
  return started;
}

function witness(): Promise<TestClient> {
  return stack.connect();
}

function publish(subject: string, payload: unknown): void {
  stack.publisher.publish(subject, JSON.stringify(payload));
}

function flushPrices(): void {
  flushChannel(stack.running, "price_updates");
}

/** The seed's signal: BUY AAPL @ 150.25, confidence 0.85, at 2024-12-19T12:00:00Z. */
const SIGNAL = SEED_UPSTREAM.signal;

describe("gateway tail", () => {
  it("prints only the chosen channel and symbols, one readable line per frame, and comes back after a gateway restart", async () => {
    const tail = cli([
      "tail",
      "--url",
      stack.running.wsUrl,
      "--channel",
      "price_updates",
      "--symbols",
      "AAPL,MSFT",
    ]);
    await tail.nextErr(/connecting to ws:\/\/127\.0\.0\.1:\d+\/ws$/);
    await tail.nextErr(
      /connected as [0-9a-f-]{36}; channels: order_books, portfolio, price_updates, signals, trades$/,
    );
    await tail.nextErr(/subscribed price_updates: AAPL, MSFT$/);
    for (const channel of ["portfolio", "signals", "trades"])
      await tail.nextErr(new RegExp(`unsubscribed ${channel}$`));

    let ticks = 0;
    const tick = async (symbol: string, payload: Record<string, unknown>) => {
      publish(`market.prices.${symbol}`, { symbol, ...payload });
      await waitForIngest(stack.running, stack.publisher, "price_updates", ++ticks);
    };
    await tick("AAPL", { price: 150.25, change: 0.5, change_pct: 0.33, volume: 1_000_000 });
    flushPrices();
    expect(await tail.nextOut(/price_update/)).toMatch(
      /^\d{2}:\d{2}:\d{2}\.\d{3} {2}price_update {6}AAPL 150\.25 \+0\.5 \(\+0\.33%\) vol 1,000,000$/,
    );

    // A signal (other channel) and GOOG (other symbol) are not printed: the witness proves the
    // gateway dispatched the signal before the next price frame, which is the next line.
    const watcher = await witness();
    publish("strategy.signals.x", SIGNAL);
    await watcher.next("signal");
    await tick("GOOG", { price: 170 });
    await tick("MSFT", { price: 380.5, change: -1.2 });
    flushPrices();
    expect(await tail.nextOut(/./)).toMatch(/ {2}price_update {6}MSFT 380\.5 -1\.2$/);
    await watcher.close();

    // The gateway goes away and comes back on the same port: the tail reconnects by itself.
    await stack.stopGateway();
    await tail.nextErr(/connection closed: 1001 GOING_AWAY: Server shutting down; reconnect$/);
    await tail.nextErr(/reconnecting in \d+\.\d{2} s \(attempt 1\)$/);
    await stack.restartGateway();
    await tail.nextErr(/connected as /);
    await tail.nextErr(/subscribed price_updates: AAPL, MSFT$/);
    ticks = 0;
    await tick("GOOG", { price: 171 });
    await tick("AAPL", { price: 151 });
    flushPrices();
    expect(await tail.nextOut(/./)).toMatch(/ {2}price_update {6}AAPL 151$/);

    expect(await tail.interrupt()).toBe(0);
    expect(tail.stdout.lines.filter((line) => line !== "")).toHaveLength(3);
    for (const line of tail.stdout.lines.filter(Boolean)) expect(line).toMatch(TIME);
  });

  it("prints each frame once, in time order, the connected line first", async () => {
    // The gateway holds a price for AAPL before the tail connects: the connection's auto-subscribe
    // default sends it at once, and the tail's own subscription sends it again after the ack.
    const { running, publisher } = stack;
    const ingested = await upstreamMessages(running, "price_updates");
    publish("market.prices.AAPL", { symbol: "AAPL", price: 150.25 });
    await waitForIngest(running, publisher, "price_updates", ingested + 1);

    const tail = cli(["tail", "--url", running.wsUrl, "--channel", "price_updates", "--symbols", "AAPL"]);
    const connected = await tail.nextErr(/connected as /);
    const subscribed = await tail.nextErr(/subscribed price_updates: AAPL$/);
    for (const channel of ["portfolio", "signals", "trades"])
      await tail.nextErr(new RegExp(`unsubscribed ${channel}$`));
    const first = await tail.nextOut(/./);
    expect(first).toMatch(/ {2}price_update {6}AAPL 150\.25$/);

    publish("market.prices.AAPL", { symbol: "AAPL", price: 151 });
    await waitForIngest(running, publisher, "price_updates", ingested + 2);
    flushPrices();
    // The next line is the new price: the first one was not printed a second time.
    const second = await tail.nextOut(/./);
    expect(second).toMatch(/ {2}price_update {6}AAPL 151$/);
    expect(await tail.interrupt()).toBe(0);
    expect(tail.stdout.lines.filter(Boolean)).toEqual([first, second]);

    // One clock for every line about a frame (the gateway's): stderr and stdout read in order.
    const times = [connected, subscribed, first, second].map((line) => line.slice(0, 12));
    expect(times).toEqual([...times].sort());
    expect(tail.stderr.lines.filter(Boolean)[1]).toBe(connected);
  });

  it("prints signals, trades and portfolios in words", async () => {
    const tail = cli(["tail", "--url", stack.running.wsUrl]);
    await tail.nextErr(/connected as /);
    publish("strategy.signals.x", SIGNAL);
    publish("execution.trades.x", {
      symbol: "MSFT",
      side: "SELL",
      quantity: 5,
      price: 380.5,
      account: "acct-1",
      timestamp: "2024-12-19T12:00:01Z",
    });
    publish("portfolio.updates", {
      account: "acct-1",
      positions: {
        AAPL: {
          symbol: "AAPL",
          quantity: 10,
          average_price: 150,
          market_price: 151.25,
          unrealized_pnl: 12.5,
          unrealized_pnl_pct: 0.83,
        },
      },
      total_pnl: 12.5,
      timestamp: "2024-12-19T12:00:02Z",
    });
    await waitForIngest(stack.running, stack.publisher, "portfolio", 1);
    flushChannel(stack.running, "portfolio");
    expect(await tail.nextOut(/ signal /)).toBe(
      "12:00:00.000  signal            BUY AAPL @ 150.25  qty 10  confidence 0.85",
    );
    expect(await tail.nextOut(/ trade_executed /)).toBe(
      "12:00:01.000  trade_executed    SELL 5 MSFT @ 380.5  account acct-1",
    );
    expect(await tail.nextOut(/ portfolio_update /)).toBe(
      "12:00:02.000  portfolio_update  acct-1  1 position  P&L +12.5  AAPL 10 (+12.5)",
    );
  });

  it("--json prints each frame as one JSON line, exactly as the gateway sent it", async () => {
    const tail = cli(["tail", "--url", stack.running.wsUrl, "--channel", "signals", "--json"]);
    await tail.nextErr(/subscribed signals: all symbols$/);
    await tail.nextErr(/unsubscribed trades$/);
    const watcher = await witness();
    publish("strategy.signals.x", SIGNAL);
    const sent = await watcher.next("signal");
    const line = await tail.nextOut(/./);
    expect(line).toBe(JSON.stringify(sent));
    // The seed's frame, with the position the gateway stamps on every frame of a lossless channel.
    expect(line).toMatch(
      /^\{"type":"signal","signal_type":"BUY","symbol":"AAPL","price":150\.25,"quantity":10,"confidence":0\.85,"timestamp":"2024-12-19T12:00:00Z","seq":\d+,"epoch":"[^"]+"\}$/,
    );
  });

  it("says when it resumed trades after a dropped connection, and prints the missed ones", async () => {
    const proxy = await startProxy(stack);
    const tail = cli(["tail", "--url", proxy.wsUrl, "--channel", "trades"]);
    await tail.nextErr(/subscribed trades: all symbols$/);
    await tail.nextErr(/unsubscribed signals$/);
    const trade = (quantity: number) =>
      publish("execution.trades.x", { symbol: "AAPL", side: "BUY", quantity, price: 10 });
    trade(1);
    expect(await tail.nextOut(/./)).toMatch(/ {2}trade_executed {4}BUY 1 AAPL @ 10$/);

    // The network drops; trades go on while the tail cannot reach the gateway.
    proxy.refuse();
    proxy.dropAll();
    await tail.nextErr(/connection closed: 1006/);
    const watcher = await witness();
    trade(2);
    trade(3);
    await watcher.next("trade_executed", (frame) => frame.quantity === 3);
    proxy.accept();

    await tail.nextErr(/connected as /);
    expect(await tail.nextErr(/resumed trades/)).toMatch(
      /^\d{2}:\d{2}:\d{2}\.\d{3} {2}resumed trades: 2 frames replayed$/,
    );
    expect(await tail.nextOut(/./)).toMatch(/ {2}trade_executed {4}BUY 2 AAPL @ 10$/);
    expect(await tail.nextOut(/./)).toMatch(/ {2}trade_executed {4}BUY 3 AAPL @ 10$/);
    expect(await tail.interrupt()).toBe(0);
    expect(tail.stderr.lines.some((line) => line.includes("could not resume"))).toBe(false);
  });

  it("says that trades may be missing when the restarted gateway cannot replay them (no JetStream)", async () => {
    const tail = cli(["tail", "--url", stack.running.wsUrl, "--channel", "trades"]);
    await tail.nextErr(/subscribed trades: all symbols$/);
    publish("execution.trades.x", { symbol: "AAPL", side: "SELL", quantity: 1, price: 10 });
    await tail.nextOut(/trade_executed/);

    await stack.stopGateway();
    await tail.nextErr(/connection closed: 1001 GOING_AWAY/);
    await stack.restartGateway();
    expect(await tail.nextErr(/could not resume/)).toMatch(
      /^\d{2}:\d{2}:\d{2}\.\d{3} {2}trades: could not resume \(epoch_mismatch\); some frames may be missing$/,
    );
    // Live again from the new gateway's first trade.
    publish("execution.trades.x", { symbol: "AAPL", side: "SELL", quantity: 2, price: 10 });
    expect(await tail.nextOut(/./)).toMatch(/ {2}trade_executed {4}SELL 2 AAPL @ 10$/);
    expect(await tail.interrupt()).toBe(0);
  });

  it("says on stderr when a followed channel goes stale and live again, never on stdout", async () => {
    // A NATS server and gateway of their own: the shared ones stay up for the other tests.
    const own = await stack.startNats();
    const gateway = stack.track(await startGateway({ NATS_URL: own.url }));
    await waitUntilReady(gateway);
    const tail = cli(["tail", "--url", gateway.wsUrl, "--channel", "trades"]);
    await tail.nextErr(/subscribed trades: all symbols$/);
    await own.stop();
    expect(await tail.nextErr(/trades: /)).toMatch(
      /^\d{2}:\d{2}:\d{2}\.\d{3} {2}trades: stale \(upstream_disconnected: the gateway has lost its NATS link\)$/,
    );
    await own.restart();
    expect(await tail.nextErr(/trades: /)).toMatch(/ {2}trades: live$/);
    const upstream = await own.client();
    upstream.publish(
      "execution.trades.x",
      JSON.stringify({ symbol: "AAPL", side: "BUY", quantity: 1, price: 2 }),
    );
    await upstream.flush();
    // The first line on stdout is the trade: no status line went there.
    expect(await tail.nextOut(/./)).toMatch(/ {2}trade_executed {4}BUY 1 AAPL @ 2$/);
    await upstream.close();
    expect(await tail.interrupt()).toBe(0);
  });

  it("stops with status 1 when the gateway closes the connection for good (4000 REPLACED)", async () => {
    const tail = cli(["tail", "--url", stack.running.wsUrl, "--client-id", "cli-dup"]);
    await tail.nextErr(/connected as cli-dup; /);
    // A newer connection with the CLI's client_id.
    await stack.connect({ query: { client_id: "cli-dup" } });
    await tail.nextErr(
      /connection closed: 4000 REPLACED: Replaced by a newer connection with the same client_id$/,
    );
    await tail.nextErr(/not reconnecting/);
    expect(await tail.exited).toBe(1);
    expect(tail.stderr.lines.some((line) => /reconnecting in/.test(line))).toBe(false);
  });

  it("takes the http:// address of the gateway, and stops with status 1 when the upgrade is refused (404)", async () => {
    const tail = cli(["tail", "--url", stack.running.httpUrl, "--channel", "signals"]);
    await tail.nextErr(/connected as /);
    expect(await tail.interrupt()).toBe(0);
    const wrongPath = cli(["tail", "--url", `${stack.running.httpUrl}/nowhere`]);
    await wrongPath.nextErr(
      /not reconnecting: the gateway refused the WebSocket upgrade with HTTP 404; check --url$/,
    );
    expect(await wrongPath.exited).toBe(1);
  });

  it("refuses bad arguments with status 2 and the usage", async () => {
    const tail = cli(["tail", "--symbols", "AAPL"]);
    expect(await tail.exited).toBe(2);
    expect(tail.stderr.lines[0]).toBe(
      "gateway: --symbols needs --channel (which channel are they symbols of?)",
    );
    expect(tail.stderr.lines).toContain("Usage: gateway <command> [options]");
  });
});

describe("gateway status", () => {
  it("prints /websocket/status as a table", async () => {
    const status = cli(["status", "--url", stack.running.httpUrl]);
    expect(await status.exited).toBe(0);
    const out = status.stdout.lines;
    expect(out.slice(0, 6)).toEqual([
      `Gateway ${stack.running.httpUrl}`,
      "  WebSocket enabled          yes",
      expect.stringMatching(/^ {2}Connections {16}\d+ of 100$/),
      "  Ping interval              30 s",
      "  Price update interval      3600 s",
      "  Portfolio update interval  3600 s",
    ]);
    expect(out[6]).toBe("");
    expect(out[7]).toMatch(/^CHANNEL {8}HEALTHY {2}LAST UPDATE {15}ERRORS {2}RECOVERIES {2}STARTED$/);
    const rows = out.slice(8).filter(Boolean);
    expect(rows.map((row) => row.split(/\s+/).slice(0, 2))).toEqual([
      ["order_books", "yes"],
      ["portfolio", "yes"],
      ["price_updates", "yes"],
      ["signals", "yes"],
      ["trades", "yes"],
    ]);
  });

  it("--json prints the document; an unreachable gateway is status 1", async () => {
    const json = cli(["status", "--url", stack.running.wsUrl, "--json"]);
    expect(await json.exited).toBe(0);
    const document = JSON.parse(json.stdout.lines.join("\n"));
    expect(document).toMatchObject({ enabled: true, max_connections: 100, ping_interval: 30 });
    expect(Object.keys(document.stream_health)).toEqual(BUNDLED_CHANNELS);

    const down = cli(["status", "--url", `http://127.0.0.1:${await freePort()}`]);
    expect(await down.exited).toBe(1);
    expect(down.stderr.lines[0]).toMatch(
      /^gateway: cannot read http:\/\/127\.0\.0\.1:\d+\/websocket\/status: .*ECONNREFUSED/,
    );
  });
});
