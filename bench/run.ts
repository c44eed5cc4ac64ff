/**
 * `npm run bench`: the whole benchmark in one run (about an hour): the fan-out steps, then the
 * reconnect storm, delivery quality, order books and latency (the gateway's hop); written to
 * bench/results/full-latest.json and, whole, to BENCHMARKS.md. `npm run bench:quick`: one
 * scenario, one repetition per peer (about a minute; CI runs it).
 *
 * Every measurement starts its own nats-server and server under test. The server under test runs
 * alone on one core, everything else on the other (bench/lib/cpu-pinning.ts). Each step is
 * repeated REPETITIONS times with the peers taking turns, so that the machine's drift falls on all
 * of them; the report gives the median with min and max.
 *
 * Options: --quick; --targets=gateway,nats-ws (only these peers; no report); --only=<step id
 * part> (only matching steps; no report); --rate=N (the quick scenario's offered rate).
 */
import { execFileSync } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { runBooks } from "./books.js";
import { runDeploy } from "./deploy.js";
import { measureIdleStarts } from "./idle.js";
import { runLatency } from "./latency.js";
import { writeBooksPage } from "./lib/books-report.js";
import { pinSelfToLoadCore } from "./lib/cpu-pinning.js";
import { writeDeployPage } from "./lib/deploy-report.js";
import { checkOutEarlierCommit } from "./lib/earlier-commit.js";
import { writeLatencyPage } from "./lib/latency-report.js";
import { QUALITY_RESULTS_FILE, writeQualitySection } from "./lib/quality-report.js";
import { type BenchDocument, type StepResults, writeReport } from "./lib/report.js";
import {
  readResumeResults,
  type StormResult,
  writeResumeResults,
  writeResumeSection,
} from "./lib/resume-report.js";
import { type RunResult, runOne, type Scenario } from "./lib/run-one.js";
import { STALLED_GATEWAY_ENV, STALLED_RATE, STALLED_RUN_MS, STALLED_STEP_ID } from "./lib/stalled-step.js";
import { ALWAYS_MEASURED_UP_TO, SEARCH_RATES, sustainedByMedian } from "./lib/sustained.js";
import type { TargetName } from "./lib/targets.js";
import { runQuality } from "./quality.js";
import { runStorm, STORM_VARIANTS } from "./storm.js";

const RESULTS_DIR = path.join(import.meta.dirname, "results");
const ALL_PEERS: TargetName[] = ["gateway", "gateway-prod", "nats-ws", "naive-ws", "socketio"];
/** The quick run needs no build: the production start is measured by the full run only. */
const QUICK_PEERS: TargetName[] = ["gateway", "nats-ws", "naive-ws", "socketio"];
const REPETITIONS = 3;
/** Bytes per frame as the clients receive it, the same for every peer. */
const SMALL_FRAME = 300;
const LARGE_FRAME = 2048;
const RUN_MS = 5000;
/**
 * The write-path A/B: the last commit before the delivery path moved to public APIs (it wrote to
 * ws's private _socket, one write per socket per turn, no adaptive write window).
 */
export const WRITE_PATH_BEFORE_COMMIT = "1307451^";

const argument = (name: string) =>
  process.argv.find((candidate) => candidate.startsWith(`--${name}=`))?.slice(name.length + 3);
const quick = process.argv.includes("--quick");
const onlyTargets = argument("targets")?.split(",") as TargetName[] | undefined;
const only = argument("only");
const quickRate = Number(argument("rate") ?? 160);

interface Step {
  id: string;
  title: string;
  scenario: Scenario;
  peers: TargetName[];
}

function fanOut(clients: number, rate: number, frameBytes: number, extra: Partial<Scenario> = {}): Scenario {
  const size = frameBytes >= 1024 ? `${frameBytes / 1024}k` : `${frameBytes}b`;
  return {
    id: `fanout-${clients}c-${rate}r-${size}`,
    title: `immediate channel, ${clients.toLocaleString("en")} clients x ${rate} msg/s, ${frameBytes} B frames`,
    clients,
    ratePerSecond: rate,
    payloadBytes: frameBytes,
    durationMs: RUN_MS,
    ...extra,
  };
}

