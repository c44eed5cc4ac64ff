/**
 * The "Latency: the gateway's hop and the end-to-end tail" section: of docs/benchmarks/latency.md
 * (written by `npm run bench:latency`, bench/latency.ts) and of BENCHMARKS.md (when `npm run bench`
 * runs it). Per step, every run's external p99 for the gateway and nats-server's WebSocket listener
 * side by side, the gateway's own hop percentiles from its /metrics over the same run's window, its
 * GC, and the verdicts against issue #21's targets, every one computed from the runs on this page.
 */
import path from "node:path";
import type { StagePercentiles } from "./gateway-window.js";
import { BENCH_ROOT, BENCHMARKS_FILE, replaceSection } from "./markdown-section.js";
import type { BenchRunHeader } from "./report-format.js";
import type { RunResult } from "./run-one.js";

const PAGE = path.join(BENCH_ROOT, "docs/benchmarks/latency.md");
const HEADING = "## Latency: the gateway's hop and the end-to-end tail";

export const LATENCY_PEERS = ["gateway", "nats-ws"] as const;
export type LatencyPeer = (typeof LATENCY_PEERS)[number];

/** Every pause of the gateway's garbage collector in the run's window (`--gc-trace`). */
export interface GcTrace {
  pauses: number;
  totalMs: number;
  maxMs: number;
  /** Time in pauses longer than 1 ms: the ones a 1 ms hop target notices. */
  over1msTotalMs: number;
}

export interface LatencyRun extends RunResult {
  /** The machine's 1-minute load average when the run began (2 cores: above 2, others were running). */
  loadAverage: number;
  gcTrace?: GcTrace;
}

/** A step's targets (issue #21), as medians over its runs. */
export interface LatencyTargets {
  hopP99Ms: number;
  /** The gateway's end-to-end p99 over nats-server's: the median of the runs' ratios at most this. */
  p99Ratio: number;
  /** And no run's ratio above this (only where the issue asks for it). */
  maxRunP99Ratio?: number;
}

export interface LatencyStep {
  id: string;
  title: string;
  clients: number;
  ratePerSecond: number;
  frameBytes: number;
  targets: LatencyTargets;
  /** Run i of each peer was measured in round i (the peers take turns). */
  runs: Record<LatencyPeer, LatencyRun[]>;
}

export interface LatencyResults extends BenchRunHeader {
  windowSeconds: number;
  /** Seconds of publishing before each run's window, not measured (absent: none, before it existed). */
  warmupSeconds?: number;
  gcTrace: boolean;
  steps: LatencyStep[];
}

const ms = (value: number | undefined) => {
  if (value === undefined) return "-";
  const size = Math.abs(value);
  return `${value.toFixed(size >= 100 ? 0 : size >= 1 ? 1 : 2)} ms`;
};
/** Spreads are compared with each other: one decimal always, so that two close ones read apart. */
const spreadMs = (value: number | undefined) => (value === undefined ? "-" : `${value.toFixed(1)} ms`);
const ratio = (value: number | undefined) => (value === undefined ? "?" : `${value.toFixed(2)}x`);
const count = (value: number) => Math.round(value).toLocaleString("en");
const pct = (value: number | undefined) => (value === undefined ? "-" : `${value.toFixed(0)}%`);
const verdict = (met: boolean | undefined) =>
  met === undefined ? "not measured" : met ? "**met**" : "**not met**";
const cpu = (run: RunResult) => run.serverCpuPercent.user + run.serverCpuPercent.system;
const spread = (values: number[]) =>
  values.length > 0 ? Math.max(...values) - Math.min(...values) : undefined;
/** The middle value, or the mean of the two middle values of an even count. */
function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1
    ? (sorted[middle] as number)
    : ((sorted[middle - 1] as number) + (sorted[middle] as number)) / 2;
}
const medianOf = (values: (number | undefined)[]) => {
  const known = values.filter((value): value is number => value !== undefined);
  return known.length > 0 ? median(known) : undefined;
};

