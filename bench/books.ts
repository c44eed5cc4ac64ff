/**
 * `npm run bench:books`: the order_books state channel under load. 1,000 clients, each subscribed
 * to the books of the demo's 6 symbols, with upstream at a delta every 50 ms per symbol plus the
 * periodic snapshots (bench/load/books-publisher.ts, the demo's simulated books). Two runs, each
 * with its own nats-server and gateway: immediate (no interval_ms: one update per change) and
 * interval_ms 100 (one update per changed book per 100 ms).
 *
 * Per run: update latency (from the scheduled publish time the frames carry), gateway CPU, frames
 * and bytes per client per second, and the bytes a full-book resend would have cost for the same
 * changes; every client's chain is checked throughout (bench/load/books-worker.ts). Targets: p99
 * under 50 ms in the immediate run, bytes at most a fifth of the full-book resend.
 *
 * Options: --clients=N (try the harness quickly; the figures reported are for 1,000), --window=S
 * (measurement window), --modes=immediate,... (only these runs, by name), --no-report (leave docs/benchmarks/books.md and BENCHMARKS.md alone).
 * Results: the "Order books" section of docs/benchmarks/books.md and of BENCHMARKS.md (replaced in place).
 */
import os from "node:os";
import path from "node:path";
import { BOOKS_P99_TARGET_MS, type BooksResults, type BooksRun, writeBooksPage } from "./lib/books-report.js";
import { coreBusyPercent, coreSample, LOAD_CPU, pinSelfToLoadCore, SERVER_CPU } from "./lib/cpu-pinning.js";
import { gatewayWindow, scrapeMetrics } from "./lib/gateway-window.js";
import { LatencyHistogram } from "./lib/histogram.js";
import { forkIpcChild, type IpcChild } from "./lib/ipc-child.js";
import { cpuPercent, cpuSample, rssBytes } from "./lib/proc-stats.js";
import { startTarget } from "./lib/targets.js";
import { BOOK_DEPTH, type BooksPublisherCommand, type BooksPublisherReport } from "./load/books-publisher.js";
import type { BooksWorkerCommand, BooksWorkerReport } from "./load/books-worker.js";
import { startNatsServer } from "./peers/nats-websocket.js";
import { headCommit, machineDescription } from "./storm.js";

const HERE = path.dirname(new URL(import.meta.url).pathname);
const argument = (name: string) =>
  process.argv.find((candidate) => candidate.startsWith(`--${name}=`))?.slice(name.length + 3);

const CLIENTS = Number(argument("clients") ?? 1000);
const WORKERS = 4;
/** The demo's rates (src/demo/simulated-books.ts defaults): 20 steps a second, a snapshot every 5 s. */
const DELTA_MS = 50;
const SNAPSHOT_EVERY_MS = 5000;
/** After the last client subscribed: its snapshots are in and the first snapshot period has begun. */
const SETTLE_MS = 2000;
const WINDOW_MS = Number(argument("window") ?? 20) * 1000;
/** Load workers run at this niceness, as in bench/lib/run-one.ts. */
const WORKER_NICENESS = 10;
/** As bench/lib/run-one.ts: above this the load, not the gateway, was the bottleneck. */
const GENERATOR_SATURATION_PERCENT = 90;

export interface BooksMode {
  name: string;
  intervalMs?: number;
  /** Every book stepped on one tick (the demo's timer), not each on its own schedule. */
  inStep?: boolean;
}

/**
 * The two runs the targets are for, each book on its own schedule as independent upstream books
 * are, and the immediate run again with every book stepped on the same tick, for comparison: the
 * worst burst this load can make (every client owed every book at once).
 */
export const BOOKS_MODES: BooksMode[] = [
  { name: "immediate" },
  { name: "interval_ms 100", intervalMs: 100 },
  { name: "immediate in step", inStep: true },
];

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** gateway_state_events_total for order_books, by event, from the gateway's /metrics. */
async function stateEvents(wsUrl: string): Promise<Record<string, number>> {
  const text = await fetch(wsUrl.replace(/^ws/, "http").replace(/\/ws$/, "/metrics")).then(
    (response) => response.text(),
    () => "",
  );
  const events: Record<string, number> = {};
  for (const match of text.matchAll(
    /^gateway_state_events_total\{channel="order_books",event="(\w+)"\} (\d+)/gm,
  ))
    events[match[1] as string] = Number(match[2]);
  return events;
}

