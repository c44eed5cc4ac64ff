/**
 * `npm run bench:quality`: delivery quality under load (client-chosen intervals, degrade before
 * disconnect). Every run has its own nats-server and gateway (`src/main.ts` with the bench plugin),
 * 1,000 clients over 4 worker processes on 127.0.0.2 to .5, and publishers in their own processes.
 *
 * intervals   the matrix's price scenario (500 symbols, 5,000 ticks/s, 1,000 clients x 20 symbols,
 *             the same watchlists) in three configurations, taking turns in each repetition:
 *               single-1000  every client on the channel's interval (1 s, no interval_ms): the
 *                            matrix's price scenario as it is
 *               four         250 clients each at interval_ms 250, 500, 1000 and 2000
 *               single-250   every client at interval_ms 250 (context: the most frames per second)
 *             Measured over a window after warm-up: gateway CPU (user+sys) and price_update frames
 *             per client per second, per interval group.
 * throttled   1,000 clients on price_updates; 990 "others" (20 symbols, 1 s, plus the bench
 *             channel at --rate msg/s, 300 B, whose stamps give latency) and 10 clients on every
 *             symbol at interval_ms 100 and not on the bench channel. In "throttled" the 10 read at a
 *             tenth of the bytes/s they got at full speed (socket paused, resumed in 50 ms bursts
 *             while they have credit); in "baseline" the same 10 read at full speed. Both with
 *             lowered thresholds (--degrade-bytes, --drop-bytes), since the kernel absorbs MBs per
 *             loopback socket before the gateway sees a backlog. After the window the 10 read their
 *             backlog at full speed, and their delivery_status frames and the gateway timestamps of
 *             their price frames tell what the gateway did while they lagged.
 *
 * Options: --reps=N (3), --only=intervals|throttled, --rate=N (bench msg/s for the others, 40),
 * --window=S (measurement window, s), --ramp=S (throttled: time from throttling to the window),
 * --commit=REV (run the gateway of that commit from a temporary git worktree instead of the
 * working tree), --no-report (leave docs/benchmarks/quality.md alone).
 * Results: bench/results/quality-latest.json and the "Delivery quality" section of docs/benchmarks/quality.md.
 */