/** The p99 ratio gateway / nats-ws of each round (both peers measured in it). */
function roundRatios(step: LatencyStep): number[] {
  const rounds = Math.min(step.runs.gateway.length, step.runs["nats-ws"].length);
  return Array.from({ length: rounds }, (_, round) => {
    const gateway = step.runs.gateway[round] as LatencyRun;
    const nats = step.runs["nats-ws"][round] as LatencyRun;
    return gateway.latencyMs.p99 / nats.latencyMs.p99;
  });
}

const hop = (run: LatencyRun): StagePercentiles | undefined => run.gateway?.hopMs;

/** Socket writes per flush and the cost of one write (µs) in a run's window, from /metrics. */
function flushCost(run: LatencyRun): { writesPerFlush: number; microsPerWrite: number } | undefined {
  const window = run.gateway;
  const flushes = window?.flushMs?.count;
  if (!window?.socketWrites || !flushes || window.flushTotalMs === undefined) return undefined;
  return {
    writesPerFlush: window.socketWrites / flushes,
    microsPerWrite: (window.flushTotalMs * 1000) / window.socketWrites,
  };
}

function flushText(run: LatencyRun | undefined): string {
  const flush = run?.gateway?.flushMs;
  const cost = run && flushCost(run);
  if (!flush || !cost) return "-";
  return `${ms(flush.p50)}, ${ms(flush.p99)} (${cost.writesPerFlush.toFixed(0)}); ${cost.microsPerWrite.toFixed(1)} µs`;
}

function gcText(run: LatencyRun): string {
  const gc = run.gateway?.gc;
  if (!gc) return "-";
  const major = gc.byKind.major?.pauses ?? 0;
  return `${gc.pauses} (${major} major), ${ms(gc.totalMs)}; ${gc.over1ms} > 1 ms, ${gc.over10ms} > 10 ms`;
}

function flags(run: LatencyRun): string {
  const notes: string[] = [];
  if (run.generatorLimited) notes.push("generator-limited");
  if (run.lost > 0) notes.push(`lost ${count(run.lost)}`);
  if (run.connectFailures > 0) notes.push(`${run.connectFailures} connect failures`);
  if (sharedCore(run))
    notes.push(`core shared: CPU 0 ${pct(run.serverCorePercent)} busy, the server ${pct(cpu(run))}`);
  return notes.join(", ");
}