async function runMode(mode: BooksMode): Promise<BooksRun> {
  const loadAverage = os.loadavg()[0] as number;
  const nats = await startNatsServer({ withWebSocket: false });
  let target: Awaited<ReturnType<typeof startTarget>> | undefined;
  let publisher: IpcChild<BooksPublisherCommand> | undefined;
  const workers: IpcChild<BooksWorkerCommand>[] = [];
  try {
    target = await startTarget("gateway", { natsUrl: nats.url, benchPlugin: false });
    const url = target.url;
    // Upstream first: the books exist when the clients subscribe, so each starts with a snapshot.
    publisher = forkIpcChild<BooksPublisherCommand>(path.join(HERE, "load/books-publisher.ts"));
    const { symbols } = await publisher.ask<{ symbols: string[] }>(
      {
        type: "start",
        natsUrl: nats.url,
        deltaMs: DELTA_MS,
        snapshotEveryMs: SNAPSHOT_EVERY_MS,
        inStep: mode.inStep,
      },
      "started",
    );
    const perWorker = Math.ceil(CLIENTS / WORKERS);
    const connected = await Promise.all(
      Array.from({ length: WORKERS }, (_, index) => {
        const worker = forkIpcChild<BooksWorkerCommand>(path.join(HERE, "load/books-worker.ts"), {
          niceness: WORKER_NICENESS,
        });
        workers.push(worker);
        return worker.ask<{ ms: number; failures: string[] }>(
          {
            type: "connect",
            url,
            count: Math.max(0, Math.min(perWorker, CLIENTS - index * perWorker)),
            localAddress: `127.0.0.${2 + index}`,
            symbols,
            intervalMs: mode.intervalMs,
          },
          "connected",
        );
      }),
    );
    const failures = connected.flatMap((reply) => reply.failures);
    if (failures.length > 0)
      console.log(`    ${failures.length} clients failed to subscribe: ${failures[0]}`);
    await sleep(SETTLE_MS);

    const counting = [publisher, ...workers].map((child) => child.ask({ type: "window" }, "window-open"));
    await Promise.all(counting);
    // The gateway's own figures over the window: scraped just outside it, so the scrape's cost is not in it.
    const metricsBefore = await scrapeMetrics(url);
    const cpuBefore = cpuSample(target.pid);
    const loadBefore = coreSample(LOAD_CPU);
    const serverBefore = coreSample(SERVER_CPU);
    await sleep(WINDOW_MS);
    const cpuAfter = cpuSample(target.pid);
    const metricsAfter = await scrapeMetrics(url);
    const loadCorePercent = coreBusyPercent(loadBefore, coreSample(LOAD_CPU));
    // The gateway's core is shared with whatever else runs on the machine: this says how much.
    const serverCorePercent = coreBusyPercent(serverBefore, coreSample(SERVER_CPU));
    const rss = rssBytes(target.pid);
    const [upstreamReply, ...replies] = await Promise.all([
      publisher.ask<{ report: BooksPublisherReport }>({ type: "report" }, "report"),
      ...workers.map((worker) => worker.ask<{ report: BooksWorkerReport }>({ type: "report" }, "report")),
    ]);
    const events = await stateEvents(url);
    const upstream = (upstreamReply as { report: BooksPublisherReport }).report;
    const reports = replies.map((reply) => (reply as { report: BooksWorkerReport }).report);

    const seconds = (cpuAfter.at - cpuBefore.at) / 1000;
    const upstreamSeconds = upstream.windowMs / 1000;
    const histogram = new LatencyHistogram();
    for (const report of reports) histogram.merge(report.histogram);
    const sum = (figure: (report: BooksWorkerReport) => number) =>
      reports.reduce((total, report) => total + figure(report), 0);
    const clients = sum((report) => report.clients);
    const perClientPerSecond = (value: number) => value / Math.max(1, clients) / seconds;
    const snapshotCount = sum((report) => report.subscribeSnapshots.count);
    const snapshotMean = sum((report) => report.subscribeSnapshots.bytes) / Math.max(1, snapshotCount);
    // Every client has every symbol: its full-book resend is every symbol's view changes, each a snapshot.
    const viewChangesPerSymbol = upstream.viewChanges / symbols.length / upstreamSeconds;
    const fullResendBytesPerSecond = viewChangesPerSymbol * symbols.length * snapshotMean;
    const bytesPerSecond = perClientPerSecond(sum((report) => report.bytes));
    const busiestWorkerPercent = Math.max(
      ...reports.map((report) => ((report.cpuUserMs + report.cpuSystemMs) / 1000 / seconds) * 100),
    );
    return {
      mode: mode.name,
      intervalMs: mode.intervalMs,
      inStep: mode.inStep === true,
      clients,
      symbols,
      windowSeconds: seconds,
      connectMs: Math.max(...connected.map((reply) => reply.ms)),
      connectFailures: failures.length,
      upstream: {
        deltasPerSecond: upstream.deltas / symbols.length / upstreamSeconds,
        snapshotsPerSecond: upstream.snapshots / symbols.length / upstreamSeconds,
        viewChangesPerSecond: viewChangesPerSymbol,
        publisherMaxLagMs: upstream.maxLagMs,
      },
      latencyMs: {
        p50: histogram.percentile(0.5),
        p99: histogram.percentile(0.99),
        p999: histogram.percentile(0.999),
        max: histogram.max / 1000,
        samples: histogram.count,
      },
      gatewayCpuPercent: cpuPercent(cpuBefore, cpuAfter),
      gatewayRssBytes: rss,
      perClient: {
        framesPerSecond: perClientPerSecond(sum((report) => report.frames)),
        updatesPerSecond: perClientPerSecond(sum((report) => report.updates)),
        bytesPerSecond,
        minBytesPerSecond: Math.min(...reports.map((report) => report.minBytesPerClient)) / seconds,
        maxBytesPerSecond: Math.max(...reports.map((report) => report.maxBytesPerClient)) / seconds,
        minFramesPerSecond: Math.min(...reports.map((report) => report.minFramesPerClient)) / seconds,
        maxFramesPerSecond: Math.max(...reports.map((report) => report.maxFramesPerClient)) / seconds,
        otherFramesPerSecond: perClientPerSecond(sum((report) => report.otherFrames)),
        updateFrameBytes:
          sum((report) => report.updateBytes) /
          Math.max(
            1,
            sum((report) => report.updates),
          ),
        levelsPerUpdate:
          sum((report) => report.sampledUpdateLevels) /
          Math.max(
            1,
            sum((report) => report.sampledUpdates),
          ),
      },
      snapshotFrameBytes: {
        mean: snapshotMean,
        min: Math.min(...reports.map((report) => report.subscribeSnapshots.minBytes)),
        max: Math.max(...reports.map((report) => report.subscribeSnapshots.maxBytes)),
        count: snapshotCount,
      },
      fullResendBytesPerSecond,
      bytesVsFullResend: bytesPerSecond / fullResendBytesPerSecond,
      checks: {
        chainChecked: sum((report) => report.chainChecked),
        chainViolations: sum((report) => report.chainViolations),
        firstViolation: reports.find((report) => report.firstViolation)?.firstViolation,
        foreignSymbols: sum((report) => report.foreignSymbols),
        staleFrames: sum((report) => report.staleTotal),
        clientsWithoutEverySnapshot: sum((report) => report.clientsWithoutEverySnapshot),
        checksumClients: reports.filter((report) => report.checksumsChecked > 0).length,
        checksumsChecked: sum((report) => report.checksumsChecked),
        checksumMismatches: sum((report) => report.checksumMismatches),
        closedByServer: sum((report) => report.closedByServer),
        gatewayGaps: events.gap ?? 0,
        gatewayResyncs: events.resync ?? 0,
      },
      gateway: gatewayWindow(metricsBefore, metricsAfter, "order_books"),
      loadCorePercent,
      serverCorePercent,
      busiestWorkerPercent,
      generatorLimited:
        loadCorePercent > GENERATOR_SATURATION_PERCENT || busiestWorkerPercent > GENERATOR_SATURATION_PERCENT,
      loadAverage,
    };
  } finally {
    // Every process started here is stopped here, by its own handle, whatever happened.
    for (const worker of workers) await worker.close({ type: "close" });
    await publisher?.close({ type: "close" });
    await target?.stop();
    await nats.stop();
  }
}

