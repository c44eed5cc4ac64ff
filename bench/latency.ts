/**
 * `npm run bench:latency`: the gateway's own hop beside the end-to-end tail (issue #21, "a hop you
 * can trust"). Two steps, 1,000 clients x 160 msg/s and, below saturation, 100 clients x 100 msg/s
 * (there the load generator is not the limit and the external p99 reflects the servers), 300 B
 * frames, each run RUNS times per peer, gateway and nats-ws taking turns (bench/lib/run-one.ts, as
 * `npm run bench` runs a fan-out step). For every gateway run the gateway's /metrics is scraped
 * before and after the window: its hop percentiles and GC for that run alone
 * (bench/lib/gateway-window.ts). Verdicts against the issue's targets, from these runs only.
 *
 * Options: --runs=N (rounds per step; default 5), --window=S (seconds of publishing per run;
 * default 5), --warmup=S (seconds of publishing before each window, not measured; default 5),
 * --clients=N (every step with N clients: to try the harness quickly; the targets are for the
 * steps' own counts), --only=<step id part>, --gc-trace (every GC pause of the gateway,
 * exactly: bench/lib/gc-pauses-preload.mjs), --no-report (leave docs/benchmarks/latency.md,
 * BENCHMARKS.md and bench/results alone).
 * Results: bench/results/latency-latest.json and the latency section of docs/benchmarks/latency.md
 * and BENCHMARKS.md (also written by `npm run bench`).
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { pinSelfToLoadCore } from "./lib/cpu-pinning.js";
import {
  type GcTrace,
  LATENCY_PEERS,
  type LatencyResults,
  type LatencyRun,
  type LatencyStep,
  type LatencyTargets,
  writeLatencyPage,
} from "./lib/latency-report.js";
import { runOne, type Scenario } from "./lib/run-one.js";
import { headCommit, machineDescription } from "./storm.js";

const HERE = path.dirname(new URL(import.meta.url).pathname);
const RESULTS_FILE = path.join(HERE, "results/latency-latest.json");
const GC_PRELOAD = pathToFileURL(path.join(HERE, "lib/gc-pauses-preload.mjs")).href;
const argument = (name: string) =>
  process.argv.find((candidate) => candidate.startsWith(`--${name}=`))?.slice(name.length + 3);

/** Rounds per step: the targets are medians of 5 runs. */
const DEFAULT_RUNS = 5;
/** Seconds of publishing per run, as the fan-out steps of `npm run bench`. */
const DEFAULT_WINDOW_SECONDS = 5;
/**
 * Seconds of publishing at the step's rate before each run's window, not measured (Scenario.warmupMs):
 * the gateway's first full garbage collection, about 7 s after it starts, landed in the window of
 * a run that began right after the clients connected and alone made the 100 x 100 hop p99.
 */
const DEFAULT_WARMUP_SECONDS = 5;
/** Bytes per frame, the same for both peers (the size BENCHMARKS.md's p99 comparison uses). */
const FRAME_BYTES = 300;
/** A GC pause longer than this is one a 1 ms hop target notices. */
const LONG_PAUSE_MS = 1;

interface StepPlan {
  clients: number;
  ratePerSecond: number;
  note: string;
  targets: LatencyTargets;
}

/** The steps and issue #21's targets for each. */
const STEPS: StepPlan[] = [
  {
    clients: 1000,
    ratePerSecond: 160,
    note: "the p99 comparison of BENCHMARKS.md",
    targets: { hopP99Ms: 5, p99Ratio: 1.0, maxRunP99Ratio: 1.5 },
  },
  {
    clients: 100,
    ratePerSecond: 100,
    note: "below saturation: the load generator is not the limit",
    targets: { hopP99Ms: 1, p99Ratio: 1.0 },
  },
];

export interface LatencyOptions {
  runs?: number;
  windowSeconds?: number;
  /** Seconds of publishing before each run's window (DEFAULT_WARMUP_SECONDS). */
  warmupSeconds?: number;
  /** Every step with this many clients (a quick try; the targets are for the steps' own counts). */
  clients?: number;
  only?: string;
  gcTrace?: boolean;
  command?: string;
}

