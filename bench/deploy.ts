/**
 * `npm run bench:deploy`: a rolling deploy under load, as an operator runs one. nginx with
 * deploy/nginx.conf in front of two gateway processes (src/main.ts) on one nats-server with
 * JetStream (NATS_JETSTREAM=required), the production defaults for the drain (SHUTDOWN_DRAIN_MS
 * 12000, SHUTDOWN_RECONNECT_SPREAD_MS 10000) and admission control on. 1,000 SDK clients
 * (src/client, Node entry) subscribed to trades through nginx (each to one of 10 symbols the trades
 * go round), over 4 worker processes on
 * 127.0.0.2 to .5 (nginx trusted: the per-address limit counts them), 200 trades a second
 * published throughout. After a baseline window, gateway A is restarted (SIGTERM, a new process on
 * its port, ready, its clients back), then B.
 *
 * Reported: trades lost, duplicated or out of order and resume failures over every client (all
 * must be 0), the most connections accepted in any second (welcome timestamps: the gateways'
 * clock) against what admission control allows, how far each instance's clients spread their
 * return, and the live trades' latency (clients not in their own reconnect) during the restarts
 * against before them.
 *
 * Options: --clients=N (try the harness quickly; the figures reported are for 1,000),
 * --no-report (leave docs/benchmarks/deploy.md and BENCHMARKS.md alone).
 */
import os from "node:os";
import path from "node:path";
import { stopGatewayProcesses } from "../test/helpers/gateway-process.js";
import {
  type DeploySettings,
  mostConnectsInAnySecond,
  publishTrades,
  type RestartTiming,
  RollingDeployStack,
} from "../test/helpers/rolling-deploy.js";
import { type DeployResults, writeDeployPage } from "./lib/deploy-report.js";
import type { DeployWorkerCommand, DeployWorkerReport } from "./lib/deploy-worker.js";
import { LatencyHistogram } from "./lib/histogram.js";
import { forkIpcChild, type IpcChild } from "./lib/ipc-child.js";
import { headCommit, machineDescription } from "./storm.js";

const HERE = path.dirname(new URL(import.meta.url).pathname);
const argument = (name: string) =>
  process.argv.find((candidate) => candidate.startsWith(`--${name}=`))?.slice(name.length + 3);

const CLIENTS = Number(argument("clients") ?? 1000);
const WORKERS = 4;
const TRADES_PER_SECOND = 200;
/**
 * Trades go round these symbols and each client subscribes to one: 20 trades/s per client, 20,000
 * frames/s over the 1,000. With every client on every trade (200,000 frames/s) the SDK clients'
 * worker processes, not the gateways, were the limit on this 2-core machine: their event loops fell
 * behind and so did everything they measured.
 */
const SYMBOLS = ["AAPL", "MSFT", "GOOGL", "AMZN", "TSLA", "NVDA", "META", "JPM", "V", "WMT"];
const INSTANCES = 2;
const CONNECTS_PER_SECOND = 100;
const CONNECTS_BURST = 50;
/** The production defaults (src/config.ts), spelled out so the report can say them. */
const SPREAD_MS = 10_000;
const DRAIN_MS = 12_000;
/** Live trades before the first SIGTERM: the latency to compare with. */
const BASELINE_MS = 10_000;
/** Every client on one instance: each address holds a quarter of them. */
const PER_ADDRESS = Math.ceil(CLIENTS / WORKERS) + 50;

const DEPLOY: DeploySettings = {
  instances: INSTANCES,
  connectsPerSecond: CONNECTS_PER_SECOND,
  connectsBurst: CONNECTS_BURST,
  spreadMs: SPREAD_MS,
  drainMs: DRAIN_MS,
  maxConnections: CLIENTS * 2,
  maxConnectionsPerIp: PER_ADDRESS,
};

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** The most timestamps in any window [t, t + windowMs). */
export function mostInAnyWindow(times: number[], windowMs: number): number {
  const sorted = [...times].sort((a, b) => a - b);
  let most = 0;
  let start = 0;
  for (let end = 0; end < sorted.length; end++) {
    while ((sorted[end] as number) - (sorted[start] as number) >= windowMs) start++;
    most = Math.max(most, end - start + 1);
  }
  return most;
}