function runsTable(step: LatencyStep, gcTrace: boolean): string[] {
  const rounds = Math.max(step.runs.gateway.length, step.runs["nats-ws"].length);
  const ratios = roundRatios(step);
  const rows = Array.from({ length: rounds }, (_, round) => {
    const gateway = step.runs.gateway[round];
    const nats = step.runs["nats-ws"][round];
    const gatewayHop = gateway && hop(gateway);
    const trace = gateway?.gcTrace;
    const traceCell = gcTrace
      ? ` ${trace ? `${trace.pauses}, ${ms(trace.totalMs)}, longest ${ms(trace.maxMs)}, ${ms(trace.over1msTotalMs)} in pauses > 1 ms` : "-"} |`
      : "";
    const notes = [
      gateway && flags(gateway) && `gateway: ${flags(gateway)}`,
      nats && flags(nats) && `nats-ws: ${flags(nats)}`,
    ]
      .filter(Boolean)
      .join("; ");
    return `| ${round + 1} | ${ms(gateway?.latencyMs.p50)} | ${ms(gateway?.latencyMs.p99)} | ${ms(nats?.latencyMs.p50)} | ${ms(nats?.latencyMs.p99)} | ${ratio(ratios[round])} | ${ms(gatewayHop?.p50)} | ${ms(gatewayHop?.p99)} | ${ms(gatewayHop?.p999)}${gatewayHop ? ` (${count(gatewayHop.count)})` : ""} | ${ms(gateway?.gateway?.queueMs?.p99)} | ${flushText(gateway)} | ${gateway ? gcText(gateway) : "-"} |${traceCell} ${gateway ? pct(cpu(gateway)) : "-"} | ${nats ? pct(cpu(nats)) : "-"} | ${gateway ? pct(gateway.loadCorePercent) : "-"}, ${nats ? pct(nats.loadCorePercent) : "-"} | ${gateway ? pct(gateway.serverCorePercent) : "-"}, ${nats ? pct(nats.serverCorePercent) : "-"} | ${notes || "-"} |`;
  });
  const gatewayP99 = step.runs.gateway.map((run) => run.latencyMs.p99);
  const natsP99 = step.runs["nats-ws"].map((run) => run.latencyMs.p99);
  const hopP99 = step.runs.gateway.map((run) => hop(run)?.p99);
  const knownHopP99 = hopP99.filter((value): value is number => value !== undefined);
  const empty = gcTrace ? " - |" : "";
  const summary = [
    `| median | ${ms(medianOf(step.runs.gateway.map((run) => run.latencyMs.p50)))} | ${ms(medianOf(gatewayP99))} | ${ms(medianOf(step.runs["nats-ws"].map((run) => run.latencyMs.p50)))} | ${ms(medianOf(natsP99))} | ${ratio(medianOf(ratios))} | ${ms(medianOf(step.runs.gateway.map((run) => hop(run)?.p50)))} | ${ms(medianOf(hopP99))} | ${ms(medianOf(step.runs.gateway.map((run) => hop(run)?.p999)))} | ${ms(medianOf(step.runs.gateway.map((run) => run.gateway?.queueMs?.p99)))} | ${medianFlushText(step)} | - |${empty} ${pct(medianOf(step.runs.gateway.map(cpu)) ?? 0)} | ${pct(medianOf(step.runs["nats-ws"].map(cpu)) ?? 0)} | - | - | - |`,
    `| spread (max - min) | - | ${spreadMs(spread(gatewayP99))} | - | ${spreadMs(spread(natsP99))} | ${ratio(spread(ratios))} | - | ${spreadMs(knownHopP99.length === hopP99.length ? spread(knownHopP99) : undefined)} | - | - | - | - |${empty} - | - | - | - | - |`,
  ];
  return [
    `| Run | gateway p50 | gateway p99 | nats-ws p50 | nats-ws p99 | p99 ratio gateway / nats-ws | gateway hop p50 | hop p99 | hop p99.9 (frames) | queue p99 | socket flush p50, p99 (writes per flush); per socket write | gateway GC in the window (/metrics): pauses, total; long pauses |${gcTrace ? " GC trace: pauses, total, longest |" : ""} gateway CPU | nats-server CPU (nats-ws) | CPU 1 busy (load core), gateway run and nats-ws run | CPU 0 busy (server core), gateway run and nats-ws run | notes |`,
    `|${" --- |".repeat(gcTrace ? 18 : 17)}`,
    ...rows,
    ...summary,
  ];
}

function medianFlushText(step: LatencyStep): string {
  const costs = step.runs.gateway.map(flushCost);
  const writes = medianOf(costs.map((cost) => cost?.writesPerFlush));
  const micros = medianOf(costs.map((cost) => cost?.microsPerWrite));
  if (writes === undefined || micros === undefined) return "-";
  return `${ms(medianOf(step.runs.gateway.map((run) => run.gateway?.flushMs?.p50)))}, ${ms(medianOf(step.runs.gateway.map((run) => run.gateway?.flushMs?.p99)))} (${writes.toFixed(0)}); ${micros.toFixed(1)} µs`;
}

/**
 * Where the hop goes: the part of it a flush's own writes take. A frame is timed at the end of the
 * flush that wrote it to every client, so no frame's hop is shorter than writing the step's
 * clients one socket at a time: clients x the measured cost of one socket write.
 */
function flushFloorNote(step: LatencyStep): string {
  const label = `${count(step.clients)} x ${step.ratePerSecond}`;
  const micros = medianOf(step.runs.gateway.map((run) => flushCost(run)?.microsPerWrite));
  const hopP50 = medianOf(step.runs.gateway.map((run) => hop(run)?.p50));
  const flushP50 = medianOf(step.runs.gateway.map((run) => run.gateway?.flushMs?.p50));
  if (micros === undefined || hopP50 === undefined || flushP50 === undefined)
    return `- ${label}: not measured (the gateway's /metrics had no gateway_socket_flush_seconds).`;
  const floorMs = (step.clients * micros) / 1000;
  const target = step.targets.hopP99Ms;
  return `- ${label}: one socket write cost ${micros.toFixed(1)} µs (median of the runs: the flushes' total time over their socket writes), so writing ${count(step.clients)} clients takes ${ms(floorMs)}: ${floorMs > target ? `more than the ${target} ms hop target before any other stage,` : `within the ${target} ms hop target,`} and the median flush took ${ms(flushP50)} of a median hop of ${ms(hopP50)}.`;
}