import { type ChildProcess, execFileSync, fork } from "node:child_process";
import { writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { checkOutEarlierCommit } from "./lib/earlier-commit.js";
import { LatencyHistogram } from "./lib/histogram.js";
import { forkIpcChild } from "./lib/ipc-child.js";
import { cpuSample, rssBytes } from "./lib/proc-stats.js";
import {
  type IntervalsRun,
  QUALITY_RESULTS_FILE,
  type QualityResults,
  readQualityResults,
  type ThrottledRun,
  writeQualitySection,
} from "./lib/quality-report.js";
import { startTarget } from "./lib/targets.js";
import type { PublisherJob } from "./load/publisher.js";
import type { ClientSpec, QualityCommand, QualityReport, ThrottledReport } from "./load/quality-worker.js";
import { watchlist } from "./load/worker.js";
import { startNatsServer } from "./peers/nats-websocket.js";
import { headCommit, machineDescription } from "./storm.js";

const HERE = path.dirname(new URL(import.meta.url).pathname);
const REPO_ROOT = path.resolve(HERE, "..");
const argument = (name: string) =>
  process.argv.find((candidate) => candidate.startsWith(`--${name}=`))?.slice(name.length + 3);

const REPS = Number(argument("reps") ?? 3);
const ONLY = argument("only");
const BENCH_RATE = Number(argument("rate") ?? 40);
const COMMIT = argument("commit");
/** `--clients=N` to try the harness quickly; the figures reported are for 1,000. */
const CLIENTS = Number(argument("clients") ?? 1000);
const DEBUG = process.argv.includes("--debug");
const WORKERS = 4;
const SYMBOLS = 500;
const PER_CLIENT = 20;
const TICKS_PER_SECOND = 5000;
const CHANNEL_INTERVAL_S = 1;
const INTERVALS_MS = [250, 500, 1000, 2000];
/** Price scenario: publisher warm-up before the window (every group's timer has fired a few times). */
const SETTLE_MS = 3000;
const INTERVALS_WINDOW_MS = Number(argument("window") ?? 10) * 1000;
/** Throttled scenario. */
const THROTTLED = 10;
const THROTTLED_INTERVAL_MS = 100;
const THROTTLE_FRACTION = 0.1;
const FULL_SPEED_MS = 3000;
/** Long enough for the kernel's buffers (MBs per loopback socket) to fill and the degrade to ramp. */
const RAMP_MS = Number(argument("ramp") ?? 40) * 1000;
const THROTTLED_WINDOW_MS = Number(argument("window") ?? 10) * 1000;
const DROP_BYTES = Number(argument("drop-bytes") ?? 256 * 1024);
const DEGRADE_BYTES = Number(argument("degrade-bytes") ?? 64 * 1024);
const DEGRADE_MAX_FACTOR = 16;
/** Bounds on every wait. */
const REPLY_TIMEOUT_MS = 90_000;
const RELEASE_QUIET_MS = 1500;
const RELEASE_MAX_MS = 40_000;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const universe = Array.from({ length: SYMBOLS }, (_, i) => `S${String(i).padStart(3, "0")}`);

interface Worker {
  child: ChildProcess;
  ask<T>(command: QualityCommand, replyType: string): Promise<T>;
  close(): Promise<void>;
}

function startWorker(): Worker {
  const worker = forkIpcChild<QualityCommand>(path.join(HERE, "load/quality-worker.ts"));
  return {
    child: worker.child,
    ask: <T>(command: QualityCommand, replyType: string) =>
      worker.ask<T>(command, replyType, REPLY_TIMEOUT_MS),
    close: () => worker.close({ type: "close" }),
  };
}

/** A publisher process (bench/load/publisher.ts); `done` resolves when it has published everything. */
function startPublisher(job: PublisherJob): {
  child: ChildProcess;
  started: Promise<void>;
  done: Promise<number>;
} {
  const child = fork(path.join(HERE, "load/publisher.ts"), [], {
    execArgv: ["--import", "tsx"],
    stdio: ["ignore", "inherit", "inherit", "ipc"],
  });
  const started = new Promise<void>((resolve, reject) => {
    child.on("message", (message: { type: string }) => message.type === "started" && resolve());
    child.once("exit", (code) => reject(new Error(`publisher exited (${code}) before it connected`)));
  });
  const done = new Promise<number>((resolve, reject) => {
    child.on("message", (message: { type: string; report: { published: number } }) => {
      if (message.type === "done") resolve(message.report.published);
    });
    child.once("exit", (code) => code !== 0 && reject(new Error(`publisher exited (${code})`)));
  });
  // Handled where awaited; these keep an early exit from being an unhandled rejection meanwhile.
  started.catch(() => {});
  done.catch(() => {});
  child.send(job);
  return { child, started, done };
}

/** Stop a child by its own pid (SIGTERM, then SIGKILL), and wait until it is gone. */
async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const gone = new Promise((resolve) => child.once("exit", resolve));
  child.kill("SIGTERM");
  const timer = setTimeout(() => child.kill("SIGKILL"), 3000);
  await gone;
  clearTimeout(timer);
}

function metric(text: string, name: string): number {
  let sum = 0;
  for (const line of text.split("\n")) {
    if (line.startsWith("#") || !line.startsWith(name)) continue;
    const series = line.slice(0, line.lastIndexOf(" "));
    if (series === name || series.startsWith(`${name}{`))
      sum += Number(line.slice(line.lastIndexOf(" ") + 1));
  }
  return sum;
}

interface Session {
  natsUrl: string;
  gatewayPid: number;
  metrics(): Promise<string>;
  workers: Worker[];
  children: ChildProcess[];
}

/**
 * Start nats-server, the gateway and 4 workers (a contiguous quarter of `specs` each, from
 * 127.0.0.2 to .5), connect and subscribe every client, run `body`, and stop every process started
 * here (by its own handle) whatever happens.
 */
