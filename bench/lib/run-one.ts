/**
 * One measurement: a fresh nats-server, one target server, its clients spread over worker
 * processes and source addresses, one publisher, and everything the issue asks to measure.
 * Every process started here is stopped here, whatever happens.
 */
import { type ChildProcess, fork } from "node:child_process";
import os from "node:os";
import path from "node:path";
import type { PublisherJob, PublisherReport } from "../load/publisher.js";
import type { WorkerCommand, WorkerReport } from "../load/worker.js";
import { startNatsServer } from "../peers/nats-websocket.js";
import { coreBusyPercent, coreSample, LOAD_CPU, SERVER_CPU } from "./cpu-pinning.js";
import { type GatewayWindow, gatewayWindow, scrapeMetrics } from "./gateway-window.js";
import { LatencyHistogram } from "./histogram.js";
import { cpuPercent, cpuSample, rssBytes } from "./proc-stats.js";
import { type RunningTarget, startTarget, type TargetName } from "./targets.js";

const HERE = path.dirname(new URL(import.meta.url).pathname);
const TSX = ["--import", "tsx"];
/** Clients per worker process: each worker is one single-threaded receiver. */
const CLIENTS_PER_WORKER = 2500;
/** Load workers run at this niceness (lower priority than the publisher and the broker). */
const WORKER_NICENESS = 10;
/** Never fewer worker processes than this, so that no single receiver loop paces a whole run. */
const MIN_WORKERS = 4;
/**
 * The load core (workers, publisher, broker) above this share: the generator, not the server, was
 * the bottleneck, and the run says nothing about the server's limit.
 */
const GENERATOR_SATURATION_PERCENT = 90;
/** After the stalled clients read again: time for the close frames waiting for them to arrive. */
const STALLED_CLOSE_WAIT_MS = 1000;
/** Messages published before each run to measure every peer's framing overhead (equal frames). */
const CALIBRATION_MESSAGES = 20;
/** After the publisher finishes, how long in-flight messages get to arrive. */
const DRAIN_MS = 1500;

export interface Scenario {
  id: string;
  title: string;
  clients: number;
  ratePerSecond: number;
  /**
   * Bytes per data frame as the clients receive it (the message plus the peer's framing), the
   * same for every peer: the published message is sized per peer from a calibration. 0: as is.
   */
  payloadBytes: number;
  durationMs: number;
  /**
   * Publishing at the run's rate before the window opens, not measured: a server started for the
   * run is measured in its steady state, not while it compiles its delivery path and makes its
   * first full garbage collection (the gateway's, about 7 s after start: pauses of 30 to 45 ms in all
   * within about 60 ms, one or two of them, up to 20 ms, inside the window of each run without it).
   */
  warmupMs?: number;
  /** Fraction of clients that stop reading for the whole run (slow consumers). */
  stalledFraction?: number;
  /** Idle scenario: connect, measure memory, publish nothing. */
  idle?: boolean;
  /** Extra gateway settings for this scenario (other peers ignore them). */
  gatewayEnv?: Record<string, string>;
  /** Run nats-server with JetStream (the gateway then keeps lossless channels in streams). */
  jetStream?: boolean;
  /**
   * Price scenario (gateway only): `ratePerSecond` ticks spread over `symbols` symbols, each
   * client subscribed to `perClient` of them, flushed every `intervalSeconds`.
   */
  price?: { symbols: number; perClient: number; intervalSeconds: number };
}

export interface RunResult {
  scenario: string;
  target: TargetName;
  clients: number;
  ratePerSecond: number;
  payloadBytes: number;
  published: number;
  expected: number;
  received: number;
  lost: number;
  deliveredPerSecond: number;
  latencyMs: { p50: number; p99: number; p999: number; max: number };
  serverCpuPercent: { user: number; system: number };
  serverRssBytes: { idle: number; connected: number; busy: number };
  rssPerConnectionBytes: number;
  connectMs: number;
  connectFailures: number;
  closedByServer: number;
  generatorCpuPercent: number;
  /** How busy the load core was (workers, publisher and, except for nats-ws, the broker). */
  loadCorePercent: number;
  generatorLimited: boolean;
  /** How busy the server's core (CPU 0) was, every process on it: well above the server's own CPU, others shared it. */
  serverCorePercent: number;
  /** Bytes per data frame the clients received (message plus the peer's framing). */
  bytesPerFrame: number;
  /** Stalled clients, and how their connections ended, by close code ("open" if still open). */
  stalled?: {
    clients: number;
    /** Gateways: clients the server disconnected as slow consumers (gateway_slow_consumer_disconnects_total). */
    slowConsumerDisconnects?: number;
    closes: Record<string, number>;
  };
  publisherMaxLagMs: number;
  /** Wall-clock milliseconds (Date.now()) when publishing began and when the drain after it ended. */
  windowMs: { start: number; end: number };
  /** Gateways: their own hop and GC over the same window, from /metrics (bench/lib/gateway-window.ts). */
  gateway?: GatewayWindow;
  /** Price scenario: frames per client (expected one per interval) and foreign symbols seen. */
  price?: { expectedPerClient: number; minPerClient: number; maxPerClient: number; foreignSymbols: number };
}