function scenarioOf(plan: StepPlan, clients: number, windowSeconds: number, warmupSeconds: number): Scenario {
  return {
    id: `fanout-${clients}c-${plan.ratePerSecond}r-${FRAME_BYTES}b`,
    title: `immediate channel, ${clients.toLocaleString("en")} clients x ${plan.ratePerSecond} msg/s, ${FRAME_BYTES} B frames (${plan.note})`,
    clients,
    ratePerSecond: plan.ratePerSecond,
    payloadBytes: FRAME_BYTES,
    durationMs: windowSeconds * 1000,
    warmupMs: warmupSeconds * 1000,
    // Stopping comes after the measurement: no SIGTERM drain (12 s by default) to wait through.
    gatewayEnv: { SHUTDOWN_DRAIN_MS: "0" },
  };
}

/** The pauses the preload recorded that began inside the run's window. */
function readGcTrace(file: string, window: { start: number; end: number }): GcTrace | undefined {
  if (!existsSync(file)) return undefined;
  const pauses = (JSON.parse(readFileSync(file, "utf8")) as [number, number, number][]).filter(
    ([at]) => at >= window.start && at <= window.end,
  );
  return {
    pauses: pauses.length,
    totalMs: pauses.reduce((sum, [, duration]) => sum + duration, 0),
    maxMs: pauses.reduce((longest, [, duration]) => Math.max(longest, duration), 0),
    over1msTotalMs: pauses
      .filter(([, duration]) => duration > LONG_PAUSE_MS)
      .reduce((sum, [, duration]) => sum + duration, 0),
  };
}

/** One run of one peer; with `gcTrace`, the gateway runs with the GC preload (BENCH_NODE_ARGS). */
async function measure(
  scenario: Scenario,
  peer: (typeof LATENCY_PEERS)[number],
  gcTrace: boolean,
): Promise<LatencyRun> {
  const loadAverage = os.loadavg()[0] ?? 0;
  if (!gcTrace || peer !== "gateway") return { ...(await runOne(scenario, peer)), loadAverage };
  const folder = mkdtempSync(path.join(os.tmpdir(), "bench-gc-"));
  const file = path.join(folder, "pauses.json");
  const nodeArgs = process.env.BENCH_NODE_ARGS;
  process.env.BENCH_NODE_ARGS = [nodeArgs, `--import=${GC_PRELOAD}`].filter(Boolean).join(" ");
  process.env.BENCH_GC_PAUSES_FILE = file;
  try {
    const result = await runOne(scenario, peer);
    return { ...result, loadAverage, gcTrace: readGcTrace(file, result.windowMs) };
  } finally {
    if (nodeArgs === undefined) delete process.env.BENCH_NODE_ARGS;
    else process.env.BENCH_NODE_ARGS = nodeArgs;
    delete process.env.BENCH_GC_PAUSES_FILE;
    rmSync(folder, { recursive: true, force: true });
  }
}

const fixed = (value: number | undefined, digits = 1) => (value === undefined ? "-" : value.toFixed(digits));

function progressLine(run: LatencyRun): string {
  const hop = run.gateway?.hopMs;
  const gc = run.gateway?.gc;
  const cpu = run.serverCpuPercent.user + run.serverCpuPercent.system;
  return (
    `p50 ${run.latencyMs.p50.toFixed(1)} ms, p99 ${run.latencyMs.p99.toFixed(1)} ms, lost ${run.lost}, server ${cpu.toFixed(0)}%, load core ${run.loadCorePercent.toFixed(0)}%` +
    (run.target === "gateway"
      ? `; hop p50 ${fixed(hop?.p50, 2)} p99 ${fixed(hop?.p99, 2)} p99.9 ${fixed(hop?.p999, 2)} ms (${hop?.count ?? 0} frames)` +
        `; flush p50 ${fixed(run.gateway?.flushMs?.p50, 2)} ms, ${run.gateway?.socketWrites && run.gateway.flushTotalMs !== undefined ? ((run.gateway.flushTotalMs * 1000) / run.gateway.socketWrites).toFixed(1) : "-"} µs per socket write` +
        `; gc ${gc?.pauses ?? "-"} pauses ${fixed(gc?.totalMs)} ms` +
        (run.gcTrace ? `, longest ${run.gcTrace.maxMs.toFixed(1)} ms` : "")
      : "") +
    (run.generatorLimited ? " [GENERATOR-LIMITED]" : "")
  );
}

