/**
 * One load-generating process: holds a share of the benchmark's clients, all from one source
 * address, and measures what they receive. The orchestrator drives it over IPC:
 *
 *   connect -> connected   open `count` clients (bounded concurrency) and time it
 *   reset                  zero the counters (after warm-up)
 *   stall   -> stalled     stop reading on some clients (they stay connected)
 *   unstall -> unstalled   read again, so that they see how the server ended their connection
 *   report  -> report      messages received, per-client min/max, latency histogram, own CPU
 *   close                  close everything and exit
 *
 * Receive cost is kept low on purpose and equal for every peer (bench/lib/clients.ts: find the
 * stamp, count), so that the generator, not the server, is the last thing to saturate.
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
  | { type: "unstall" }
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
  /** How the stalled clients' connections ended, by close code (e.g. {"4001": 3}). */
  stalledCloses: Record<string, number>;
  /** Data frames received and their bytes on the wire (for bytes per frame). */
  frames: number;
  frameBytes: number;
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
/** Close codes of the stalled clients, by code. */
let stalledCloses: Record<string, number> = {};
let foreignSymbols = 0;
let frameBytes = 0;
let frames = 0;
/** preciseNow() at the last reset: a frame stamped before it (a warm-up's last) is not the window's. */
let resetAt = Number.NEGATIVE_INFINITY;

/** The symbols client `index` (global numbering) watches: a fixed, overlapping selection. */
export function watchlist(universe: string[], perClient: number, index: number): string[] {
  return Array.from({ length: perClient }, (_, k) => universe[(index * 7 + k) % universe.length] as string);
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
            onFrame: (frame) => {
              counts[index] = (counts[index] ?? 0) + 1;
              // Conflated frames carry no publish stamp; check they hold only this client's symbols.
              const parsed = JSON.parse(frame.toString()) as { symbols: Record<string, unknown> };
              for (const symbol of Object.keys(parsed.symbols)) if (!watched.has(symbol)) foreignSymbols++;
            },
          },
          onData: (stamp, bytes) => {
            // A stalled client's backlog, read after the run, is not the measured population.
            if (index < stalled) return;
            if (stamp < resetAt) return;
            counts[index] = (counts[index] ?? 0) + 1;
            frames++;
            frameBytes += bytes;
            if (!Number.isNaN(stamp)) histogram.record(preciseNow() - stamp);
          },
          onClose: (code) => {
            closedByServer++;
            if (index < stalled) stalledCloses[code] = (stalledCloses[code] ?? 0) + 1;
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
    stalledCloses,
    foreignSymbols,
    frames,
    frameBytes,
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
      resetAt = preciseNow();
      counts.fill(0);
      histogram = new LatencyHistogram();
      cpuAtReset = process.cpuUsage();
      closedByServer = 0;
      stalledCloses = {};
      foreignSymbols = 0;
      frames = 0;
      frameBytes = 0;
      process.send?.({ type: "reset-done" });
      break;
    case "stall":
      stalled = Math.min(command.count, clients.length);
      for (const client of clients.slice(0, stalled)) client.pause();
      process.send?.({ type: "stalled", count: stalled });
      break;
    case "unstall":
      for (const client of clients.slice(0, stalled)) client.resume();
      process.send?.({ type: "unstalled" });
      break;
    case "report":
      process.send?.({ type: "report", report: report() });
      break;
    case "close":
      for (const client of clients) client?.close();
      process.exit(0);
  }
});
