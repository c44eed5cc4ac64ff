/**
 * `gateway latency`: GET /websocket/latency as a table, per channel the p50 and p99 of the
 * gateway's own hop (NATS receive to socket write) and of upstream lag (publish time to NATS
 * receive) over the gateway's window, refreshed every few seconds until Ctrl-C. `--once` prints
 * one table and exits (scripts, tests); `--json` prints the document (one line per refresh). The
 * document is validated with the route's own zod schema, as `status` does.
 */
import { type LatencyDocument, latencyDocument } from "../core/latency/latency-document.js";
import { statusUrl } from "./status.js";
import { renderTable } from "./table.js";

export interface LatencyOptions {
  /** The gateway's address: http(s)://host:port (a ws(s):// URL or the full latency URL work too). */
  url: string;
  json: boolean;
  /** Print once and exit, instead of refreshing. */
  once: boolean;
  /** Refresh period, ms. */
  intervalMs: number;
}

/** Refresh period when --interval is not given: the endpoint's buckets are 5 s. */
export const DEFAULT_LATENCY_INTERVAL_MS = 2000;
const LATENCY_PATH = "/websocket/latency";
/** Clear the terminal and go home: each refresh replaces the last table. */
const CLEAR = "\x1b[H\x1b[2J";

/** The latency document's URL from whatever address the user gave (as `status` reads it). */
export function latencyUrl(input: string): URL {
  const url = statusUrl(input);
  url.pathname = LATENCY_PATH;
  return url;
}

/** "0.41", "2.3", "12.5", "1250": milliseconds with the digits that matter; "-" for none. */
function milliseconds(value: number | null | undefined): string {
  if (value === null || value === undefined) return "-";
  if (value < 10) return value.toFixed(2);
  if (value < 100) return value.toFixed(1);
  return String(Math.round(value));
}

export function formatLatency(url: URL, document: LatencyDocument): string {
  const channels = Object.entries(document.channels).sort(([a], [b]) => a.localeCompare(b));
  const table = renderTable([
    ["CHANNEL", "KIND", "FRAMES", "HOP P50", "HOP P99", "LAG P50", "LAG P99"],
    ...channels.map(([channel, figures]) => {
      const lag = figures.upstream_lag;
      return [
        channel,
        figures.kind,
        String(figures.hop.count),
        milliseconds(figures.hop.p50_ms),
        milliseconds(figures.hop.p99_ms),
        lag === null ? "n/a" : milliseconds(lag.p50_ms),
        lag === null ? "n/a" : milliseconds(lag.p99_ms),
      ];
    }),
  ]);
  return (
    `Gateway ${url.origin}  latency over the last ${document.window_seconds} s, ms, at ${document.timestamp}\n` +
    table +
    "HOP: NATS receive to socket write. LAG: upstream publish time to NATS receive (n/a: the\n" +
    "channel's messages carry no upstream time). -: nothing measured in the window. Percentiles\n" +
    "are estimated from histogram buckets.\n"
  );
}

/** One read of the document: it, or what went wrong in a line. */
async function read(url: URL): Promise<{ document: LatencyDocument } | { error: string }> {
  let body: unknown;
  try {
    const response = await fetch(url, { signal: AbortSignal.timeout(10_000) });
    if (!response.ok) return { error: `${url} answered HTTP ${response.status}` };
    body = await response.json();
  } catch (error) {
    const cause = (error as { cause?: { message?: string } }).cause?.message;
    return { error: `cannot read ${url}: ${cause ?? (error as Error).message}` };
  }
  const parsed = latencyDocument.safeParse(body);
  if (!parsed.success)
    return { error: `${url} is not a latency document: ${parsed.error.issues[0]?.message}` };
  return { document: parsed.data };
}

/**
 * Resolves with the exit status: with --once 0 printed, 1 unreadable; refreshing, 0 after
 * SIGINT/SIGTERM (a failed read is reported on stderr and tried again at the next refresh).
 */
export async function latency(options: LatencyOptions): Promise<number> {
  let url: URL;
  try {
    url = latencyUrl(options.url);
  } catch (error) {
    process.stderr.write(`gateway: invalid --url: ${(error as Error).message}\n`);
    return 2;
  }
  const print = (document: LatencyDocument, refreshing: boolean) => {
    if (options.json) process.stdout.write(`${JSON.stringify(document, null, refreshing ? undefined : 2)}\n`);
    else if (refreshing && process.stdout.isTTY) process.stdout.write(CLEAR + formatLatency(url, document));
    else process.stdout.write(`${formatLatency(url, document)}${refreshing ? "\n" : ""}`);
  };
  if (options.once) {
    const result = await read(url);
    if ("error" in result) {
      process.stderr.write(`gateway: ${result.error}\n`);
      return 1;
    }
    print(result.document, false);
    return 0;
  }
  return new Promise((resolve) => {
    let timer: NodeJS.Timeout | undefined;
    let finished = false;
    const finish = () => {
      if (finished) return;
      finished = true;
      clearTimeout(timer);
      process.off("SIGINT", finish);
      process.off("SIGTERM", finish);
      resolve(0);
    };
    process.on("SIGINT", finish);
    process.on("SIGTERM", finish);
    // `gateway latency | head`: the reader went away; stop quietly.
    process.stdout.on("error", finish);
    const refresh = async () => {
      const result = await read(url);
      if (finished) return;
      if ("error" in result) process.stderr.write(`gateway: ${result.error}; trying again\n`);
      else print(result.document, true);
      timer = setTimeout(refresh, options.intervalMs);
    };
    void refresh();
  });
}
