/**
 * A load worker for the delivery-quality scenarios (bench/quality.ts): holds a share of the
 * clients, all from one source address, each with its own subscription, and reports what they got.
 * Driven over IPC by the orchestrator:
 *
 *   connect  -> connected   open the clients (bounded concurrency), subscribe each as its spec says
 *                           and check the ack's interval_ms
 *   window   -> window-open zero the counters: from here frames are counted and latencies recorded
 *   throttle -> throttled   the throttled clients start reading at a tenth of the bytes/s they
 *                           received since `window` (pausing the socket, resuming it in short bursts)
 *   report   -> report      per group: clients, frames in the window, latency (bench frames), closes
 *   release  -> released    throttled clients read at full speed again until nothing arrives for a
 *                           while (bounded), then report what they got, as stamped by the gateway
 *   close                   close everything and exit
 *
 * Bench frames are scanned for "t": (no JSON.parse); price frames are parsed, to check that only
 * the client's symbols arrive and to read the gateway's flush timestamp.
 */
import WebSocket from "ws";
import { LatencyHistogram } from "../lib/histogram.js";
import { preciseNow } from "../lib/now.js";

export interface ClientSpec {
  /** Report group (e.g. "250ms", "others", "throttled"). */
  group: string;
  /** price_updates symbols, or "*" for all. */
  symbols: string[] | "*";
  /** interval_ms to ask for; none: the channel's interval. */
  intervalMs?: number;
  /** Leave the bench channel (auto-subscribed), so that this client gets price frames only. */
  leaveBench?: boolean;
  /** Read at a tenth of the rate once told to (`throttle`). */
  throttled?: boolean;
}

export type QualityCommand =
  | { type: "connect"; url: string; localAddress: string; clients: ClientSpec[] }
  | { type: "window" }
  | { type: "throttle"; fraction: number }
  | { type: "report" }
  | { type: "release"; quietMs: number; maxMs: number; windowStart: number; windowEnd: number }
  | { type: "close" };

export interface GroupReport {
  clients: number;
  /** price_update frames received in the window, summed and per client. */
  frames: number;
  minPerClient: number;
  maxPerClient: number;
  bytes: number;
  histogram: ReturnType<LatencyHistogram["toJSON"]>;
  /** Symbols received that the client had not subscribed to (must be 0). */
  foreignSymbols: number;
  closedByServer: number;
  /** Acks whose interval_ms was not the one asked for (or the channel's when none was asked). */
  ackMismatches: number;
  ackIntervals: number[];
  /** Gaps between the gateway timestamps of consecutive price_update frames (its flush period). */
  gapSumMs: number;
  gapCount: number;
  gapMaxMs: number;
}

export interface QualityReport {
  groups: Record<string, GroupReport>;
  cpuUserMs: number;
  cpuSystemMs: number;
}

export interface StatusFrame {
  degraded: boolean;
  intervalMs: number | undefined;
  at: number;
}

export interface ThrottledReport {
  /** Connected through the whole run (never closed by the server). */
  connected: boolean;
  closeCode: number | undefined;
  /** bytes/s received between `window` and `throttle` (full speed), and the budget set from it. */
  fullSpeedBytesPerSecond: number;
  budgetBytesPerSecond: number;
  /** bytes/s actually read while throttled, overall and second by second. */
  throttledBytesPerSecond: number;
  readTimeline: number[];
  statuses: StatusFrame[];
  /** Gateway flush timestamps (ms) of the price_update frames received since `throttle`. */
  frameTimes: number[];
  /** Frames received (any time) whose gateway timestamp lies in the report window. */
  framesInWindow: number;
  foreignSymbols: number;
}

interface Client {
  spec: ClientSpec;
  socket: WebSocket;
  watched: Set<string> | undefined;
  frames: number;
  bytes: number;
  closeCode: number | undefined;
  ackInterval: number | undefined;
  /** Throttling state. */
  allowance: number;
  budget: number;
  throttledSince: number;
  /** Reading at the budget now (between `throttle` and `release`). */
  throttling: boolean;
  throttledBytes: number;
  /** Bytes read in each second since `throttle`. */
  readTimeline: number[];
  fullSpeedBytesPerSecond: number;
  statuses: StatusFrame[];
  frameTimes: number[];
  foreignSymbols: number;
  lastMessageAt: number;
  lastFrameStamp: number;
  gapSumMs: number;
  gapCount: number;
  gapMaxMs: number;
}