/** Every step, the peers taking turns in each round; prints a line per run as it goes. */
export async function runLatency(options: LatencyOptions = {}): Promise<LatencyResults> {
  const runs = options.runs ?? DEFAULT_RUNS;
  const windowSeconds = options.windowSeconds ?? DEFAULT_WINDOW_SECONDS;
  const warmupSeconds = options.warmupSeconds ?? DEFAULT_WARMUP_SECONDS;
  const gcTrace = options.gcTrace ?? false;
  const results: LatencyResults = {
    command: options.command ?? "npm run bench:latency",
    at: new Date().toISOString(),
    commit: headCommit(),
    machine: machineDescription(),
    loadAverage: os.loadavg()[0] ?? 0,
    windowSeconds,
    warmupSeconds,
    gcTrace,
    steps: [],
  };
  for (const plan of STEPS) {
    const scenario = scenarioOf(plan, options.clients ?? plan.clients, windowSeconds, warmupSeconds);
    if (options.only && !scenario.id.includes(options.only)) continue;
    console.log(`${scenario.id}: ${scenario.title}, ${runs} rounds`);
    const step: LatencyStep = {
      id: scenario.id,
      title: scenario.title,
      clients: scenario.clients,
      ratePerSecond: scenario.ratePerSecond,
      frameBytes: FRAME_BYTES,
      targets: plan.targets,
      runs: { gateway: [], "nats-ws": [] },
    };
    results.steps.push(step);
    for (let round = 1; round <= runs; round++) {
      for (const peer of LATENCY_PEERS) {
        const started = Date.now();
        process.stdout.write(`  [${round}/${runs}] ${peer.padEnd(8)} `);
        const run = await measure(scenario, peer, gcTrace);
        step.runs[peer].push(run);
        console.log(`${progressLine(run)} (${((Date.now() - started) / 1000).toFixed(0)} s)`);
      }
    }
  }
  return results;
}

async function main(): Promise<void> {
  pinSelfToLoadCore();
  const started = Date.now();
  const number = (name: string) => (argument(name) === undefined ? undefined : Number(argument(name)));
  console.log(
    `latency: gateway and nats-ws, on ${machineDescription()}, load ${os.loadavg()[0]?.toFixed(1)}`,
  );
  const results = await runLatency({
    runs: number("runs"),
    windowSeconds: number("window"),
    warmupSeconds: number("warmup"),
    clients: number("clients"),
    only: argument("only"),
    gcTrace: process.argv.includes("--gc-trace"),
    command: `npm run bench:latency${process.argv.includes("--gc-trace") ? " -- --gc-trace" : ""}`,
  });
  console.log(`done (${((Date.now() - started) / 1000).toFixed(0)} s)`);
  if (process.argv.includes("--no-report")) return;
  writeFileSync(RESULTS_FILE, `${JSON.stringify(results, null, 2)}\n`);
  writeLatencyPage(results);
  console.log(
    `results: ${path.relative(process.cwd(), RESULTS_FILE)}; report: docs/benchmarks/latency.md and the latency section of BENCHMARKS.md`,
  );
}

if (process.argv[1] && path.resolve(process.argv[1]) === path.resolve(new URL(import.meta.url).pathname)) {
  main().catch((error) => {
    console.error(error);
    process.exit(1);
  });
}
