/**
 * `npm run bench:positions`: the live fan-out path with positions stamped, against the gateway as it
 * was before (commit cfb5250, the last one before seq/epoch and resume), in the same run.
 *
 * "gateway-before" is a `git worktree` of that commit in a temporary folder outside the repository,
 * with this repository's node_modules linked in (nothing is installed) and this repository's bench
 * plugin copied in (the publisher's messages follow it); it is started exactly as the gateway is.
 * The worktree is removed at the end, whatever happens.
 *
 * Configurations, each on a fresh nats-server with JetStream, taking turns in every repetition:
 *   gateway         this commit, NATS_JETSTREAM=auto (the default): live frames from a JetStream
 *                   ordered consumer, stamped with seq/epoch, kept in the ring
 *   gateway-off     this commit, NATS_JETSTREAM=off: a plain subscription, positions in memory
 *   gateway-before  cfb5250: a plain subscription, no positions
 * on the matrix's signals-like scenario (bench channel, immediate, 1,000 clients, 300 B).
 *
 * Options: --reps=N (default 3), --rates=80,160 (offered msg/s), --no-report (leave docs/benchmarks/resume.md).
 */
import path from "node:path";
import { checkOutEarlierCommit } from "./lib/earlier-commit.js";
import {
  cpuMicrosPerDelivery,
  type FanoutConfig,
  type FanoutRun,
  type ResumeResults,
  readResumeResults,
  writeResumeResults,
  writeResumeSection,
} from "./lib/resume-report.js";
import { runOne, type Scenario } from "./lib/run-one.js";
import { headCommit, machineDescription } from "./storm.js";

export const BEFORE_COMMIT = "cfb5250";

const argument = (name: string) =>
  process.argv.find((candidate) => candidate.startsWith(`--${name}=`))?.slice(name.length + 3);
const REPS = Number(argument("reps") ?? 3);
const RATES = (argument("rates") ?? "80,160").split(",").map(Number);

export const FANOUT_CONFIGS: (FanoutConfig & { env: Record<string, string>; before?: true })[] = [
  {
    name: "gateway",
    description: "this commit, NATS_JETSTREAM=auto: live frames from a JetStream ordered consumer, stamped",
    env: {},
  },
  {
    name: "gateway-off",
    description: "this commit, NATS_JETSTREAM=off: plain subscription, positions counted in memory, stamped",
    env: { NATS_JETSTREAM: "off" },
  },
  {
    name: "gateway-before",
    description: `${BEFORE_COMMIT}, before positions: plain subscription, no stamping`,
    env: {},
    before: true,
  },
];

/** A worktree of the earlier commit, ready to run; `remove` takes it away again. */
const checkOutBefore = () => checkOutEarlierCommit(BEFORE_COMMIT);

function scenario(rate: number, env: Record<string, string>): Scenario {
  return {
    id: `positions-1000c-${rate}r-300b`,
    title: `signals-like immediate channel, 1000 clients x ${rate} msg/s, 300b`,
    clients: 1000,
    ratePerSecond: rate,
    payloadBytes: 300,
    durationMs: 8000,
    jetStream: true,
    gatewayEnv: env,
  };
}

export async function runPositions(reps = REPS, rates = RATES): Promise<FanoutRun[]> {
  const before = checkOutBefore();
  const onSignal = () => {
    before.remove();
    process.exit(130);
  };
  process.once("SIGINT", onSignal);
  process.once("SIGTERM", onSignal);
  const runs: FanoutRun[] = [];
  try {
    for (let repetition = 1; repetition <= reps; repetition++) {
      // Rotate the order, so that no configuration always runs first (or last) in a repetition.
      const order = FANOUT_CONFIGS.map(
        (_, index) =>
          FANOUT_CONFIGS[(index + repetition - 1) % FANOUT_CONFIGS.length] as (typeof FANOUT_CONFIGS)[number],
      );
      for (const rate of rates) {
        for (const config of order) {
          const started = Date.now();
          process.stdout.write(
            `  rep ${repetition}/${reps} ${String(rate).padStart(4)} msg/s ${config.name.padEnd(15)} `,
          );
          const result = await runOne(scenario(rate, config.env), "gateway", {
            gatewayRoot: config.before ? before.root : undefined,
          });
          runs.push({ config: config.name, repetition, result });
          console.log(
            `${(result.deliveredPerSecond / 1000).toFixed(1).padStart(6)}k msg/s, lost ${result.lost}, ` +
              `p50 ${result.latencyMs.p50.toFixed(1)} ms, p99 ${result.latencyMs.p99.toFixed(1)} ms, ` +
              `cpu ${(result.serverCpuPercent.user + result.serverCpuPercent.system).toFixed(0)}%, ` +
              `${cpuMicrosPerDelivery(result).toFixed(2)} us/delivery` +
              `${result.generatorLimited ? " [GENERATOR-LIMITED]" : ""} (${((Date.now() - started) / 1000).toFixed(0)} s)`,
          );
        }
      }
    }
  } finally {
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
    before.remove();
  }
  return runs;
}

/** The `fanout` part of bench/results/resume-latest.json. */
export function fanoutResults(runs: FanoutRun[], command: string, rates = RATES): ResumeResults["fanout"] {
  return {
    at: new Date().toISOString(),
    machine: machineDescription(),
    commit: headCommit(),
    beforeCommit: BEFORE_COMMIT,
    command,
    configs: FANOUT_CONFIGS.map(({ name, description }) => ({ name, description })),
    rates,
    runs,
  };
}

async function main(): Promise<void> {
  const started = Date.now();
  console.log(
    `fan-out with positions: ${FANOUT_CONFIGS.map((config) => config.name).join(", ")}; ${REPS} repetitions at ${RATES.join(", ")} msg/s, 1,000 clients; on ${machineDescription()}`,
  );
  const runs = await runPositions();
  const document = readResumeResults();
  const extra = process.argv.slice(2).filter((option) => option !== "--no-report");
  document.fanout = fanoutResults(
    runs,
    `npm run bench:positions${extra.length ? ` -- ${extra.join(" ")}` : ""}`,
  );
  const file = writeResumeResults(document);
  console.log(
    `results: ${path.relative(process.cwd(), file)} (${((Date.now() - started) / 1000).toFixed(0)} s)`,
  );
  if (!process.argv.includes("--no-report")) writeResumeSection(document);
}

if (process.argv[1] && path.resolve(process.argv[1]) === path.resolve(new URL(import.meta.url).pathname)) {
  main().catch((error) => {
    console.error(error);
    process.exit(1);
  });
}