async function withSession<T>(
  env: Record<string, string>,
  specs: ClientSpec[],
  gatewayRoot: string | undefined,
  body: (session: Session) => Promise<T>,
): Promise<T> {
  const nats = await startNatsServer({ withWebSocket: false });
  const workers: Worker[] = [];
  const children: ChildProcess[] = [];
  let target: Awaited<ReturnType<typeof startTarget>> | undefined;
  try {
    target = await startTarget("gateway", { natsUrl: nats.url, gatewayEnv: env, gatewayRoot });
    const httpBase = (target.url as string).replace(/^ws/, "http").replace(/\/ws$/, "");
    const perWorker = Math.ceil(specs.length / WORKERS);
    const replies = await Promise.all(
      Array.from({ length: WORKERS }, (_, index) => {
        const worker = startWorker();
        workers.push(worker);
        return worker.ask<{ ms: number; failed: number }>(
          {
            type: "connect",
            url: target?.url ?? "",
            localAddress: `127.0.0.${2 + index}`,
            clients: specs.slice(index * perWorker, (index + 1) * perWorker),
          },
          "connected",
        );
      }),
    );
    const failed = replies.reduce((sum, reply) => sum + reply.failed, 0);
    if (failed > 0) throw new Error(`${failed} clients could not connect and subscribe`);
    return await body({
      natsUrl: nats.url,
      gatewayPid: target.pid,
      metrics: async () => (await fetch(`${httpBase}/metrics`)).text(),
      workers,
      children,
    });
  } finally {
    for (const child of children) await stopChild(child);
    for (const worker of workers) await worker.close();
    await target?.stop();
    await nats.stop();
  }
}

function gatewayEnvFor(): Record<string, string> {
  return { WEBSOCKET_PRICE_UPDATE_INTERVAL: String(CHANNEL_INTERVAL_S) };
}

// ---------------------------------------------------------------- intervals

type IntervalsConfig = "single-1000" | "four" | "single-250";
const INTERVALS_CONFIGS: IntervalsConfig[] = ["single-1000", "four", "single-250"];

function intervalsSpecs(config: IntervalsConfig): ClientSpec[] {
  return Array.from({ length: CLIENTS }, (_, index) => {
    const symbols = watchlist(universe, PER_CLIENT, index);
    if (config === "single-1000") return { group: "1000ms", symbols };
    const intervalMs = config === "single-250" ? 250 : (INTERVALS_MS[index % INTERVALS_MS.length] as number);
    return { group: `${intervalMs}ms`, symbols, intervalMs };
  });
}

async function runIntervals(
  config: IntervalsConfig,
  gatewayRoot?: string,
): Promise<Omit<IntervalsRun, "repetition">> {
  return withSession(gatewayEnvFor(), intervalsSpecs(config), gatewayRoot, async (session) => {
    const publisher = startPublisher({
      natsUrl: session.natsUrl,
      subject: "market.prices",
      ratePerSecond: TICKS_PER_SECOND,
      durationMs: SETTLE_MS + INTERVALS_WINDOW_MS + 2000,
      payloadBytes: 0,
      kind: "price",
      symbols: universe,
    });
    session.children.push(publisher.child);
    await publisher.started;
    await sleep(SETTLE_MS);
    await Promise.all(session.workers.map((worker) => worker.ask({ type: "window" }, "window-open")));
    const cpuBefore = cpuSample(session.gatewayPid);
    await sleep(INTERVALS_WINDOW_MS);
    const cpuAfter = cpuSample(session.gatewayPid);
    const rss = rssBytes(session.gatewayPid);
    const reports = await Promise.all(
      session.workers.map((worker) => worker.ask<{ report: QualityReport }>({ type: "report" }, "report")),
    );
    await publisher.done;
    const seconds = (cpuAfter.at - cpuBefore.at) / 1000;
    const groups = mergeGroups(reports.map((reply) => reply.report));
    return {
      config,
      cpuPercent:
        (cpuAfter.userMs - cpuBefore.userMs + cpuAfter.systemMs - cpuBefore.systemMs) / 10 / seconds,
      rssBytes: rss,
      windowSeconds: seconds,
      busiestWorkerPercent: busiestWorker(reports, seconds),
      groups: Object.fromEntries(
        Object.entries(groups).map(([name, group]) => [
          name,
          {
            clients: group.clients,
            framesPerClientPerSecond: group.frames / group.clients / seconds,
            minPerClient: group.minPerClient,
            maxPerClient: group.maxPerClient,
            foreignSymbols: group.foreignSymbols,
            closedByServer: group.closedByServer,
            ackMismatches: group.ackMismatches,
            ackIntervals: group.ackIntervals,
            meanGapMs: group.gapCount ? group.gapSumMs / group.gapCount : Number.NaN,
            maxGapMs: group.gapMaxMs,
          },
        ]),
      ),
    };
  });
}