const CONNECT_CONCURRENCY = 50;
const ACK_TIMEOUT_MS = 15_000;
/** Throttle clock: allowance is topped up and the socket paused or resumed this often. */
const THROTTLE_TICK_MS = 50;
const BENCH_PREFIX = Buffer.from('{"type":"bench"');
const PRICE_PREFIX = Buffer.from('{"type":"price_update"');
const STATUS_PREFIX = Buffer.from('{"type":"delivery_status"');
const SUBSCRIBED_PREFIX = Buffer.from('{"type":"subscribed"');
const UNSUBSCRIBED_PREFIX = Buffer.from('{"type":"unsubscribed"');

const clients: Client[] = [];
let histograms = new Map<string, LatencyHistogram>();
let cpuAtWindow = process.cpuUsage();
let windowOpenedAt = 0;
let throttleTimer: NodeJS.Timeout | undefined;
let counting = false;

const startsWith = (message: Buffer, prefix: Buffer) =>
  message.length >= prefix.length && message.compare(prefix, 0, prefix.length, 0, prefix.length) === 0;

function stampOf(message: Buffer): number {
  const at = message.indexOf('"t":');
  return at < 0 ? Number.NaN : Number.parseFloat(message.toString("latin1", at + 4, at + 30));
}

function histogramOf(group: string): LatencyHistogram {
  let histogram = histograms.get(group);
  if (!histogram) {
    histogram = new LatencyHistogram();
    histograms.set(group, histogram);
  }
  return histogram;
}

function onMessage(client: Client, message: Buffer): void {
  const now = preciseNow();
  client.lastMessageAt = now;
  if (client.throttling) {
    const second = Math.floor((now - client.throttledSince) / 1000);
    client.readTimeline[second] = (client.readTimeline[second] ?? 0) + message.length;
    client.throttledBytes += message.length;
    client.allowance -= message.length;
    if (client.allowance <= 0 && !client.socket.isPaused) client.socket.pause();
  }
  if (counting) client.bytes += message.length;
  if (startsWith(message, BENCH_PREFIX)) {
    if (!counting || client.spec.throttled) return;
    const t = stampOf(message);
    if (!Number.isNaN(t)) histogramOf(client.spec.group).record(now - t);
    return;
  }
  if (startsWith(message, PRICE_PREFIX)) {
    if (counting) client.frames++;
    // Parsed for every client: the foreign-symbol check is part of what is measured.
    const frame = JSON.parse(message.toString()) as { symbols: Record<string, unknown>; timestamp: string };
    if (client.watched) {
      for (const symbol of Object.keys(frame.symbols))
        if (!client.watched.has(symbol)) client.foreignSymbols++;
    }
    const stamp = Date.parse(frame.timestamp);
    if (client.spec.throttled && client.throttledSince > 0) client.frameTimes.push(stamp);
    if (counting && !client.spec.throttled) {
      if (client.lastFrameStamp > 0) {
        const gap = stamp - client.lastFrameStamp;
        client.gapSumMs += gap;
        client.gapCount++;
        client.gapMaxMs = Math.max(client.gapMaxMs, gap);
      }
      client.lastFrameStamp = stamp;
    }
    return;
  }
  if (startsWith(message, STATUS_PREFIX)) {
    const frame = JSON.parse(message.toString()) as {
      degraded: boolean;
      intervals_ms: Record<string, number>;
      timestamp: string;
    };
    client.statuses.push({
      degraded: frame.degraded,
      intervalMs: frame.intervals_ms.price_updates,
      at: Date.parse(frame.timestamp),
    });
  }
}