interface StepVerdicts {
  hopP99: number | undefined;
  medianRatio: number | undefined;
  maxRatio: number | undefined;
  gatewaySpread: number | undefined;
  natsSpread: number | undefined;
  rows: string[];
}

function stepVerdicts(step: LatencyStep): StepVerdicts {
  const { targets } = step;
  const ratios = roundRatios(step);
  const hopP99s = step.runs.gateway.map((run) => hop(run)?.p99);
  const hopP99 = hopP99s.some((value) => value === undefined) ? undefined : medianOf(hopP99s);
  const medianRatio = medianOf(ratios);
  const maxRatio = ratios.length > 0 ? Math.max(...ratios) : undefined;
  const gatewaySpread = spread(step.runs.gateway.map((run) => run.latencyMs.p99));
  const natsSpread = spread(step.runs["nats-ws"].map((run) => run.latencyMs.p99));
  const limited = [...step.runs.gateway, ...step.runs["nats-ws"]].filter(
    (run) => run.generatorLimited,
  ).length;
  const limitedNote = limited
    ? ` (${limited} of the step's runs generator-limited: the load core was saturated, so the external p99 includes the clients' own delay)`
    : "";
  const label = `${count(step.clients)} x ${step.ratePerSecond}`;
  const rows = [
    `| ${label}: gateway hop p99 <= ${targets.hopP99Ms} ms (median of ${step.runs.gateway.length}) | ${hopP99s.map(ms).join(", ")}: median ${ms(hopP99)}${hopP99 === undefined ? " (the gateway's /metrics had no gateway_ingest_to_write_seconds for the channel in some run)" : ""} | ${verdict(hopP99 === undefined ? undefined : hopP99 <= targets.hopP99Ms)} |`,
    `| ${label}: end-to-end p99 <= ${targets.p99Ratio.toFixed(1)}x nats-server's (median of the runs' ratios${targets.maxRunP99Ratio ? `), no run above ${targets.maxRunP99Ratio.toFixed(1)}x` : ")"} | ratios ${ratios.map(ratio).join(", ")}: median ${ratio(medianRatio)}${targets.maxRunP99Ratio ? `, highest ${ratio(maxRatio)}` : ""}${limitedNote} | ${verdict(medianRatio === undefined ? undefined : medianRatio <= targets.p99Ratio && (targets.maxRunP99Ratio === undefined || (maxRatio as number) <= targets.maxRunP99Ratio))} |`,
    `| ${label}: spread of p99 across runs no wider than nats-server's | gateway ${spreadMs(gatewaySpread)} (${ms(Math.min(...step.runs.gateway.map((run) => run.latencyMs.p99)))} to ${ms(Math.max(...step.runs.gateway.map((run) => run.latencyMs.p99)))}), nats-ws ${spreadMs(natsSpread)} (${ms(Math.min(...step.runs["nats-ws"].map((run) => run.latencyMs.p99)))} to ${ms(Math.max(...step.runs["nats-ws"].map((run) => run.latencyMs.p99)))}) | ${verdict(gatewaySpread === undefined || natsSpread === undefined ? undefined : gatewaySpread <= natsSpread)} |`,
  ];
  return { hopP99, medianRatio, maxRatio, gatewaySpread, natsSpread, rows };
}

/**
 * What the path through the gateway adds, read at the median: the gateway's end-to-end p50 minus
 * nats-ws's, which holds the extra broker hop (nats-server writing to the gateway over loopback,
 * the NATS client reading it) and the gateway's own work, less what nats-server's own WebSocket
 * delivery takes. The hop histogram cannot be subtracted from it (the note says why).
 */