function mergeGroups(reports: QualityReport[]): QualityReport["groups"] {
  const merged: QualityReport["groups"] = {};
  for (const report of reports) {
    for (const [name, group] of Object.entries(report.groups)) {
      const into = merged[name];
      if (!into) {
        merged[name] = { ...group, ackIntervals: [...group.ackIntervals] };
        continue;
      }
      into.clients += group.clients;
      into.frames += group.frames;
      into.bytes += group.bytes;
      into.minPerClient = Math.min(into.minPerClient, group.minPerClient);
      into.maxPerClient = Math.max(into.maxPerClient, group.maxPerClient);
      into.foreignSymbols += group.foreignSymbols;
      into.closedByServer += group.closedByServer;
      into.ackMismatches += group.ackMismatches;
      into.gapSumMs += group.gapSumMs;
      into.gapCount += group.gapCount;
      into.gapMaxMs = Math.max(into.gapMaxMs, group.gapMaxMs);
      for (const interval of group.ackIntervals)
        if (!into.ackIntervals.includes(interval)) into.ackIntervals.push(interval);
      const histogram = new LatencyHistogram();
      histogram.merge(into.histogram);
      histogram.merge(group.histogram);
      into.histogram = histogram.toJSON();
    }
  }
  return merged;
}

function busiestWorker(reports: { report: QualityReport }[], seconds: number): number {
  return Math.max(
    ...reports.map(({ report }) => (report.cpuUserMs + report.cpuSystemMs) / 10 / Math.max(0.001, seconds)),
  );
}

// ---------------------------------------------------------------- throttled

type ThrottledConfig = "baseline" | "throttled";
const THROTTLED_CONFIGS: ThrottledConfig[] = argument("configs")
  ? (argument("configs")?.split(",") as ThrottledConfig[])
  : ["baseline", "throttled"];

function throttledSpecs(config: ThrottledConfig): ClientSpec[] {
  // The 10 are spread over the workers: clients 0, 100, 200, ...
  return Array.from({ length: CLIENTS }, (_, index) =>
    index % (CLIENTS / THROTTLED) === 0
      ? {
          group: "the10",
          symbols: "*",
          intervalMs: THROTTLED_INTERVAL_MS,
          leaveBench: true,
          throttled: config === "throttled",
        }
      : { group: "others", symbols: watchlist(universe, PER_CLIENT, index) },
  );
}