/** Open one client and subscribe it as its spec says; resolves after the last ack. */
function open(url: string, localAddress: string, spec: ClientSpec): Promise<Client> {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(url, { localAddress, perMessageDeflate: false, skipUTF8Validation: true });
    const client: Client = {
      spec,
      socket,
      watched: spec.symbols === "*" ? undefined : new Set(spec.symbols),
      frames: 0,
      bytes: 0,
      closeCode: undefined,
      ackInterval: undefined,
      allowance: 0,
      budget: 0,
      throttledSince: 0,
      throttling: false,
      throttledBytes: 0,
      readTimeline: [],
      fullSpeedBytesPerSecond: 0,
      statuses: [],
      frameTimes: [],
      foreignSymbols: 0,
      lastMessageAt: 0,
      lastFrameStamp: 0,
      gapSumMs: 0,
      gapCount: 0,
      gapMaxMs: 0,
    };
    const timer = setTimeout(() => {
      socket.terminate();
      reject(new Error("no ack in time"));
    }, ACK_TIMEOUT_MS);
    let acksOwed = spec.leaveBench ? 2 : 1;
    socket.on("message", (data) => {
      const message = data as Buffer;
      if (
        acksOwed > 0 &&
        (startsWith(message, SUBSCRIBED_PREFIX) || startsWith(message, UNSUBSCRIBED_PREFIX))
      ) {
        const ack = JSON.parse(message.toString()) as { type: string; interval_ms?: number };
        if (ack.type === "subscribed") client.ackInterval = ack.interval_ms;
        if (--acksOwed === 0) {
          clearTimeout(timer);
          resolve(client);
        }
        return;
      }
      onMessage(client, message);
    });
    socket.once("open", () => {
      socket.on("error", () => {});
      if (spec.leaveBench) socket.send(JSON.stringify({ type: "unsubscribe", channel: "bench" }));
      socket.send(
        JSON.stringify({
          type: "subscribe",
          channel: "price_updates",
          symbols: spec.symbols,
          ...(spec.intervalMs === undefined ? {} : { interval_ms: spec.intervalMs }),
        }),
      );
    });
    socket.once("error", (error) => {
      clearTimeout(timer);
      reject(error);
    });
    socket.once("close", (code) => {
      client.closeCode = code;
    });
  });
}

async function connectAll(command: Extract<QualityCommand, { type: "connect" }>): Promise<number> {
  let next = 0;
  let failed = 0;
  const opener = async () => {
    while (next < command.clients.length) {
      const index = next++;
      try {
        clients[index] = await open(command.url, command.localAddress, command.clients[index] as ClientSpec);
      } catch {
        failed++;
      }
    }
  };
  await Promise.all(Array.from({ length: CONNECT_CONCURRENCY }, opener));
  return failed;
}

function startThrottle(fraction: number): number {
  const now = preciseNow();
  const elapsedSeconds = Math.max(0.001, (now - windowOpenedAt) / 1000);
  let count = 0;
  for (const client of clients) {
    if (!client?.spec.throttled) continue;
    count++;
    client.fullSpeedBytesPerSecond = client.bytes / elapsedSeconds;
    client.budget = client.fullSpeedBytesPerSecond * fraction;
    client.allowance = 0;
    client.throttledSince = now;
    client.throttling = true;
    client.socket.pause();
  }
  const perTick = THROTTLE_TICK_MS / 1000;
  throttleTimer = setInterval(() => {
    for (const client of clients) {
      if (!client?.throttling) continue;
      // Top up (never more than one tick's worth ahead), then resume only while there is credit.
      client.allowance = Math.min(client.allowance + client.budget * perTick, client.budget * perTick);
      if (client.allowance > 0 && client.socket.isPaused) client.socket.resume();
      else if (client.allowance <= 0 && !client.socket.isPaused) client.socket.pause();
    }
  }, THROTTLE_TICK_MS);
  return count;
}