/** The clients told to go during `timing`, and when each was accepted again. */
function returns(reports: DeployWorkerReport[], timing: RestartTiming): number[] {
  const backAt: number[] = [];
  for (const report of reports)
    report.noticesAt.forEach((notices, client) => {
      const notice = notices.find((at) => at >= timing.signalledAt && at <= timing.exitedAt);
      if (notice === undefined) return;
      const back = report.acceptedAt[client]?.find((at) => at > notice);
      if (back !== undefined) backAt.push(back);
    });
  return backAt;
}

export async function runDeploy(
  command = `npm run bench:deploy${process.argv.length > 2 ? ` -- ${process.argv.slice(2).join(" ")}` : ""}`,
): Promise<DeployResults> {
  const started = Date.now();
  const elapsed = () => `${((Date.now() - started) / 1000).toFixed(0)} s`;
  const log = (message: string) => console.log(`  [${elapsed().padStart(5)}] ${message}`);
  const loadAverage = os.loadavg()[0] as number;
  const stack = await RollingDeployStack.start(DEPLOY);
  const workers: IpcChild<DeployWorkerCommand>[] = [];
  const upstream = await stack.nats.client();
  try {
    log(`nats-server (JetStream), ${INSTANCES} gateways and nginx up; connecting ${CLIENTS} clients`);
    const perWorker = Math.ceil(CLIENTS / WORKERS);
    await Promise.all(
      Array.from({ length: WORKERS }, (_, index) => {
        const worker = forkIpcChild<DeployWorkerCommand>(path.join(HERE, "lib/deploy-worker.ts"));
        workers.push(worker);
        return worker.ask(
          {
            type: "connect",
            url: stack.nginx.wsUrl,
            count: Math.max(0, Math.min(perWorker, CLIENTS - index * perWorker)),
            localAddress: `127.0.0.${2 + index}`,
            symbols: SYMBOLS,
            first: index * perWorker,
          },
          "connected",
          120_000,
        );
      }),
    );
    const connectedAt = Date.now();
    log(
      `${CLIENTS} clients subscribed; publishing ${TRADES_PER_SECOND} trades/s, baseline ${BASELINE_MS / 1000} s`,
    );
    const setPhase = (name: string) =>
      Promise.all(workers.map((worker) => worker.ask({ type: "phase", name }, "phase-set")));
    const publisher = publishTrades(upstream, TRADES_PER_SECOND, log, SYMBOLS);
    await sleep(1000);
    await setPhase("before");
    await sleep(BASELINE_MS);

    await setPhase("during");
    const restarts: RestartTiming[] = [];
    const backAfterMs: number[] = [];
    for (let index = 0; index < INSTANCES; index++) {
      const name = stack.gateways[index]?.name;
      log(`SIGTERM ${name} (drain ${DRAIN_MS / 1000} s, reconnects spread over ${SPREAD_MS / 1000} s)`);
      const timing = await stack.restart(index);
      restarts.push(timing);
      log(
        `${name}: exited after ${((timing.exitedAt - timing.signalledAt) / 1000).toFixed(1)} s, new process ready after ${((timing.readyAt - timing.exitedAt) / 1000).toFixed(1)} s`,
      );
      for (;;) {
        const replies = await Promise.all(
          workers.map((worker) => worker.ask<{ away: number }>({ type: "away" }, "away")),
        );
        const away = replies.reduce((total, reply) => total + reply.away, 0);
        if (away === 0) break;
        await sleep(250);
      }
      backAfterMs.push(Date.now() - timing.signalledAt);
      log(`${name}'s clients all back`);
    }
    await setPhase("after");
    await sleep(2000);
    const published = await publisher.stop();
    log(`stopped after ${published} trades; waiting until every client has the last`);
    await Promise.all(
      workers.map((worker) => worker.ask({ type: "wait-for", trade: published }, "have", 60_000)),
    );
    const reports = (
      await Promise.all(
        workers.map((worker) =>
          worker.ask<{ report: DeployWorkerReport }>({ type: "report", published }, "report"),
        ),
      )
    ).map((reply) => reply.report);

    const histogram = (phase: string) => {
      const merged = new LatencyHistogram();
      for (const report of reports) {
        const part = report.latency[phase];
        if (part) merged.merge(part);
      }
      return {
        p50: merged.percentile(0.5),
        p99: merged.percentile(0.99),
        max: merged.max / 1000,
        samples: merged.count,
      };
    };
    const accepts = reports.flatMap((report) => report.acceptedAt.flat());
    const duringAccepts = accepts.filter((at) => at >= (restarts[0]?.signalledAt ?? 0));
    const sum = (figure: (report: DeployWorkerReport) => number) =>
      reports.reduce((total, report) => total + figure(report), 0);
    const results: DeployResults = {
      at: new Date().toISOString(),
      machine: machineDescription(),
      commit: headCommit(),
      loadAverage,
      command,
      settings: {
        clients: sum((report) => report.clients),
        workers: WORKERS,
        instances: INSTANCES,
        tradesPerSecond: TRADES_PER_SECOND,
        symbols: SYMBOLS.length,
        connectsPerSecond: CONNECTS_PER_SECOND,
        connectsBurst: CONNECTS_BURST,
        spreadMs: SPREAD_MS,
        drainMs: DRAIN_MS,
        perAddress: PER_ADDRESS,
        baselineSeconds: BASELINE_MS / 1000,
      },
      published,
      connectSeconds: (connectedAt - started) / 1000,
      lost: sum((report) => report.lost),
      duplicated: sum((report) => report.duplicated),
      outOfOrder: sum((report) => report.outOfOrder),
      clientsWithProblems: sum((report) => report.clientsWithProblems),
      resumeFailures: reports.flatMap((report) => report.resumeFailures).length,
      firstResumeFailure: byReason(reports.flatMap((report) => report.resumeFailures)),
      clientErrors: reports.flatMap((report) => report.errors).length,
      caughtUp: sum((report) => report.caughtUp),
      connects: {
        total: accepts.length,
        peakPerSecond: mostInAnyWindow(accepts, 1000),
        peakPerSecondDuringRestarts: mostInAnyWindow(duringAccepts, 1000),
        bound: mostConnectsInAnySecond(DEPLOY),
      },
      restarts: restarts.map((timing, index) => {
        const back = returns(reports, timing);
        return {
          instance: stack.gateways[index]?.name ?? String(index),
          drainSeconds: (timing.exitedAt - timing.signalledAt) / 1000,
          startSeconds: (timing.readyAt - timing.exitedAt) / 1000,
          allBackSeconds: (backAfterMs[index] ?? 0) / 1000,
          moved: back.length,
          spreadSeconds: back.length > 0 ? (Math.max(...back) - Math.min(...back)) / 1000 : 0,
          peakBackPerSecond: mostInAnyWindow(back, 1000),
        };
      }),
      latencyMs: { before: histogram("before"), during: histogram("during") },
    };
    log(
      `lost ${results.lost}, duplicated ${results.duplicated}, out of order ${results.outOfOrder}, resume failures ${results.resumeFailures}${results.firstResumeFailure ? ` (${results.firstResumeFailure})` : ""}; ` +
        `peak connects ${results.connects.peakPerSecond}/s (bound ${results.connects.bound}); ` +
        `p99 ${results.latencyMs.before.p99.toFixed(1)} ms before, ${results.latencyMs.during.p99.toFixed(1)} ms during`,
    );
    return results;
  } finally {
    for (const worker of workers) await worker.close({ type: "close" });
    await upstream.close();
    await stack.stop();
    await stopGatewayProcesses();
  }
}

async function main(): Promise<void> {
  console.log(
    `rolling deploy: ${CLIENTS} clients through nginx over ${INSTANCES} gateways, ${TRADES_PER_SECOND} trades/s, both restarted; on ${machineDescription()}, load ${os.loadavg()[0]?.toFixed(1)}`,
  );
  const results = await runDeploy();
  if (!process.argv.includes("--no-report")) {
    writeDeployPage(results);
    console.log("report: docs/benchmarks/deploy.md and the rolling-deploy section of BENCHMARKS.md");
  }
}

if (process.argv[1] && path.resolve(process.argv[1]) === path.resolve(new URL(import.meta.url).pathname)) {
  main().catch((error) => {
    console.error(error);
    process.exit(1);
  });
}

/** "recovered:false (ahead_of_head) x 150, gap: too_old x 2": each failure by what it said. */
function byReason(failures: string[]): string | undefined {
  if (failures.length === 0) return undefined;
  const counts = new Map<string, number>();
  for (const failure of failures) counts.set(failure, (counts.get(failure) ?? 0) + 1);
  return [...counts]
    .sort(([, a], [, b]) => b - a)
    .map(([failure, count]) => `${failure} x ${count}`)
    .join(", ");
}
