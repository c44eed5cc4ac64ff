/**
 * One load-generating process: holds a share of the benchmark's clients, all from one source
 * address, and measures what they receive. The orchestrator drives it over IPC:
 *
 *   connect -> connected   open `count` clients (bounded concurrency) and time it
 *   reset                  zero the counters (after warm-up)
 *   stall   -> stalled     stop reading on some clients (they stay connected)
 *   report  -> report      messages received, per-client min/max, latency histogram, own CPU
 *   close                  close everything and exit
 *
 * Receive cost is kept low on purpose (a string scan for "t": instead of JSON.parse), so that the
 * generator, not the server, is the last thing to saturate.
 */
import { type BenchClient, connectClient } from "../lib/clients.js";
import { LatencyHistogram } from "../lib/histogram.js";
import { preciseNow } from "../lib/now.js";
import type { TargetName } from "../lib/targets.js";

export type WorkerCommand =
  | {
      type: "connect";
      target: TargetName;
      url: string;
      count: number;
      localAddress: string;
      subject: string;
      /** Price scenario: each client subscribes to `perClient` of these symbols. */
      price?: { universe: string[]; perClient: number; firstClient: number };
    }
  | { type: "reset" }
  | { type: "stall"; count: number }
  | { type: "report" }
  | { type: "close" };

export interface WorkerReport {
  received: number;
  minPerClient: number;
  maxPerClient: number;
  histogram: ReturnType<LatencyHistogram["toJSON"]>;
  cpuUserMs: number;
  cpuSystemMs: number;
  closedByServer: number;
  /** Price scenario: symbols received that the client had not subscribed to (must be 0). */
  foreignSymbols: number;
}

const CONNECT_CONCURRENCY = 50;

const clients: BenchClient[] = [];
let counts = new Uint32Array(0);
let stalled = 0;
let histogram = new LatencyHistogram();
let cpuAtReset = process.cpuUsage();
let closedByServer = 0;
let foreignSymbols = 0;

/** The symbols client `index` (global numbering) watches: a fixed, overlapping selection. */
export function watchlist(universe: string[], perClient: number, index: number): string[] {
  return Array.from({ length: perClient }, (_, k) => universe[(index * 7 + k) % universe.length] as string);
}

/** The scheduled publish time stamped in the message: the number after `"t":`. */
function stampOf(message: string | Buffer): number {
  const at = message.indexOf('"t":');
  if (at < 0) return Number.NaN;
  const digits =
    typeof message === "string"
      ? message.slice(at + 4, at + 30)
      : message.toString("latin1", at + 4, at + 30);
  return Number.parseFloat(digits);
}

async function connectAll(command: Extract<WorkerCommand, { type: "connect" }>): Promise<number> {
  counts = new Uint32Array(command.count);
  let next = 0;
  let failed = 0;
  const opener = async () => {
    while (next < command.count) {
      const index = next++;
      try {
        const price = command.price;
        const watched = price
          ? new Set(watchlist(price.universe, price.perClient, price.firstClient + index))
          : undefined;
        clients[index] = await connectClient(command.target, command.url, {
          localAddress: command.localAddress,
          subject: command.subject,
          subscribe: watched && {
            channel: "price_updates",
            frameType: "price_update",
            symbols: [...watched],
          },
          onMessage: (text) => {
            counts[index] = (counts[index] ?? 0) + 1;
            if (watched) {
              // Conflated frames carry no publish stamp; check they hold only this client's symbols.
              const frame = JSON.parse(text.toString()) as { symbols: Record<string, unknown> };
              for (const symbol of Object.keys(frame.symbols)) if (!watched.has(symbol)) foreignSymbols++;
              return;
            }
            const t = stampOf(text);
            if (!Number.isNaN(t)) histogram.record(preciseNow() - t);
          },
          onClose: () => {
            closedByServer++;
          },
        });
      } catch {
        failed++;
      }
    }
  };
  await Promise.all(Array.from({ length: CONNECT_CONCURRENCY }, opener));
  return failed;
}

function report(): WorkerReport {
  // Stalled clients are the test subject, not the measured population.
  const measured = counts.slice(stalled);
  let received = 0;
  let min = Number.POSITIVE_INFINITY;
  let max = 0;
  for (const count of measured) {
    received += count;
    min = Math.min(min, count);
    max = Math.max(max, count);
  }
  const cpu = process.cpuUsage(cpuAtReset);
  return {
    received,
    minPerClient: measured.length ? min : 0,
    maxPerClient: max,
    histogram: histogram.toJSON(),
    cpuUserMs: cpu.user / 1000,
    cpuSystemMs: cpu.system / 1000,
    closedByServer,
    foreignSymbols,
  };
}

process.on("message", async (command: WorkerCommand) => {
  switch (command.type) {
    case "connect": {
      const started = preciseNow();
      const failed = await connectAll(command);
      process.send?.({ type: "connected", ms: preciseNow() - started, failed });
      break;
    }
    case "reset":
      counts.fill(0);
      histogram = new LatencyHistogram();
      cpuAtReset = process.cpuUsage();
      closedByServer = 0;
      foreignSymbols = 0;
      process.send?.({ type: "reset-done" });
      break;
    case "stall":
      stalled = Math.min(command.count, clients.length);
      for (const client of clients.slice(0, stalled)) client.pause?.();
      process.send?.({ type: "stalled", count: stalled });
      break;
    case "report":
      process.send?.({ type: "report", report: report() });
      break;
    case "close":
      for (const client of clients) client?.close();
      process.exit(0);
  }
});