export async function runBooks(
  command = `npm run bench:books${process.argv.length > 2 ? ` -- ${process.argv.slice(2).join(" ")}` : ""}`,
): Promise<BooksResults> {
  const results: BooksResults = {
    at: new Date().toISOString(),
    machine: machineDescription(),
    commit: headCommit(),
    loadAverage: os.loadavg()[0] as number,
    command,
    settings: {
      clients: CLIENTS,
      workers: WORKERS,
      symbols: [],
      deltaMs: DELTA_MS,
      snapshotEveryMs: SNAPSHOT_EVERY_MS,
      depth: BOOK_DEPTH,
      settleSeconds: SETTLE_MS / 1000,
      windowSeconds: WINDOW_MS / 1000,
    },
    runs: [],
  };
  const only = argument("modes")?.split(",");
  for (const mode of BOOKS_MODES.filter((candidate) => !only || only.includes(candidate.name))) {
    const started = Date.now();
    process.stdout.write(`  ${mode.name.padEnd(26)} `);
    const run = await runMode(mode);
    results.runs.push(run);
    results.settings.symbols = run.symbols;
    console.log(
      `p50 ${run.latencyMs.p50.toFixed(1)} ms, p99 ${run.latencyMs.p99.toFixed(1)} ms, gateway hop p50 ${run.gateway?.hopMs?.p50.toFixed(1) ?? "-"} p99 ${run.gateway?.hopMs?.p99.toFixed(1) ?? "-"} ms, flush p50 ${run.gateway?.flushMs?.p50.toFixed(1) ?? "-"} ms, gc ${run.gateway?.gc?.pauses ?? "-"} pauses ${run.gateway?.gc?.totalMs.toFixed(0) ?? "-"} ms, gateway cpu ${(run.gatewayCpuPercent.user + run.gatewayCpuPercent.system).toFixed(0)}%, ` +
        `per client ${run.perClient.framesPerSecond.toFixed(1)} frames/s ${(run.perClient.bytesPerSecond / 1024).toFixed(1)} KB/s ` +
        `(full-book resend ${(run.fullResendBytesPerSecond / 1024).toFixed(1)} KB/s, 1/${(1 / run.bytesVsFullResend).toFixed(1)}), ` +
        `chain violations ${run.checks.chainViolations}/${run.checks.chainChecked}, checksum mismatches ${run.checks.checksumMismatches}/${run.checks.checksumsChecked}, ` +
        `update ${run.perClient.updateFrameBytes.toFixed(0)} B (${run.perClient.levelsPerUpdate.toFixed(1)} levels), snapshot ${run.snapshotFrameBytes.mean.toFixed(0)} B, ` +
        `cpu0 ${run.serverCorePercent.toFixed(0)}% cpu1 ${run.loadCorePercent.toFixed(0)}% load ${run.loadAverage.toFixed(1)}, publisher lag ${run.upstream.publisherMaxLagMs.toFixed(0)} ms${run.generatorLimited ? " [GENERATOR-LIMITED]" : ""} (${((Date.now() - started) / 1000).toFixed(0)} s)`,
    );
  }
  return results;
}

async function main(): Promise<void> {
  pinSelfToLoadCore();
  const started = Date.now();
  console.log(
    `order books: ${CLIENTS} clients over ${WORKERS} workers, a delta every ${DELTA_MS} ms per symbol, ${WINDOW_MS / 1000} s windows; target p99 < ${BOOKS_P99_TARGET_MS} ms (immediate); on ${machineDescription()}, load ${os.loadavg()[0]?.toFixed(1)}`,
  );
  const results = await runBooks();
  console.log(`done (${((Date.now() - started) / 1000).toFixed(0)} s)`);
  if (!process.argv.includes("--no-report")) {
    writeBooksPage(results);
    console.log("report: docs/benchmarks/books.md and the order-books section of BENCHMARKS.md");
  }
}

if (process.argv[1] && path.resolve(process.argv[1]) === path.resolve(new URL(import.meta.url).pathname)) {
  main().catch((error) => {
    console.error(error);
    process.exit(1);
  });
}