/** The fixed steps (the maximum-rate search, which adapts to each peer, comes first and apart). */
function steps(peers: TargetName[]): Step[] {
  const step = (scenario: Scenario, stepPeers = peers): Step => ({
    id: scenario.id,
    title: scenario.title,
    scenario,
    peers: stepPeers,
  });
  if (quick) return [step(fanOut(1000, quickRate, SMALL_FRAME, { durationMs: 4000 }))];
  const gateways = peers.filter((peer) => peer === "gateway" || peer === "gateway-prod");
  return [
    step(fanOut(1000, 160, LARGE_FRAME)),
    // The stalled step's load without stalled clients, as long, for its comparison columns.
    step(
      fanOut(1000, STALLED_RATE, LARGE_FRAME, { durationMs: STALLED_RUN_MS }),
      peers.filter((peer) => peer !== "socketio"),
    ),
    // Memory per connection is read here too: 10,000 connected clients before anything is published.
    step(fanOut(10_000, 10, SMALL_FRAME, { durationMs: RUN_MS })),
    step(
      fanOut(1000, STALLED_RATE, LARGE_FRAME, {
        id: STALLED_STEP_ID,
        title: `1% of 1,000 clients stop reading, ${STALLED_RATE} msg/s, 2048 B frames, ${STALLED_RUN_MS / 1000} s`,
        stalledFraction: 0.01,
        gatewayEnv: STALLED_GATEWAY_ENV,
        durationMs: STALLED_RUN_MS,
      }),
      // Socket.IO buffers in process memory like the naive loop; the step is long, so it is left out.
      peers.filter((peer) => peer !== "socketio"),
    ),
    step(
      fanOut(1000, 5000, 0, {
        id: "price-1000c-500s-5000tps",
        title: "price channel: 500 symbols, 5,000 ticks/s, 1,000 clients x 20 symbols, 1 s interval",
        price: { symbols: 500, perClient: 20, intervalSeconds: 1 },
      }),
      gateways,
    ),
  ];
}

/** Where gateway-before's checkout is, while the A/B step runs. */
let earlierRoot: string | undefined;

async function measure(scenario: Scenario, target: TargetName, label: string): Promise<RunResult> {
  const started = Date.now();
  process.stdout.write(`  ${label} ${target.padEnd(14)} ${scenario.id.padEnd(28)} `);
  const result = await runOne(scenario, target, {
    gatewayRoot: target === "gateway-before" ? earlierRoot : undefined,
  });
  const cpu = result.serverCpuPercent.user + result.serverCpuPercent.system;
  console.log(
    `${(result.deliveredPerSecond / 1000).toFixed(1).padStart(7)}k msg/s, lost ${result.lost}, ` +
      `p50 ${result.latencyMs.p50.toFixed(1)} ms, p99 ${result.latencyMs.p99.toFixed(1)} ms, ` +
      `server ${cpu.toFixed(0)}%, load core ${result.loadCorePercent.toFixed(0)}%, ` +
      `${result.bytesPerFrame.toFixed(0)} B/frame` +
      `${result.stalled ? `, stalled ${JSON.stringify(result.stalled.closes)}` : ""}` +
      `${result.generatorLimited ? " [GENERATOR-LIMITED]" : ""} (${((Date.now() - started) / 1000).toFixed(0)} s)`,
  );
  return result;
}

/** Every peer `repetitions` times, taking turns. */
async function repeated(step: Step, peers: TargetName[], repetitions: number): Promise<StepResults> {
  const runs: Partial<Record<TargetName, RunResult[]>> = {};
  for (let round = 1; round <= repetitions; round++) {
    for (const peer of peers) {
      const result = await measure(step.scenario, peer, `[${round}/${repetitions}]`);
      runs[peer] = [...(runs[peer] ?? []), result];
    }
  }
  return { id: step.id, title: step.title, runs };
}

/**
 * Each peer's maximum sustained rate at 1,000 clients and 300 B frames: every peer is measured at
 * every rate up to 160 msg/s (the tail-latency comparison), and beyond that while the median of
 * its repetitions is sustained. How the result is read (and when it is "at least") is in
 * bench/lib/sustained.ts.
 */
async function searchMaxRate(peers: TargetName[]): Promise<StepResults[]> {
  const results: StepResults[] = [];
  let active = [...peers];
  for (const rate of SEARCH_RATES) {
    if (active.length === 0) break;
    const scenario = fanOut(1000, rate, SMALL_FRAME);
    console.log(`${scenario.id}: ${scenario.title} (${active.join(", ")})`);
    const step = await repeated(
      { id: scenario.id, title: scenario.title, scenario, peers: active },
      active,
      REPETITIONS,
    );
    results.push(step);
    active = active.filter(
      (peer) => rate < ALWAYS_MEASURED_UP_TO || sustainedByMedian(step.runs[peer] ?? []),
    );
  }
  return results;
}

function describeMachine(): string {
  const cpus = os.cpus();
  return `${cpus.length} x ${cpus[0]?.model ?? "cpu"}, ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB, Node ${process.version}, ${os.type()} ${os.release()}`;
}

function headCommit(): string {
  const commit = execFileSync("git", ["rev-parse", "--short", "HEAD"], { encoding: "utf8" }).trim();
  const dirty = execFileSync("git", ["status", "--porcelain", "--", "src", "plugins", "bench"], {
    encoding: "utf8",
  }).trim();
  return dirty ? `${commit} (+ uncommitted changes)` : commit;
}