function brokerHopNote(step: LatencyStep): string {
  const rounds = Math.min(step.runs.gateway.length, step.runs["nats-ws"].length);
  const added = Array.from(
    { length: rounds },
    (_, round) =>
      (step.runs.gateway[round] as LatencyRun).latencyMs.p50 -
      (step.runs["nats-ws"][round] as LatencyRun).latencyMs.p50,
  );
  const addedP50 = medianOf(added);
  const hopP50 = medianOf(step.runs.gateway.map((run) => hop(run)?.p50));
  const label = `${count(step.clients)} x ${step.ratePerSecond}`;
  if (addedP50 === undefined) return `- ${label}: not measured.`;
  const bound =
    addedP50 >= 0
      ? "the extra broker hop and the gateway's own work together cost at most that at the median"
      : "the path through the gateway, extra broker hop included, was faster at the median than nats-server delivering to its WebSocket clients itself";
  const hopText =
    hopP50 === undefined
      ? ""
      : ` The gateway's hop p50 (${ms(hopP50)}) cannot split it further: it times each frame at the end of the flush that wrote it to all its clients, while a client's latency ends at its own write.`;
  return `- ${label}: the gateway's end-to-end p50 is ${ms(Math.abs(addedP50))} ${addedP50 >= 0 ? "above" : "below"} nats-ws's (median of the runs' differences, gateway minus nats-ws: ${added.map(ms).join(", ")}): ${bound}.${hopText}`;
}

/** The command began with the machine busier than this (1-minute load average, 2 cores): others were running. */
const BUSY_LOAD_AVERAGE = 2;
/**
 * CPU 0 busier than the server's own share by more than this (percentage points): other processes
 * ran on the server's core (as in bench/lib/books-report.ts; the kernel's loopback work alone is
 * about 10 points). The load average cannot tell this once the benchmark runs: its own processes
 * keep both cores busy.
 */
const SHARED_CORE_POINTS = 20;
const sharedCore = (run: LatencyRun) =>
  run.serverCorePercent !== undefined && run.serverCorePercent - cpu(run) > SHARED_CORE_POINTS;

/** A warning at the top of the section when the machine was shared, or the load generator saturated. */
function busyWarning(results: LatencyResults): string[] {
  const runs = results.steps.flatMap((step) => [...step.runs.gateway, ...step.runs["nats-ws"]]);
  const shared = runs.filter(sharedCore).length;
  const limited = runs.filter((run) => run.generatorLimited).length;
  const busyStart = results.loadAverage > BUSY_LOAD_AVERAGE;
  if (shared === 0 && limited === 0 && !busyStart) return [];
  return [
    `**Not a quiet run: ${busyStart ? `the load average was ${results.loadAverage.toFixed(1)} when it began; ` : ""}${shared} of its ${runs.length} runs had their server's core shared (CPU 0 more than ${SHARED_CORE_POINTS} points busier than the server), ${limited} were generator-limited. Its figures say more about the machine than about the servers; rerun \`npm run bench:latency\` on a quiet machine before reading the verdicts.**`,
    "",
  ];
}