async function runThrottled(
  config: ThrottledConfig,
  gatewayRoot?: string,
): Promise<Omit<ThrottledRun, "repetition">> {
  const env = {
    ...gatewayEnvFor(),
    WEBSOCKET_CONFLATED_DROP_BYTES: String(DROP_BYTES),
    WEBSOCKET_DEGRADE_BYTES: String(DEGRADE_BYTES),
    WEBSOCKET_DEGRADE_MAX_FACTOR: String(DEGRADE_MAX_FACTOR),
  };
  return withSession(env, throttledSpecs(config), gatewayRoot, async (session) => {
    const durationMs = 2000 + FULL_SPEED_MS + RAMP_MS + THROTTLED_WINDOW_MS + 1000;
    const prices = startPublisher({
      natsUrl: session.natsUrl,
      subject: "market.prices",
      ratePerSecond: TICKS_PER_SECOND,
      durationMs,
      payloadBytes: 0,
      kind: "price",
      symbols: universe,
    });
    const bench = startPublisher({
      natsUrl: session.natsUrl,
      subject: "bench.feed",
      ratePerSecond: BENCH_RATE,
      durationMs,
      payloadBytes: 300,
      kind: "bench",
    });
    session.children.push(prices.child, bench.child);
    // Measure "full speed" only once both publishers are connected and ticks flow.
    await Promise.all([prices.started, bench.started]);
    await sleep(2000);
    // Full speed for a while: the 10 learn the bytes/s they are sent, and read a tenth of it after.
    await Promise.all(session.workers.map((worker) => worker.ask({ type: "window" }, "window-open")));
    await sleep(FULL_SPEED_MS);
    const throttleAt = Date.now();
    if (config === "throttled") {
      const replies = await Promise.all(
        session.workers.map((worker) =>
          worker.ask<{ count: number }>({ type: "throttle", fraction: THROTTLE_FRACTION }, "throttled"),
        ),
      );
      const count = replies.reduce((sum, reply) => sum + reply.count, 0);
      if (count !== THROTTLED) throw new Error(`${count} clients throttled, not ${THROTTLED}`);
    }
    await sleep(RAMP_MS);
    await Promise.all(session.workers.map((worker) => worker.ask({ type: "window" }, "window-open")));
    const windowStart = Date.now();
    const droppedBefore = metric(await session.metrics(), "gateway_frames_dropped_total");
    const cpuBefore = cpuSample(session.gatewayPid);
    await sleep(THROTTLED_WINDOW_MS);
    const cpuAfter = cpuSample(session.gatewayPid);
    const windowEnd = Date.now();
    const droppedInWindow = metric(await session.metrics(), "gateway_frames_dropped_total") - droppedBefore;
    const rss = rssBytes(session.gatewayPid);
    const reports = await Promise.all(
      session.workers.map((worker) => worker.ask<{ report: QualityReport }>({ type: "report" }, "report")),
    );
    await Promise.all([prices.done, bench.done]);
    const released = await Promise.all(
      session.workers.map((worker) =>
        worker.ask<{ throttled: ThrottledReport[] }>(
          { type: "release", quietMs: RELEASE_QUIET_MS, maxMs: RELEASE_MAX_MS, windowStart, windowEnd },
          "released",
        ),
      ),
    );
    const metrics = await session.metrics();
    const seconds = (cpuAfter.at - cpuBefore.at) / 1000;
    const groups = mergeGroups(reports.map((reply) => reply.report));
    const others = groups.others;
    const the10 = groups.the10;
    if (!others || !the10) throw new Error("missing client groups in the reports");
    if (DEBUG) {
      console.log(
        `\n    the10 in window: frames ${the10.frames}, bytes ${the10.bytes}; frames skipped in the window ${droppedInWindow}`,
      );
      for (const client of released.flatMap((reply) => reply.throttled))
        console.log(
          `    full ${client.fullSpeedBytesPerSecond.toFixed(0)} B/s, read ${client.throttledBytesPerSecond.toFixed(0)} B/s, frames ${client.frameTimes.length} (${((client.frameTimes[0] ?? 0) - throttleAt) / 1000} to ${((client.frameTimes.at(-1) ?? 0) - throttleAt) / 1000} s after throttling), in window ${client.framesInWindow} (window ${(windowStart - throttleAt) / 1000} to ${(windowEnd - throttleAt) / 1000} s), per 5 s ${JSON.stringify(bucketsOf(client.frameTimes, throttleAt))}, read KB per s ${JSON.stringify(client.readTimeline.map((bytes) => Math.round(bytes / 1024)))}, statuses ${JSON.stringify(client.statuses.map((status) => [status.degraded, status.intervalMs, (status.at - throttleAt) / 1000]))}`,
        );
    }
    const histogram = new LatencyHistogram();
    histogram.merge(others.histogram);
    const throttled = released.flatMap((reply) => reply.throttled);
    return {
      config,
      cpuPercent:
        (cpuAfter.userMs - cpuBefore.userMs + cpuAfter.systemMs - cpuBefore.systemMs) / 10 / seconds,
      rssBytes: rss,
      windowSeconds: seconds,
      busiestWorkerPercent: busiestWorker(reports, seconds),
      others: {
        clients: others.clients,
        latencyMs: {
          p50: histogram.percentile(0.5),
          p99: histogram.percentile(0.99),
          p999: histogram.percentile(0.999),
          max: histogram.max / 1000,
        },
        benchFramesPerClientPerSecond: histogram.count / others.clients / seconds,
        priceFramesPerClientPerSecond: others.frames / others.clients / seconds,
        closedByServer: others.closedByServer,
        foreignSymbols: others.foreignSymbols,
      },
      the10: {
        clients: the10.clients,
        // Baseline: frames received in the window (they read at full speed, so received = sent).
        framesPerClientPerSecond:
          config === "baseline"
            ? the10.frames / the10.clients / seconds
            : throttled.reduce((sum, client) => sum + client.framesInWindow, 0) / throttled.length / seconds,
        closedByServer: the10.closedByServer,
        clientsDetail: throttled.map((client) => summarise(client, throttleAt, windowStart, windowEnd)),
      },
      metrics: {
        framesDropped: metric(metrics, "gateway_frames_dropped_total"),
        framesDroppedInWindow: droppedInWindow,
        slowConsumerDisconnects: metric(metrics, "gateway_slow_consumer_disconnects_total"),
      },
    };
  });
}