async function main(): Promise<void> {
  pinSelfToLoadCore();
  mkdirSync(RESULTS_DIR, { recursive: true });
  const machine = describeMachine();
  const peers = onlyTargets ?? (quick ? QUICK_PEERS : ALL_PEERS);
  const partial = quick || onlyTargets !== undefined || only !== undefined;
  console.log(`benchmark (${quick ? "quick" : "full"}) on ${machine}; peers: ${peers.join(", ")}`);
  const document: BenchDocument = {
    kind: quick ? "quick" : "full",
    at: new Date().toISOString(),
    commit: headCommit(),
    machine,
    repetitions: quick ? 1 : REPETITIONS,
    search: [],
    steps: [],
  };
  if (!quick && (!only || "fanout-1000c-search".includes(only))) {
    console.log(
      "maximum sustained rate, 1,000 clients, 300 B frames (sustained: nothing lost, p99 < 100 ms)",
    );
    document.search = await searchMaxRate(peers);
  }
  for (const step of steps(peers)) {
    if (only && !step.id.includes(only)) continue;
    console.log(`${step.id}: ${step.title}`);
    document.steps.push(await repeated(step, step.peers, document.repetitions));
  }
  if (
    !quick &&
    (!only || "writepath-ab".includes(only)) &&
    (!onlyTargets || onlyTargets.includes("gateway"))
  ) {
    const scenario = fanOut(1000, 160, SMALL_FRAME, {
      id: "writepath-ab-1000c-160r-300b",
      title: `the write path before (${WRITE_PATH_BEFORE_COMMIT}) and after, 1,000 clients x 160 msg/s, 300 B frames`,
    });
    console.log(`${scenario.id}: ${scenario.title}`);
    const earlier = checkOutEarlierCommit(WRITE_PATH_BEFORE_COMMIT);
    earlierRoot = earlier.root;
    try {
      const step = {
        id: scenario.id,
        title: scenario.title,
        scenario,
        peers: ["gateway-before", "gateway"] as TargetName[],
      };
      document.steps.push(await repeated(step, step.peers, document.repetitions));
    } finally {
      earlier.remove();
    }
  }
  if (!quick && !only && (!onlyTargets || onlyTargets.includes("gateway-prod"))) {
    console.log("idle memory of the two start commands (bench/idle.ts)");
    document.idleStarts = await measureIdleStarts();
  }
  const file = path.join(RESULTS_DIR, `${quick ? "quick" : partial ? "partial" : "full"}-latest.json`);
  const save = () => {
    writeFileSync(file, `${JSON.stringify(document, null, 2)}\n`);
    console.log(`results: ${path.relative(process.cwd(), file)}`);
    if (partial) return;
    writeReport(document);
    console.log("report: BENCHMARKS.md");
  };
  save();
  if (partial) return;
  // The same run goes on with resume and delivery quality, so that BENCHMARKS.md holds every
  // figure from this one run (their own commands write docs/benchmarks/ pages instead).
  console.log("reconnect storm: 1,000 clients resume 100 missed trades (bench/storm.ts)");
  const storm: StormResult[] = [];
  for (const variant of STORM_VARIANTS) storm.push(await runStorm(variant));
  document.resume = {
    storm: { at: new Date().toISOString(), machine, commit: document.commit, results: storm },
  };
  // The positions comparison (an A/B against a commit before positions existed) runs on its own,
  // `npm run bench:positions`: its page keeps its own run's figures beside this storm.
  const page = { ...readResumeResults(), storm: document.resume.storm };
  writeResumeResults(page);
  writeResumeSection(page);
  save();
  console.log("delivery quality: per-client intervals, throttled clients (bench/quality.ts)");
  document.quality = await runQuality(
    REPETITIONS,
    undefined,
    "npm run bench (bench/quality.ts: 3 repetitions)",
  );
  writeFileSync(QUALITY_RESULTS_FILE, `${JSON.stringify(document.quality, null, 2)}\n`);
  writeQualitySection(document.quality);
  save();
  console.log("order books: 1,000 clients on 6 books, immediate and interval_ms 100 (bench/books.ts)");
  document.books = await runBooks("npm run bench (bench/books.ts)");
  writeBooksPage(document.books);
  save();
  console.log(
    "latency: the gateway's own hop beside the end-to-end p99, 5 rounds per step (bench/latency.ts)",
  );
  document.latency = await runLatency({ command: "npm run bench (bench/latency.ts)" });
  writeLatencyPage(document.latency);
  save();
  // Last: its section goes into BENCHMARKS.md in place, after the last whole rewrite (save()).
  console.log(
    "rolling deploy: 1,000 clients through nginx over two gateways, both restarted (bench/deploy.ts)",
  );
  writeDeployPage(await runDeploy("npm run bench (bench/deploy.ts)"));
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