export function latencySection(results: LatencyResults): string {
  const verdicts = results.steps.map((step) => ({ step, ...stepVerdicts(step) }));
  return [
    HEADING,
    "",
    `\`${results.command}\` (bench/latency.ts), ${results.at}, commit ${results.commit}, ${results.machine}; load average ${results.loadAverage.toFixed(1)} when it began (on 2 cores, a figure above 2 means other work was running on the machine).`,
    "",
    ...busyWarning(results),
    `- **Setup.** Two peers, as in the fan-out steps of BENCHMARKS.md and with the same harness (bench/lib/run-one.ts): **gateway** (\`tsx src/main.ts\` with the \`bench\` channel plugin, an immediate channel) and **nats-ws** (nats-server's own WebSocket listener). Each run has its own nats-server and server under test, the server under test alone on CPU 0 and everything else on CPU 1 (the load workers, the publisher, and for the gateway the broker nats-server). Every step is run ${Math.max(...results.steps.map((step) => step.runs.gateway.length))} times, the peers taking turns within each round, each run ${results.windowSeconds} s of publishing${results.warmupSeconds ? ` after ${results.warmupSeconds} s of publishing at the same rate that is not measured (a warm-up: the gateway's first full garbage collection, about 7 s after it starts, makes pauses of 30 to 45 ms in all within about 60 ms, and one or two of them, up to 20 ms, fell in the window of each run without one)` : ""}; frames are sized to ${results.steps[0]?.frameBytes ?? "?"} B for both peers from a calibration before each run.`,
    "- **Paths.** gateway: publisher -> nats-server -> gateway -> client; nats-ws: publisher -> nats-server -> client. The gateway's end-to-end latency therefore includes a broker hop that nats-ws's does not, and its broker shares CPU 1 with the load.",
    "- **End to end** (the external p50 and p99) is from each message's scheduled publish time to its receipt by the clients, over every frame of every client, as in BENCHMARKS.md.",
    "- **The gateway's hop** is its own `gateway_ingest_to_write_seconds` histogram for the bench channel (NATS receive to the socket write, one observation per frame per flush: a frame written to every client by one flush is one observation, timed at the end of that flush's writes), read from its `/metrics` scraped just before publishing began and just after the drain that follows it: the difference is that run's window and nothing else. *queue* is `gateway_queue_seconds` (queued for the sockets to written) the same way. Percentiles are interpolated within the histogram's buckets (50 µs, 100, 250, 500 µs, 1, 2.5, 5, 10 ms, ...) as Prometheus' histogram_quantile() does: a hop p99 of 1.8 ms says it is between 1 and 2.5 ms. The hop targets, 1 and 5 ms, are bucket bounds, so their verdicts do not depend on the interpolation: met means at most 1% of the window's frames took longer.",
    `- **GC** is the gateway's garbage collection in the same window, from its \`nodejs_gc_duration_seconds\` (prom-client, observed through perf_hooks; pause lengths only to its buckets of 1, 10 and 100 ms).${results.gcTrace ? " *GC trace* (`--gc-trace`) records every pause exactly, with its time, through a module preloaded into the gateway (bench/lib/gc-pauses-preload.mjs), and counts those inside the window." : " `--gc-trace` adds every pause's exact length (bench/lib/gc-pauses-preload.mjs)."} Set beside the p99 of each run, it shows whether the tail follows the collector.`,
    "- **Verdicts** are computed from the runs on this page: the gateway's hop p99 as the median of its runs, the end-to-end p99 as the median of each round's ratio gateway / nats-ws, and the spread as the largest minus the smallest p99 of a peer's runs.",
    "",
    ...verdicts.flatMap(({ step }) => [
      `### ${step.id}: ${step.title}`,
      "",
      ...runsTable(step, results.gcTrace),
      "",
    ]),
    "### Targets",
    "",
    "| Target | Measured | Verdict |",
    "| --- | --- | --- |",
    ...verdicts.flatMap(({ rows }) => rows),
    "",
    "### Where the hop goes",
    "",
    "The queue stage (queued to written) is nearly the whole hop in every run above. Most of it is the flush itself: one event loop writes each client's socket in turn, and a frame is timed when the last of them is written.",
    "",
    ...results.steps.map(flushFloorNote),
    "",
    "### What the extra broker hop costs",
    "",
    ...results.steps.map(brokerHopNote),
    "",
  ].join("\n");
}

/**
 * Replace (or add) the section in docs/benchmarks/latency.md and in BENCHMARKS.md, leaving anything
 * else on either page (a full `npm run bench` rewrites BENCHMARKS.md whole, with this section in it).
 */
export function writeLatencyPage(results: LatencyResults): void {
  const section = latencySection(results);
  replaceSection(
    PAGE,
    HEADING,
    section,
    "# Benchmarks: latency\n\nSee BENCHMARKS.md for how the benchmarks are run; this page is written by its own command, `npm run bench:latency`.\n",
  );
  replaceSection(BENCHMARKS_FILE, HEADING, section, "# Benchmarks\n");
}
