/**
 * `npm run bench:storm`: the reconnect storm. A real nats-server with JetStream (its own temporary
 * store, loopback only), the real gateway (src/main.ts on its real channels; `trades` is lossless),
 * and 1,000 clients over 4 worker processes and source addresses 127.0.0.2 to .5:
 *
 * 1. every client subscribes to trades; 10 trades are published and each client keeps the last
 *    (seq, epoch) it got;
 * 2. every client disconnects, and 100 trades are published (stored by JetStream) while they are away;
 * 3. all 1,000 reconnect within one second (each at a random offset in [0, 1 s)) and subscribe with
 *    `since`; each is timed from its own reconnect start to the `replayed` frame, and must have
 *    exactly the 100 missed trades, in order, before it.
 *
 * Measured during the storm: the gateway's CPU (user+sys) and peak RSS, and the JetStream consumers
 * alive on the channels' streams (the JetStream API polled every 50 ms, and the gateway's own
 * gateway_jetstream_replay_consumers_peak). Run twice: with the default ring (the resumes are served
 * from memory) and with WEBSOCKET_HISTORY_SIZE=10 (the ring holds only the newest 10 of the 100
 * missed trades: the 90 before them must come from JetStream through replay consumers, at most
 * NATS_REPLAY_CONSUMERS_MAX = 8 at once).
 *
 * Results: bench/results/resume-latest.json (the `storm` part) and the "Resume and positions"
 * section of docs/benchmarks/resume.md. `--no-report` leaves docs/benchmarks/resume.md alone.
 */
import { type ChildProcess, execFileSync, fork } from "node:child_process";
import os from "node:os";
import path from "node:path";
import { jetstreamManager } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import WebSocket from "ws";
import { preciseNow } from "./lib/now.js";
import { cpuSample, rssBytes } from "./lib/proc-stats.js";
import {
  readResumeResults,
  type StormResult,
  writeResumeResults,
  writeResumeSection,
} from "./lib/resume-report.js";
import { startTarget } from "./lib/targets.js";
import type { PositionsReply, ReconnectReply, ResumeRecord, StormCommand } from "./load/storm-worker.js";
import { startNatsServer } from "./peers/nats-websocket.js";

const HERE = path.dirname(new URL(import.meta.url).pathname);
/** `--clients=N` to try the harness quickly; the figures reported are for 1,000. */
const CLIENTS = Number(
  process.argv.find((argument) => argument.startsWith("--clients="))?.slice("--clients=".length) ?? 1000,
);
const WORKERS = 4;
const WARM_UP_TRADES = 10;
const MISSED_TRADES = 100;
const SPREAD_MS = 1000;
const CLIENT_TIMEOUT_MS = 30_000;
const POLL_MS = 50;
const REPLAY_CONSUMERS_MAX = 8;
/** Bound on every wait for a condition (a process, a frame count, a metric). */
const WAIT_MS = 20_000;

export interface StormVariant {
  name: string;
  description: string;
  env: Record<string, string>;
}

export const STORM_VARIANTS: StormVariant[] = [
  { name: "ring", description: "default settings: the in-memory ring serves the resumes", env: {} },
  {
    name: "jetstream-replay",
    description:
      "WEBSOCKET_HISTORY_SIZE=10: the ring holds the newest 10 of the 100 missed trades; the 90 before them come from JetStream replay consumers",
    env: { WEBSOCKET_HISTORY_SIZE: "10" },
  },
];

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function until(check: () => boolean | Promise<boolean>, what: string): Promise<void> {
  const deadline = Date.now() + WAIT_MS;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`storm: gave up waiting for ${what} after ${WAIT_MS} ms`);
    await sleep(50);
  }
}

interface StormWorker {
  child: ChildProcess;
  ask<T>(command: StormCommand, replyType: string): Promise<T>;
}