function report(): QualityReport {
  counting = false;
  const groups: Record<string, GroupReport> = {};
  for (const client of clients) {
    if (!client) continue;
    const group = groups[client.spec.group] ?? {
      clients: 0,
      frames: 0,
      minPerClient: Number.POSITIVE_INFINITY,
      maxPerClient: 0,
      bytes: 0,
      histogram: new LatencyHistogram().toJSON(),
      foreignSymbols: 0,
      closedByServer: 0,
      ackMismatches: 0,
      ackIntervals: [],
      gapSumMs: 0,
      gapCount: 0,
      gapMaxMs: 0,
    };
    groups[client.spec.group] = group;
    group.gapSumMs += client.gapSumMs;
    group.gapCount += client.gapCount;
    group.gapMaxMs = Math.max(group.gapMaxMs, client.gapMaxMs);
    group.clients++;
    group.frames += client.frames;
    group.bytes += client.bytes;
    group.minPerClient = Math.min(group.minPerClient, client.frames);
    group.maxPerClient = Math.max(group.maxPerClient, client.frames);
    group.foreignSymbols += client.foreignSymbols;
    if (client.closeCode !== undefined) group.closedByServer++;
    if (client.ackInterval !== undefined && !group.ackIntervals.includes(client.ackInterval))
      group.ackIntervals.push(client.ackInterval);
    if (client.spec.intervalMs !== undefined && client.ackInterval !== client.spec.intervalMs)
      group.ackMismatches++;
  }
  for (const [name, group] of Object.entries(groups)) {
    group.histogram = histogramOf(name).toJSON();
    if (group.clients === 0) group.minPerClient = 0;
  }
  const cpu = process.cpuUsage(cpuAtWindow);
  return { groups, cpuUserMs: cpu.user / 1000, cpuSystemMs: cpu.system / 1000 };
}

async function release(command: Extract<QualityCommand, { type: "release" }>): Promise<ThrottledReport[]> {
  clearInterval(throttleTimer);
  const throttled = clients.filter((client) => client?.spec.throttled);
  const releasedAt = preciseNow();
  for (const client of throttled) {
    client.throttling = false;
    client.socket.resume();
  }
  const throttledSeconds = (client: Client) =>
    client.throttledSince > 0 ? Math.max(0.001, (releasedAt - client.throttledSince) / 1000) : 1;
  const bytesAtRelease = throttled.map((client) => client.throttledBytes);
  // Read the backlog at full speed until nothing has arrived for quietMs (bounded by maxMs).
  const deadline = releasedAt + command.maxMs;
  for (;;) {
    const now = preciseNow();
    // Quiet since the release, not since the last message before it (they were paused).
    const quiet = throttled.every(
      (client) => now - Math.max(client.lastMessageAt, releasedAt) > command.quietMs,
    );
    if (quiet || now > deadline) break;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return throttled.map((client, position) => ({
    connected: client.closeCode === undefined,
    closeCode: client.closeCode,
    fullSpeedBytesPerSecond: client.fullSpeedBytesPerSecond,
    budgetBytesPerSecond: client.budget,
    throttledBytesPerSecond: (bytesAtRelease[position] as number) / throttledSeconds(client),
    readTimeline: Array.from(client.readTimeline, (bytes) => bytes ?? 0),
    statuses: client.statuses,
    frameTimes: client.frameTimes,
    framesInWindow: client.frameTimes.filter((at) => at >= command.windowStart && at < command.windowEnd)
      .length,
    foreignSymbols: client.foreignSymbols,
  }));
}

process.on("message", async (command: QualityCommand) => {
  switch (command.type) {
    case "connect": {
      const started = preciseNow();
      const failed = await connectAll(command);
      process.send?.({ type: "connected", ms: preciseNow() - started, failed });
      break;
    }
    case "window":
      for (const client of clients) {
        if (!client) continue;
        client.frames = 0;
        client.bytes = 0;
        client.foreignSymbols = 0;
        client.lastFrameStamp = 0;
        client.gapSumMs = 0;
        client.gapCount = 0;
        client.gapMaxMs = 0;
      }
      histograms = new Map();
      cpuAtWindow = process.cpuUsage();
      windowOpenedAt = preciseNow();
      counting = true;
      process.send?.({ type: "window-open" });
      break;
    case "throttle":
      process.send?.({ type: "throttled", count: startThrottle(command.fraction) });
      break;
    case "report":
      process.send?.({ type: "report", report: report() });
      break;
    case "release":
      process.send?.({ type: "released", throttled: await release(command) });
      break;
    case "close":
      clearInterval(throttleTimer);
      for (const client of clients) client?.socket.terminate();
      process.exit(0);
  }
});
