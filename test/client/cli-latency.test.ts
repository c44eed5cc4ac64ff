/**
 * `gateway latency` end to end: the bin launcher spawned as a process against a real gateway fed
 * by a real nats-server (with JetStream, so that trades carry an upstream time), its output
 * checked line by line against GET /websocket/latency read at the same moment. `--once` prints
 * one table and exits; without it the table is printed again every --interval until Ctrl-C.
 */
import { describe, expect, it } from "vitest";
import { BUNDLED_CHANNELS } from "../helpers/channels.js";
import { freePort } from "../helpers/free-port.js";
import { MANUAL_FLUSH, withGateway } from "../helpers/with-gateway.js";
import { CliProcess } from "./helpers/cli-process.js";

const stack = withGateway({ env: MANUAL_FLUSH, jetstream: true });

/** The CLI as a process, killed (if still running) when the test ends. */
function cli(args: string[]): CliProcess {
  const started = CliProcess.start(args);
  stack.defer(async () => {
    started.kill();
    await started.exited;
  });
  return started;
}

interface Figures {
  count: number;
  p50_ms: number | null;
  p99_ms: number | null;
}
interface LatencyDocument {
  window_seconds: number;
  channels: Record<string, { kind: string; hop: Figures; upstream_lag: Figures | null }>;
}

async function latencyDocument(): Promise<LatencyDocument> {
  return (await fetch(`${stack.running.httpUrl}/websocket/latency`)).json() as Promise<LatencyDocument>;
}

/** Milliseconds as the table writes them. */
function ms(value: number | null | undefined): string {
  if (value === null || value === undefined) return "-";
  if (value < 10) return value.toFixed(2);
  if (value < 100) return value.toFixed(1);
  return String(Math.round(value));
}

/** Ten trades written to a client: the trades channel has hop and lag figures in the window. */
async function tradesWritten(): Promise<void> {
  const client = await stack.connect();
  for (let quantity = 1; quantity <= 10; quantity++)
    stack.publisher.publish(
      "execution.trades.AAPL",
      JSON.stringify({ symbol: "AAPL", side: "BUY", quantity, price: 150.25 }),
    );
  await client.next("trade_executed", (frame) => frame.quantity === 10);
  // Figures are taken when the frame was written: wait until the document counts all ten.
  await expect
    .poll(async () => (await latencyDocument()).channels.trades?.hop.count, { timeout: 5000 })
    .toBeGreaterThanOrEqual(10);
}

describe("gateway latency", () => {
  it("--once prints each channel's hop and upstream lag p50/p99 as one table, the figures of GET /websocket/latency", async () => {
    await tradesWritten();
    const latency = cli(["latency", "--once", "--url", stack.running.httpUrl]);
    expect(await latency.exited).toBe(0);
    const document = await latencyDocument();
    const out = latency.stdout.lines;
    expect(out[0]).toMatch(
      new RegExp(
        `^Gateway ${stack.running.httpUrl.replaceAll(".", "\\.")} {2}latency over the last 60 s, ms, at \\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\d\\.\\d{3}Z$`,
      ),
    );
    expect(out[1]).toMatch(/^CHANNEL +KIND +FRAMES +HOP P50 +HOP P99 +LAG P50 +LAG P99$/);
    const rows = out.slice(2, 2 + BUNDLED_CHANNELS.length).map((row) => row.split(/\s+/));
    expect(rows.map((row) => row.slice(0, 2))).toEqual([
      ["order_books", "state"],
      ["portfolio", "conflated"],
      ["price_updates", "conflated"],
      ["signals", "lossless"],
      ["trades", "lossless"],
    ]);
    // The trades row: what the endpoint says, as numbers in milliseconds.
    const trades = document.channels.trades;
    if (trades === undefined) throw new Error("no trades channel in /websocket/latency");
    const lag = trades.upstream_lag;
    expect(rows[4]).toEqual([
      "trades",
      "lossless",
      String(trades.hop.count),
      ms(trades.hop.p50_ms),
      ms(trades.hop.p99_ms),
      lag === null ? "n/a" : ms(lag.p50_ms),
      lag === null ? "n/a" : ms(lag.p99_ms),
    ]);
    expect(rows[4]?.[3]).toMatch(/^\d+(\.\d+)?$/);
    // With JetStream every trade has an upstream time (the stream's timestamp).
    expect(rows[4]?.[5]).toMatch(/^\d+(\.\d+)?$/);
    // No frames on signals yet: no figures, said as "-".
    expect(rows[3]?.slice(2, 5)).toEqual(["0", "-", "-"]);
    expect(out.slice(2 + BUNDLED_CHANNELS.length).join(" ")).toContain("estimated from histogram buckets");
    expect(latency.stderr.lines.filter(Boolean)).toEqual([]);
  });

  it("refreshes the table every --interval until Ctrl-C, and --json --once prints the document", async () => {
    const latency = cli(["latency", "--interval", "0.2", "--url", stack.running.wsUrl]);
    // Not a terminal: each refresh is printed below the last one.
    for (let refresh = 0; refresh < 3; refresh++) await latency.nextOut(/^CHANNEL +KIND +FRAMES/);
    expect(await latency.interrupt()).toBe(0);

    const json = cli(["latency", "--once", "--json", "--url", stack.running.httpUrl]);
    expect(await json.exited).toBe(0);
    const document = JSON.parse(json.stdout.lines.join("\n"));
    expect(document).toMatchObject({ window_seconds: 60, bucket_seconds: 5 });
    expect(Object.keys(document.channels).sort()).toEqual(BUNDLED_CHANNELS);
  });

  it("an unreachable gateway is status 1 with --once, and a bad --interval is a usage error (2)", async () => {
    const down = cli(["latency", "--once", "--url", `http://127.0.0.1:${await freePort()}`]);
    expect(await down.exited).toBe(1);
    expect(down.stderr.lines[0]).toMatch(
      /^gateway: cannot read http:\/\/127\.0\.0\.1:\d+\/websocket\/latency: .*ECONNREFUSED/,
    );
    const usage = cli(["latency", "--interval", "0"]);
    expect(await usage.exited).toBe(2);
    expect(usage.stderr.lines[0]).toBe("gateway: --interval must be a number of seconds from 0.1 to 3600");
  });
});