/** The longest time between frames sent (gateway timestamps) from `from` to `to`, edges included. */
function longestGap(times: number[], from: number, to: number): number {
  let longest = 0;
  let previous = from;
  for (const at of times) {
    if (at < from) continue;
    if (at > to) break;
    longest = Math.max(longest, at - previous);
    previous = at;
  }
  return Math.max(longest, to - previous);
}

/** Frames per 5 s since `from` (debug output). */
function bucketsOf(times: number[], from: number): number[] {
  const buckets: number[] = [];
  for (const at of times) {
    const bucket = Math.max(0, Math.floor((at - from) / 5000));
    buckets[bucket] = (buckets[bucket] ?? 0) + 1;
  }
  return Array.from(buckets, (count) => count ?? 0);
}

function summarise(
  client: ThrottledReport,
  throttleAt: number,
  windowStart: number,
  windowEnd: number,
): ThrottledRun["the10"]["clientsDetail"][number] {
  const degradedFrames = client.statuses.filter((status) => status.degraded);
  const firstDegraded = degradedFrames[0];
  const maxInterval = Math.max(
    THROTTLED_INTERVAL_MS,
    ...client.statuses.map((status) => status.intervalMs ?? THROTTLED_INTERVAL_MS),
  );
  // The factor in force across the window: the last status before its end.
  const inWindow = client.statuses.filter((status) => status.at < windowEnd).at(-1);
  const last = client.statuses.at(-1);
  return {
    connected: client.connected,
    closeCode: client.closeCode,
    fullSpeedBytesPerSecond: client.fullSpeedBytesPerSecond,
    throttledBytesPerSecond: client.throttledBytesPerSecond,
    degradedFrames: degradedFrames.length,
    statusFrames: client.statuses.length,
    firstDegradedAfterMs: firstDegraded ? firstDegraded.at - throttleAt : undefined,
    maxFactor: maxInterval / THROTTLED_INTERVAL_MS,
    factorAtWindowEnd: (inWindow?.intervalMs ?? THROTTLED_INTERVAL_MS) / THROTTLED_INTERVAL_MS,
    restored: last !== undefined && !last.degraded,
    framesPerSecondInWindow: client.framesInWindow / ((windowEnd - windowStart) / 1000),
    longestGapMs: longestGap(client.frameTimes, throttleAt, windowEnd),
    foreignSymbols: client.foreignSymbols,
  };
}

// ---------------------------------------------------------------- driver

const pct = (value: number) => `${value.toFixed(0)}%`;