function startWorker(): StormWorker {
  const child = fork(path.join(HERE, "load/storm-worker.ts"), [], {
    execArgv: ["--import", "tsx"],
    stdio: ["ignore", "inherit", "inherit", "ipc"],
  });
  return {
    child,
    ask: <T>(command: StormCommand, replyType: string) =>
      new Promise<T>((resolve, reject) => {
        const onMessage = (message: { type: string }) => {
          if (message.type !== replyType) return;
          child.off("message", onMessage);
          child.off("exit", onExit);
          resolve(message as T);
        };
        const onExit = (code: number | null) => reject(new Error(`storm worker exited (${code})`));
        child.on("message", onMessage);
        child.once("exit", onExit);
        child.send(command);
      }),
  };
}

/** A value of the gateway's /metrics, summed over the series matching `labels` (a substring). */
function metric(text: string, name: string, labels = ""): number {
  let sum = 0;
  for (const line of text.split("\n")) {
    if (!line.startsWith(name) || line.startsWith("#")) continue;
    const series = line.slice(0, line.lastIndexOf(" "));
    if (series !== name && !series.startsWith(`${name}{`)) continue;
    if (labels && !series.includes(labels)) continue;
    sum += Number(line.slice(line.lastIndexOf(" ") + 1));
  }
  return sum;
}

function percentile(sorted: number[], q: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)] as number;
}

const trade = (n: number) =>
  JSON.stringify({ symbol: "AAPL", side: "BUY", quantity: 1, price: 10, trade_id: `t-${n}` });

