/**
 * `npm run bench:quick`: one scenario per peer (about a minute).
 * `npm run bench`: the full matrix (tens of minutes), including the search for each peer's
 * maximum sustained rate. Results go to bench/results/*.json and BENCHMARKS.md.
 *
 * Each run starts its own nats-server and target, so runs do not disturb each other; the
 * machine is shared and noisy, so results are read as ratios between peers of the same run.
 */
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { QUALITY_RESULTS_FILE } from "./lib/quality-report.js";
import { writeReport } from "./lib/report.js";
import { readResumeResults, type StormResult, writeResumeResults } from "./lib/resume-report.js";
import { type RunResult, runOne, type Scenario } from "./lib/run-one.js";
import type { TargetName } from "./lib/targets.js";
import { fanoutResults, runPositions } from "./positions.js";
import { runQuality } from "./quality.js";
import { headCommit, runStorm, STORM_VARIANTS } from "./storm.js";

const RESULTS_DIR = path.join(path.dirname(new URL(import.meta.url).pathname), "results");
const PEERS: TargetName[] = ["gateway", "nats-ws", "naive-ws", "socketio"];
/** Sustained means: nothing lost and p99 under this. */
const SUSTAINED_P99_MS = 100;

const quick = process.argv.includes("--quick");
/** `--targets=gateway,nats-ws`: measure only these peers (for A/B runs of one change). */
const onlyTargets = process.argv
  .find((argument) => argument.startsWith("--targets="))
  ?.slice("--targets=".length)
  .split(",") as TargetName[] | undefined;
/** `--max-only`: redo just the maximum-rate search and merge it into full-latest.json. */
const maxOnly = process.argv.includes("--max-only");
const only = process.argv.find((argument) => argument.startsWith("--only="))?.slice("--only=".length);
/** `--rate=N` with --quick: measure the quick scenario at another offered rate. */
const quickRate = Number(
  process.argv.find((argument) => argument.startsWith("--rate="))?.slice("--rate=".length) ?? 160,
);

function scenario(
  clients: number,
  ratePerSecond: number,
  payloadBytes: number,
  extra: Partial<Scenario> = {},
): Scenario {
  const size = payloadBytes >= 1024 ? `${payloadBytes / 1024}k` : `${payloadBytes}b`;
  return {
    id: `immediate-${clients}c-${ratePerSecond}r-${size}`,
    title: `signals-like immediate channel, ${clients} clients x ${ratePerSecond} msg/s, ${size}`,
    clients,
    ratePerSecond,
    payloadBytes,
    durationMs: quick ? 5000 : 8000,
    ...extra,
  };
}

interface Plan {
  label: string;
  scenario: Scenario;
  targets: TargetName[];
}

function plan(): Plan[] {
  if (quick) return [{ label: "quick", scenario: scenario(1000, quickRate, 300), targets: PEERS }];
  const steps: Plan[] = [];
  for (const clients of [1000, 10000]) {
    for (const rate of clients === 1000 ? [10, 40, 160, 640] : [10, 40, 160]) {
      for (const bytes of [300, 2048]) {
        // Socket.IO with 10,000 clients takes the whole box; it is measured at 1,000.
        const targets = clients === 10000 ? PEERS.filter((peer) => peer !== "socketio") : PEERS;
        steps.push({ label: "matrix", scenario: scenario(clients, rate, bytes), targets });
      }
    }
  }
  steps.push({
    label: "price",
    scenario: scenario(1000, 5000, 0, {
      id: "price-1000c-500s-5000tps",
      title: "price channel: 500 symbols, 5,000 ticks/s, 1,000 clients x 20 symbols, 1 s interval",
      price: { symbols: 500, perClient: 20, intervalSeconds: 1 },
    }),
    targets: ["gateway"],
  });
  steps.push({
    label: "stalled",
    scenario: scenario(1000, 160, 300, {
      id: "stalled-1pct-1000c-160r",
      title: "1% of 1,000 clients stalled",
      stalledFraction: 0.01,
    }),
    targets: ["gateway", "naive-ws"],
  });
  steps.push({
    label: "idle",
    scenario: scenario(10000, 0, 0, {
      id: "idle-10000c",
      title: "10,000 idle connections",
      idle: true,
      durationMs: 2000,
    }),
    targets: PEERS,
  });
  return steps;
}