export async function runQuality(
  reps = REPS,
  only = ONLY,
  command = `npm run bench:quality${process.argv.length > 2 ? ` -- ${process.argv.slice(2).join(" ")}` : ""}`,
): Promise<QualityResults> {
  const tree = COMMIT ? checkOutEarlierCommit(COMMIT) : undefined;
  const onSignal = () => {
    tree?.remove();
    process.exit(130);
  };
  process.once("SIGINT", onSignal);
  process.once("SIGTERM", onSignal);
  const commit = COMMIT
    ? execFileSync("git", ["rev-parse", "--short", COMMIT], { cwd: REPO_ROOT, encoding: "utf8" }).trim()
    : headCommit();
  const results: QualityResults = {
    at: new Date().toISOString(),
    machine: machineDescription(),
    commit,
    loadAverage: os.loadavg()[0] as number,
    command,
    settings: {
      clients: CLIENTS,
      workers: WORKERS,
      symbols: SYMBOLS,
      perClient: PER_CLIENT,
      ticksPerSecond: TICKS_PER_SECOND,
      intervalsMs: INTERVALS_MS,
      intervalsWindowS: INTERVALS_WINDOW_MS / 1000,
      throttled: THROTTLED,
      throttledIntervalMs: THROTTLED_INTERVAL_MS,
      throttleFraction: THROTTLE_FRACTION,
      benchRate: BENCH_RATE,
      rampS: RAMP_MS / 1000,
      throttledWindowS: THROTTLED_WINDOW_MS / 1000,
      dropBytes: DROP_BYTES,
      degradeBytes: DEGRADE_BYTES,
      degradeMaxFactor: DEGRADE_MAX_FACTOR,
    },
    intervals: [],
    throttled: [],
  };
  try {
    for (let repetition = 1; repetition <= reps; repetition++) {
      if (!only || only === "intervals") {
        // Rotate the order, so that no configuration always runs first in a repetition.
        for (let k = 0; k < INTERVALS_CONFIGS.length; k++) {
          const config = INTERVALS_CONFIGS[
            (k + repetition - 1) % INTERVALS_CONFIGS.length
          ] as IntervalsConfig;
          const started = Date.now();
          process.stdout.write(`  intervals rep ${repetition}/${reps} ${config.padEnd(11)} `);
          const run = await runIntervals(config, tree?.root);
          results.intervals.push({ ...run, repetition });
          const groups = Object.entries(run.groups)
            .map(
              ([name, group]) =>
                `${name} ${group.framesPerClientPerSecond.toFixed(2)}/s (gap ${group.meanGapMs.toFixed(0)} ms, max ${group.maxGapMs})`,
            )
            .join(", ");
          console.log(
            `cpu ${pct(run.cpuPercent)}, frames per client: ${groups}, busiest worker ${pct(run.busiestWorkerPercent)} (${((Date.now() - started) / 1000).toFixed(0)} s)`,
          );
        }
      }
      if (!only || only === "throttled") {
        for (let k = 0; k < THROTTLED_CONFIGS.length; k++) {
          const config = THROTTLED_CONFIGS[
            (k + repetition - 1) % THROTTLED_CONFIGS.length
          ] as ThrottledConfig;
          const started = Date.now();
          process.stdout.write(`  throttled rep ${repetition}/${reps} ${config.padEnd(9)} `);
          const run = await runThrottled(config, tree?.root);
          results.throttled.push({ ...run, repetition });
          const detail = run.the10.clientsDetail;
          console.log(
            `others p99 ${run.others.latencyMs.p99.toFixed(1)} ms (p50 ${run.others.latencyMs.p50.toFixed(1)}), cpu ${pct(run.cpuPercent)}, ` +
              `the 10: ${run.the10.framesPerClientPerSecond.toFixed(2)} frames/s` +
              (config === "throttled"
                ? `, connected ${detail.filter((client) => client.connected).length}/${detail.length}, degraded ${detail.filter((client) => client.degradedFrames > 0).length}/${detail.length}, max factor ${Math.max(...detail.map((client) => client.maxFactor))}`
                : "") +
              ` (${((Date.now() - started) / 1000).toFixed(0)} s)`,
          );
        }
      }
    }
  } finally {
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
    tree?.remove();
  }
  return results;
}

async function main(): Promise<void> {
  const started = Date.now();
  console.log(
    `delivery quality: ${CLIENTS} clients over ${WORKERS} workers, ${REPS} repetitions${ONLY ? `, only ${ONLY}` : ""}${COMMIT ? `, gateway of ${COMMIT}` : ""}; on ${machineDescription()}, load ${os.loadavg()[0]?.toFixed(1)}`,
  );
  let results = await runQuality();
  const previous = readQualityResults();
  if (ONLY && previous) {
    // One part redone: keep the other part of the previous results, and say so in the header.
    const kept = ONLY === "intervals" ? "throttled" : "intervals";
    results = {
      ...results,
      [kept]: previous[kept],
      command: `${previous.command} (${kept}); ${results.command} (${ONLY})`,
      commit:
        previous.commit === results.commit
          ? results.commit
          : `${previous.commit} (${kept}), ${results.commit} (${ONLY})`,
    };
  }
  writeFileSync(QUALITY_RESULTS_FILE, `${JSON.stringify(results, null, 2)}\n`);
  console.log(
    `results: ${path.relative(process.cwd(), QUALITY_RESULTS_FILE)} (${((Date.now() - started) / 1000).toFixed(0)} s)`,
  );
  if (!process.argv.includes("--no-report")) writeQualitySection(results);
}

if (process.argv[1] && path.resolve(process.argv[1]) === path.resolve(new URL(import.meta.url).pathname)) {
  main().catch((error) => {
    console.error(error);
    process.exit(1);
  });
}