interface Worker {
  child: ChildProcess;
  ask<T>(command: WorkerCommand, replyType: string): Promise<T>;
}

function startWorker(): Worker {
  const child = fork(path.join(HERE, "../load/worker.ts"), [], {
    execArgv: TSX,
    stdio: ["ignore", "inherit", "inherit", "ipc"],
  });
  // The receivers stand for clients on other machines: on the shared load core they must not
  // delay the publisher or the broker (which would show up as every peer's latency).
  if (child.pid !== undefined) os.setPriority(child.pid, WORKER_NICENESS);
  return {
    child,
    ask: <T>(command: WorkerCommand, replyType: string) =>
      new Promise<T>((resolve, reject) => {
        const onMessage = (message: { type: string }) => {
          if (message.type !== replyType) return;
          child.off("message", onMessage);
          resolve(message as T);
        };
        child.on("message", onMessage);
        child.once("exit", (code) => reject(new Error(`load worker exited (${code})`)));
        child.send(command);
      }),
  };
}

function runPublisher(job: PublisherJob): Promise<PublisherReport> {
  const child = fork(path.join(HERE, "../load/publisher.ts"), [], {
    execArgv: TSX,
    stdio: ["ignore", "inherit", "inherit", "ipc"],
  });
  return new Promise((resolve, reject) => {
    child.on("message", (message: { type: string; report: PublisherReport }) => {
      if (message.type === "done") resolve(message.report);
    });
    child.once("exit", (code) => code !== 0 && reject(new Error(`publisher exited (${code})`)));
    child.send(job);
  });
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** The publisher's smallest message (an empty padding field); frames cannot be sized below it. */
const MIN_MESSAGE_BYTES = 80;

/** A gateway's gateway_slow_consumer_disconnects_total, from its /metrics (ws://host:port/ws). */
async function slowConsumerCount(wsUrl: string): Promise<number | undefined> {
  const metricsUrl = wsUrl.replace(/^ws/, "http").replace(/\/ws$/, "/metrics");
  const text = await fetch(metricsUrl).then(
    (response) => response.text(),
    () => "",
  );
  const match = /^gateway_slow_consumer_disconnects_total (\d+)/m.exec(text);
  return match ? Number(match[1]) : undefined;
}

/** Bytes a peer adds to each published message on its way to a client (frame minus message). */
async function framingOverhead(natsUrl: string, workers: Worker[], messageBytes: number): Promise<number> {
  await Promise.all(workers.map((worker) => worker.ask({ type: "reset" }, "reset-done")));
  await runPublisher({
    natsUrl,
    subject: "bench.feed",
    ratePerSecond: CALIBRATION_MESSAGES * 10,
    durationMs: 100,
    payloadBytes: messageBytes,
    kind: "bench",
  });
  // Every client has them within moments; the figure is a mean, so stragglers change nothing.
  await sleep(500);
  const reports = await Promise.all(
    workers.map((worker) => worker.ask<{ report: WorkerReport }>({ type: "report" }, "report")),
  );
  const frames = reports.reduce((sum, { report }) => sum + report.frames, 0);
  const bytes = reports.reduce((sum, { report }) => sum + report.frameBytes, 0);
  if (frames === 0) throw new Error("calibration: no client received any of the calibration messages");
  return Math.round(bytes / frames - messageBytes);
}

/** `gatewayRoot`: run another checkout of the gateway (see StartTargetOptions). */
export async function runOne(
  scenario: Scenario,
  targetName: TargetName,
  options: { gatewayRoot?: string } = {},
): Promise<RunResult> {
  const nats = await startNatsServer({
    withWebSocket: targetName === "nats-ws",
    jetStream: scenario.jetStream,
    onServerCore: targetName === "nats-ws",
  });
  let target: RunningTarget | undefined;
  const workers: Worker[] = [];
  try {
    target = await startTarget(targetName, {
      natsUrl: nats.url,
      natsWsUrl: nats.wsUrl,
      natsPid: nats.pid,
      gatewayRoot: options.gatewayRoot,
      gatewayEnv: scenario.price
        ? { WEBSOCKET_PRICE_UPDATE_INTERVAL: String(scenario.price.intervalSeconds), ...scenario.gatewayEnv }
        : scenario.gatewayEnv,
    });
    const universe = scenario.price
      ? Array.from({ length: scenario.price.symbols }, (_, i) => `S${String(i).padStart(3, "0")}`)
      : [];
    const rssIdle = rssBytes(target.pid);

    // Clients, spread over workers and source addresses 127.0.0.2, .3, ...
    const workerCount = Math.max(MIN_WORKERS, Math.ceil(scenario.clients / CLIENTS_PER_WORKER));
    const connected = await Promise.all(
      Array.from({ length: workerCount }, async (_, index) => {
        const worker = startWorker();
        workers.push(worker);
        const perWorker = Math.ceil(scenario.clients / workerCount);
        const firstClient = index * perWorker;
        const count = Math.max(0, Math.min(perWorker, scenario.clients - firstClient));
        const price = scenario.price && { universe, perClient: scenario.price.perClient, firstClient };
        return worker.ask<{ ms: number; failed: number }>(
          {
            type: "connect",
            target: targetName,
            url: target?.url ?? "",
            count,
            localAddress: `127.0.0.${2 + index}`,
            subject: "bench.>",
            price,
          },
          "connected",
        );
      }),
    );
    const connectMs = Math.max(...connected.map((reply) => reply.ms));
    const connectFailures = connected.reduce((sum, reply) => sum + reply.failed, 0);
    // Let the server settle (GC of handshake garbage) before reading its memory.
    await sleep(1000);
    const rssConnected = rssBytes(target.pid);

    let stalled = 0;
    if (scenario.stalledFraction) {
      // Exactly the fraction of all clients, spread as evenly as the workers allow.
      const total = Math.round(scenario.clients * scenario.stalledFraction);
      const replies = await Promise.all(
        workers.map((worker, index) => {
          const count = Math.floor(total / workerCount) + (index < total % workerCount ? 1 : 0);
          return worker.ask<{ count: number }>({ type: "stall", count }, "stalled");
        }),
      );
      stalled = replies.reduce((sum, reply) => sum + reply.count, 0);
    }

    // Equal frames: publish a few messages, see what each client receives per message, and size
    // the run's messages so that the frames come out at payloadBytes for this peer.
    let messageBytes = scenario.payloadBytes;
    if (!scenario.idle && !scenario.price && scenario.payloadBytes > 0) {
      const overhead = await framingOverhead(nats.url, workers, scenario.payloadBytes);
      messageBytes = Math.max(MIN_MESSAGE_BYTES, scenario.payloadBytes - overhead);
    }

    if (scenario.warmupMs && (scenario.idle || scenario.price || scenario.stalledFraction))
      throw new Error(
        `${scenario.id}: a warm-up publishes on bench.feed; not for idle, price or stalled steps`,
      );
    if (scenario.warmupMs) {
      await runPublisher({
        natsUrl: nats.url,
        subject: "bench.feed",
        ratePerSecond: scenario.ratePerSecond,
        durationMs: scenario.warmupMs,
        payloadBytes: messageBytes,
        kind: "bench",
      });
      // Its last messages arrive before the counters are zeroed, and the workers leave out any
      // frame stamped before that (bench/load/worker.ts): none of them counts in the window.
      await sleep(DRAIN_MS);
    }

    await Promise.all(workers.map((worker) => worker.ask({ type: "reset" }, "reset-done")));
    // Gateways: /metrics before and after the window (outside it, so its cost is not the run's).
    const isGateway = target.name.startsWith("gateway");
    const metricsBefore = isGateway ? await scrapeMetrics(target.url) : undefined;
    const cpuBefore = cpuSample(target.pid);
    const loadCoreBefore = coreSample(LOAD_CPU);
    const serverCoreBefore = coreSample(SERVER_CPU);
    const started = Date.now();
    const publisher = scenario.idle
      ? { published: 0, maxLagMs: 0 }
      : await runPublisher({
          natsUrl: nats.url,
          subject: scenario.price ? "market.prices" : "bench.feed",
          ratePerSecond: scenario.ratePerSecond,
          durationMs: scenario.durationMs,
          payloadBytes: messageBytes,
          kind: scenario.price ? "price" : "bench",
          symbols: universe,
        });
    await sleep(scenario.idle ? scenario.durationMs : DRAIN_MS);
    const cpuAfter = cpuSample(target.pid);
    const loadCorePercent = coreBusyPercent(loadCoreBefore, coreSample(LOAD_CPU));
    const serverCorePercent = coreBusyPercent(serverCoreBefore, coreSample(SERVER_CPU));
    const rssBusy = rssBytes(target.pid);
    const windowEnd = Date.now();
    const elapsedMs = windowEnd - started;
    const metricsAfter = isGateway ? await scrapeMetrics(target.url) : undefined;

    // The gateway's own count of clients it disconnected as slow consumers (the policy at work).
    const slowConsumerDisconnects = target.name.startsWith("gateway")
      ? await slowConsumerCount(target.url)
      : undefined;
    if (stalled > 0) {
      // The stalled clients read again: a close frame the server sent them is now seen.
      await Promise.all(workers.map((worker) => worker.ask({ type: "unstall" }, "unstalled")));
      await sleep(STALLED_CLOSE_WAIT_MS);
    }
    const reports = await Promise.all(
      workers.map((worker) => worker.ask<{ report: WorkerReport }>({ type: "report" }, "report")),
    );
    // Workers answer once they have read their backlog: delivery ends here, not at the nominal
    // end of the run (a peer that buffers for seconds must not look faster for it).
    const waited = DRAIN_MS + (stalled > 0 ? STALLED_CLOSE_WAIT_MS : 0);
    const deliveryMs = Math.max(scenario.durationMs, Date.now() - started - waited);
    const histogram = new LatencyHistogram();
    let received = 0;
    let generatorCpuMs = 0;
    let busiestWorkerPercent = 0;
    let closedByServer = 0;
    let foreignSymbols = 0;
    let minPerClient = Number.POSITIVE_INFINITY;
    let maxPerClient = 0;
    let frames = 0;
    let frameBytes = 0;
    const stalledCloses: Record<string, number> = {};
    for (const { report } of reports) {
      frames += report.frames;
      frameBytes += report.frameBytes;
      for (const [code, count] of Object.entries(report.stalledCloses))
        stalledCloses[code] = (stalledCloses[code] ?? 0) + count;
      foreignSymbols += report.foreignSymbols;
      minPerClient = Math.min(minPerClient, report.minPerClient);
      maxPerClient = Math.max(maxPerClient, report.maxPerClient);
      histogram.merge(report.histogram);
      received += report.received;
      closedByServer += report.closedByServer;
      const workerCpuMs = report.cpuUserMs + report.cpuSystemMs;
      generatorCpuMs += workerCpuMs;
      busiestWorkerPercent = Math.max(busiestWorkerPercent, (workerCpuMs / elapsedMs) * 100);
    }
    // Conflated price frames are not one per message: their expectations are in `price` below.
    const expected = scenario.price ? received : publisher.published * (scenario.clients - stalled);
    const cpu = cpuPercent(cpuBefore, cpuAfter);
    return {
      scenario: scenario.id,
      target: targetName,
      clients: scenario.clients,
      ratePerSecond: scenario.ratePerSecond,
      payloadBytes: scenario.payloadBytes,
      published: publisher.published,
      expected,
      received,
      lost: Math.max(0, expected - received),
      deliveredPerSecond: scenario.idle ? 0 : received / (deliveryMs / 1000),
      latencyMs: {
        p50: histogram.percentile(0.5),
        p99: histogram.percentile(0.99),
        p999: histogram.percentile(0.999),
        max: histogram.max / 1000,
      },
      serverCpuPercent: cpu,
      serverRssBytes: { idle: rssIdle, connected: rssConnected, busy: rssBusy },
      rssPerConnectionBytes: Math.max(0, (rssConnected - rssIdle) / scenario.clients),
      connectMs,
      connectFailures,
      closedByServer,
      generatorCpuPercent: (generatorCpuMs / elapsedMs) * 100,
      loadCorePercent,
      // A saturated load core, or one worker process that had a whole core's worth of work.
      generatorLimited:
        loadCorePercent > GENERATOR_SATURATION_PERCENT || busiestWorkerPercent > GENERATOR_SATURATION_PERCENT,
      serverCorePercent,
      bytesPerFrame: frames ? frameBytes / frames : 0,
      stalled: stalled
        ? {
            clients: stalled,
            slowConsumerDisconnects,
            closes: {
              ...stalledCloses,
              open: stalled - Object.values(stalledCloses).reduce((sum, count) => sum + count, 0),
            },
          }
        : undefined,
      publisherMaxLagMs: publisher.maxLagMs,
      windowMs: { start: started, end: windowEnd },
      gateway:
        metricsBefore !== undefined && metricsAfter !== undefined
          ? gatewayWindow(metricsBefore, metricsAfter, scenario.price ? "price_updates" : "bench")
          : undefined,
      price: scenario.price && {
        expectedPerClient: scenario.durationMs / 1000 / scenario.price.intervalSeconds,
        minPerClient,
        maxPerClient,
        foreignSymbols,
      },
    };
  } finally {
    for (const worker of workers) {
      worker.child.send({ type: "close" });
      if (worker.child.exitCode === null) await new Promise((resolve) => worker.child.once("exit", resolve));
    }
    await target?.stop();
    await nats.stop();
  }
}