/** Step the offered rate up until the peer loses messages or its p99 passes the bound. */
async function maxSustained(target: TargetName, results: RunResult[]): Promise<number> {
  let best = 0;
  // Fine steps where peers part ways (tens to hundreds of msg/s at 1,000 clients on 2 cores).
  for (const rate of [10, 20, 40, 60, 80, 120, 160, 240, 320, 480, 640, 960, 1280]) {
    const result = await measure(scenario(1000, rate, 300, { id: `max-${rate}r` }), target);
    results.push(result);
    if (result.lost > 0 || result.latencyMs.p99 > SUSTAINED_P99_MS) break;
    best = rate;
  }
  return best;
}

async function measure(run: Scenario, target: TargetName): Promise<RunResult> {
  const started = Date.now();
  process.stdout.write(`  ${target.padEnd(9)} ${run.id.padEnd(34)} `);
  const result = await runOne(run, target);
  console.log(
    `${(result.deliveredPerSecond / 1000).toFixed(1).padStart(7)}k msg/s delivered, lost ${result.lost}, ` +
      `p50 ${result.latencyMs.p50.toFixed(1)} ms, p99 ${result.latencyMs.p99.toFixed(1)} ms, ` +
      `server cpu ${(result.serverCpuPercent.user + result.serverCpuPercent.system).toFixed(0)}%, ` +
      `rss/conn ${(result.rssPerConnectionBytes / 1024).toFixed(1)} KB` +
      `${result.generatorLimited ? " [GENERATOR-LIMITED]" : ""} (${((Date.now() - started) / 1000).toFixed(0)} s)`,
  );
  return result;
}

async function main(): Promise<void> {
  mkdirSync(RESULTS_DIR, { recursive: true });
  const machine = `${os.cpus().length} x ${os.cpus()[0]?.model ?? "cpu"}, ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB, Node ${process.version}, ${os.type()} ${os.release()}`;
  console.log(`benchmark (${quick ? "quick" : "full matrix"}) on ${machine}`);
  const file = path.join(RESULTS_DIR, `${quick ? "quick" : "full"}-latest.json`);
  if (maxOnly) {
    const previous = JSON.parse(readFileSync(file, "utf8")) as { results: RunResult[]; at: string };
    const results = previous.results.filter((result) => !result.scenario.startsWith("max-"));
    const maxRates: Partial<Record<TargetName, number>> = {};
    console.log("maximum sustained rate, 1,000 clients, 300 B (nothing lost, p99 < 100 ms)");
    for (const target of PEERS) maxRates[target] = await maxSustained(target, results);
    const document = { kind: "full", at: new Date().toISOString(), machine, maxRates, results };
    writeFileSync(file, `${JSON.stringify(document, null, 2)}\n`);
    writeReport(document);
    return;
  }
  const results: RunResult[] = [];
  const maxRates: Partial<Record<TargetName, number>> = {};
  for (const step of plan()) {
    if (only && !step.scenario.id.includes(only)) continue;
    console.log(`${step.label}: ${step.scenario.title}`);
    for (const target of step.targets) {
      if (onlyTargets && !onlyTargets.includes(target)) continue;
      results.push(await measure(step.scenario, target));
    }
  }
  if (!quick && !only) {
    console.log("maximum sustained rate, 1,000 clients, 300 B (nothing lost, p99 < 100 ms)");
    for (const target of PEERS) maxRates[target] = await maxSustained(target, results);
  }
  if (!quick && !only && !onlyTargets) {
    // Resume and positions (also on their own: npm run bench:storm, npm run bench:positions).
    console.log("reconnect storm: 1,000 clients resume 100 missed trades (bench/storm.ts)");
    const storm: StormResult[] = [];
    for (const variant of STORM_VARIANTS) storm.push(await runStorm(variant));
    console.log("fan-out with positions stamped vs the gateway before them (bench/positions.ts)");
    const runs = await runPositions();
    const resume = readResumeResults();
    resume.storm = { at: new Date().toISOString(), machine, commit: headCommit(), results: storm };
    resume.fanout = fanoutResults(
      runs,
      "npm run bench (bench/positions.ts: 3 repetitions at 80 and 160 msg/s)",
    );
    writeResumeResults(resume);
    // Delivery quality (also on its own: npm run bench:quality); its section is read back by writeReport.
    console.log("delivery quality: per-client intervals, throttled clients (bench/quality.ts)");
    const quality = await runQuality(3, undefined, "npm run bench (bench/quality.ts: 3 repetitions)");
    writeFileSync(QUALITY_RESULTS_FILE, `${JSON.stringify(quality, null, 2)}\n`);
  }
  const document = {
    kind: quick ? "quick" : "full",
    at: new Date().toISOString(),
    machine,
    maxRates,
    results,
  };
  writeFileSync(file, `${JSON.stringify(document, null, 2)}\n`);
  console.log(`results: ${path.relative(process.cwd(), file)}`);
  if (!quick) writeReport(document);
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