export async function runStorm(variant: StormVariant): Promise<StormResult> {
  const nats = await startNatsServer({ withWebSocket: false, jetStream: true });
  const workers: StormWorker[] = [];
  let gateway: Awaited<ReturnType<typeof startTarget>> | undefined;
  let observer: WebSocket | undefined;
  const nc = await connect({ servers: nats.url, name: "bench-storm" });
  try {
    gateway = await startTarget("gateway", {
      natsUrl: nats.url,
      benchPlugin: false,
      gatewayEnv: { NATS_REPLAY_CONSUMERS_MAX: String(REPLAY_CONSUMERS_MAX), ...variant.env },
    });
    const gatewayPid = gateway.pid;
    const httpUrl = gateway.url.replace("ws://", "http://").replace(/\/ws$/, "");
    const metrics = async () => (await fetch(`${httpUrl}/metrics`)).text();
    const jsm = await jetstreamManager(nc);
    const streams: string[] = [];
    for await (const info of jsm.streams.list()) streams.push(info.config.name);
    streams.sort();
    const countConsumers = async () => {
      let total = 0;
      for (const stream of streams) total += (await jsm.consumers.list(stream).next()).length;
      return total;
    };

    // One observer on 127.0.0.1 stays connected throughout: it shows when the gateway has a trade.
    let observed = 0;
    observer = new WebSocket(gateway.url, { perMessageDeflate: false });
    observer.on("error", () => {});
    observer.on("message", (data) => {
      if (String(data).startsWith('{"type":"trade_executed"')) observed++;
    });
    await new Promise((resolve, reject) => {
      observer?.once("open", resolve);
      observer?.once("error", reject);
    });

    console.log(`  ${variant.name}: connecting ${CLIENTS} clients over ${WORKERS} workers`);
    const perWorker = Math.ceil(CLIENTS / WORKERS);
    const connected = await Promise.all(
      Array.from({ length: WORKERS }, (_, index) => {
        const worker = startWorker();
        workers.push(worker);
        return worker.ask<{ failed: number }>(
          {
            type: "connect",
            url: gateway?.url ?? "",
            count: Math.min(perWorker, CLIENTS - index * perWorker),
            localAddress: `127.0.0.${2 + index}`,
          },
          "connected",
        );
      }),
    );
    const connectFailures = connected.reduce((sum, reply) => sum + reply.failed, 0);
    if (connectFailures > 0) throw new Error(`storm: ${connectFailures} clients failed to connect`);

    let published = 0;
    for (; published < WARM_UP_TRADES; ) nc.publish("execution.trades.bench", trade(++published));
    await nc.flush();
    await until(() => observed === WARM_UP_TRADES, `the observer to get ${WARM_UP_TRADES} trades`);
    const positionsOf = async () =>
      Promise.all(workers.map((worker) => worker.ask<PositionsReply>({ type: "positions" }, "positions")));
    const head = (await jsm.streams.info("GATEWAY_TRADES")).state.last_seq;
    await until(
      async () =>
        (await positionsOf()).every((reply) => reply.withPosition === reply.clients && reply.minSeq === head),
      `every client to hold position ${head}`,
    );
    const before = await positionsOf();
    const epochs = [...new Set(before.flatMap((reply) => reply.epochs))];

    console.log(`  ${variant.name}: all at seq ${head}; disconnecting, publishing ${MISSED_TRADES} trades`);
    await Promise.all(workers.map((worker) => worker.ask({ type: "disconnect" }, "disconnected")));
    await until(
      async () => metric(await metrics(), "gateway_websocket_connections") === 1,
      "the gateway to see only the observer",
    );
    const missedTradeIds: string[] = [];
    for (let k = 0; k < MISSED_TRADES; k++) {
      nc.publish("execution.trades.bench", trade(++published));
      missedTradeIds.push(`t-${published}`);
    }
    await nc.flush();
    await until(() => observed === WARM_UP_TRADES + MISSED_TRADES, "the observer to get the missed trades");
    const stored = (await jsm.streams.info("GATEWAY_TRADES")).state.last_seq - head;
    const liveConsumers = await countConsumers();
    const rssBefore = rssBytes(gatewayPid);

    // The storm, with the JetStream API and the gateway's memory polled throughout.
    const startAt = preciseNow() + 300;
    let peakConsumers = liveConsumers;
    let peakRss = rssBefore;
    let polls = 0;
    let stormOver = false;
    const polling = (async () => {
      const deadline = Date.now() + CLIENT_TIMEOUT_MS + 10_000;
      while (!stormOver && Date.now() < deadline) {
        peakConsumers = Math.max(peakConsumers, await countConsumers().catch(() => 0));
        peakRss = Math.max(peakRss, rssBytes(gatewayPid));
        polls++;
        await sleep(POLL_MS);
      }
    })();
    console.log(`  ${variant.name}: ${CLIENTS} clients reconnect within ${SPREAD_MS} ms`);
    await sleep(Math.max(0, startAt - preciseNow()));
    const cpuBefore = cpuSample(gatewayPid);
    const loadAverage = os.loadavg()[0] ?? 0;
    const replies = await Promise.all(
      workers.map((worker) =>
        worker.ask<ReconnectReply>(
          { type: "reconnect", startAt, spreadMs: SPREAD_MS, missedTradeIds, timeoutMs: CLIENT_TIMEOUT_MS },
          "reconnected",
        ),
      ),
    );
    const cpuAfter = cpuSample(gatewayPid);
    stormOver = true;
    await polling;
    peakRss = Math.max(peakRss, rssBytes(gatewayPid));
    const text = await metrics();

    const records: ResumeRecord[] = replies.flatMap((reply) => reply.records);
    const complete = records.filter((record) => record.ok);
    const durations = complete.map((record) => record.doneMs).sort((a, b) => a - b);
    const firstStart = Math.min(...records.map((record) => record.startedAt));
    const lastDone = Math.max(...complete.map((record) => record.startedAt + record.doneMs));
    const problems = new Map<string, number>();
    for (const record of records) {
      if (record.problem) problems.set(record.problem, (problems.get(record.problem) ?? 0) + 1);
    }
    const windowMs = Math.max(1, cpuAfter.at - cpuBefore.at);
    const result: StormResult = {
      variant: variant.name,
      description: variant.description,
      env: { NATS_REPLAY_CONSUMERS_MAX: String(REPLAY_CONSUMERS_MAX), ...variant.env },
      clients: CLIENTS,
      workers: WORKERS,
      missedTrades: MISSED_TRADES,
      storedWhileAway: stored,
      epochs: epochs.length,
      streams,
      complete: complete.length,
      failed: records.length - complete.length,
      problems: Object.fromEntries(problems),
      perClientMs: {
        p50: percentile(durations, 0.5),
        p99: percentile(durations, 0.99),
        max: durations.at(-1) ?? Number.NaN,
      },
      openP50Ms: percentile(
        records
          .map((record) => record.openMs)
          .filter((ms) => !Number.isNaN(ms))
          .sort((a, b) => a - b),
        0.5,
      ),
      ackP50Ms: percentile(
        records
          .map((record) => record.ackMs)
          .filter((ms) => !Number.isNaN(ms))
          .sort((a, b) => a - b),
        0.5,
      ),
      reconnectSpreadMs: Math.max(...records.map((record) => record.startedAt)) - firstStart,
      overallMs: complete.length === records.length ? lastDone - firstStart : Number.NaN,
      gatewayCpu: {
        userMs: cpuAfter.userMs - cpuBefore.userMs,
        systemMs: cpuAfter.systemMs - cpuBefore.systemMs,
        windowMs,
      },
      gatewayRssBytes: { before: rssBefore, peak: peakRss },
      busiestWorkerCpuPercent: Math.max(...replies.map((reply) => (reply.cpuMs / windowMs) * 100)),
      loadAverage,
      consumers: {
        liveBefore: liveConsumers,
        peakPolled: peakConsumers,
        polls,
        replayPeakMetric: metric(text, "gateway_jetstream_replay_consumers_peak"),
        liveMetric: metric(text, "gateway_jetstream_consumers", 'kind="live"'),
        bound: streams.length * 1 + REPLAY_CONSUMERS_MAX,
      },
      resumesRecovered: metric(text, "gateway_resumes_total", 'outcome="recovered"'),
      resumesTotal: metric(text, "gateway_resumes_total"),
      framesReplayed: metric(text, "gateway_frames_replayed_total"),
    };
    console.log(
      `  ${variant.name}: ${result.complete}/${CLIENTS} complete and verified, per client p50 ${result.perClientMs.p50.toFixed(0)} ms ` +
        `p99 ${result.perClientMs.p99.toFixed(0)} ms max ${result.perClientMs.max.toFixed(0)} ms, overall ${result.overallMs.toFixed(0)} ms, ` +
        `gateway cpu ${((result.gatewayCpu.userMs + result.gatewayCpu.systemMs) / 1000).toFixed(2)} s, rss peak ${(peakRss / 2 ** 20).toFixed(0)} MB, ` +
        `consumers peak ${peakConsumers} (polled ${polls}x), replay peak metric ${result.consumers.replayPeakMetric}` +
        (problems.size ? `, problems ${JSON.stringify(result.problems)}` : ""),
    );
    return result;
  } finally {
    for (const worker of workers) {
      if (worker.child.exitCode !== null) continue;
      const exited = new Promise((resolve) => worker.child.once("exit", resolve));
      worker.child.send({ type: "close" });
      const timer = setTimeout(() => worker.child.kill("SIGKILL"), 5000);
      await exited;
      clearTimeout(timer);
    }
    observer?.terminate();
    await gateway?.stop();
    await nc.close().catch(() => undefined);
    await nats.stop();
  }
}

/** The commit measured (short), with "+changes" when the work tree differs from it. */
export function headCommit(): string {
  const git = (...args: string[]) => execFileSync("git", args, { cwd: HERE, encoding: "utf8" }).trim();
  const dirty = git("status", "--porcelain", "--", "../src", "../plugins") !== "";
  return `${git("rev-parse", "--short", "HEAD")}${dirty ? " (+ uncommitted changes in src/ or plugins/)" : ""}`;
}

export function machineDescription(): string {
  return `${os.cpus().length} x ${os.cpus()[0]?.model ?? "cpu"}, ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB, Node ${process.version}, ${os.type()} ${os.release()}`;
}

async function main(): Promise<void> {
  const started = Date.now();
  console.log(
    `reconnect storm: ${CLIENTS} clients, ${MISSED_TRADES} missed trades, on ${machineDescription()}`,
  );
  const storm: StormResult[] = [];
  for (const variant of STORM_VARIANTS) storm.push(await runStorm(variant));
  const document = readResumeResults();
  document.storm = {
    at: new Date().toISOString(),
    machine: machineDescription(),
    commit: headCommit(),
    results: storm,
  };
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
