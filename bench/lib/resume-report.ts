/**
 * The "Resume and positions" part of the benchmark: its results file
 * (bench/results/resume-latest.json, written by bench/storm.ts and bench/positions.ts) and its
 * page, docs/benchmarks/resume.md. Its two parts are replaced in place, so running the storm or
 * the fan-out comparison alone leaves the other part as it is; each part names its own run.
 */
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import type { RunResult } from "./run-one.js";

const ROOT = path.resolve(path.dirname(new URL(import.meta.url).pathname), "../..");
const RESULTS_FILE = path.join(ROOT, "bench/results/resume-latest.json");
const HEADING = "## Resume and positions";
/** Targets of the resume issue. */
const RECOVERY_TARGET_MS = 2000;
const FANOUT_TOLERANCE = 0.05;

export interface StormResult {
  variant: string;
  description: string;
  env: Record<string, string>;
  clients: number;
  workers: number;
  missedTrades: number;
  /** Messages the trades stream gained while the clients were away (must equal missedTrades). */
  storedWhileAway: number;
  /** Distinct epochs the clients held before the storm (1: every client in the same history). */
  epochs: number;
  streams: string[];
  /** Clients that got `replayed` with exactly the missed trades, in order, once each. */
  complete: number;
  failed: number;
  problems: Record<string, number>;
  /** Per client, from its own reconnect start to the verified `replayed` frame. */
  perClientMs: { p50: number; p99: number; max: number };
  /** Median time from reconnect start to the WebSocket open, and to the `subscribed` ack. */
  openP50Ms: number;
  ackP50Ms: number;
  /** From the first client's reconnect start to the last client's. */
  reconnectSpreadMs: number;
  /** From the first reconnect start to the last client complete (NaN if any failed). */
  overallMs: number;
  gatewayCpu: { userMs: number; systemMs: number; windowMs: number };
  gatewayRssBytes: { before: number; peak: number };
  /** The busiest storm worker's CPU over the storm (100 = one core): near 100, it was the limit. */
  busiestWorkerCpuPercent: number;
  /** The machine's 1-minute load average when the storm began (2 cores: above 2, others were running). */
  loadAverage: number;
  consumers: {
    liveBefore: number;
    peakPolled: number;
    polls: number;
    replayPeakMetric: number;
    liveMetric: number;
    /** Lossless channels x 1 gateway + NATS_REPLAY_CONSUMERS_MAX. */
    bound: number;
  };
  resumesRecovered: number;
  resumesTotal: number;
  framesReplayed: number;
}

export interface FanoutConfig {
  name: string;
  description: string;
}

export interface FanoutRun {
  config: string;
  repetition: number;
  result: RunResult;
}

export interface ResumeResults {
  storm?: { at: string; machine: string; commit?: string; results: StormResult[] };
  fanout?: {
    at: string;
    machine: string;
    commit: string;
    beforeCommit: string;
    command: string;
    configs: FanoutConfig[];
    rates: number[];
    runs: FanoutRun[];
  };
}

export function readResumeResults(): ResumeResults {
  if (!existsSync(RESULTS_FILE)) return {};
  return JSON.parse(readFileSync(RESULTS_FILE, "utf8")) as ResumeResults;
}

export function writeResumeResults(document: ResumeResults): string {
  writeFileSync(RESULTS_FILE, `${JSON.stringify(document, null, 2)}\n`);
  return RESULTS_FILE;
}

const ms = (value: number) => (Number.isNaN(value) ? "-" : `${value.toFixed(0)} ms`);
const verdict = (met: boolean) => (met ? "**met**" : "**not met**");

function stormSection(storm: NonNullable<ResumeResults["storm"]>): string {
  const header =
    "| Run | Clients complete and verified | Open p50 / ack p50 | Per client p50 | p99 | max | Overall (first reconnect to last complete) | Reconnect spread | Gateway CPU user+sys | Gateway RSS before / peak | JetStream consumers at peak (polled) | Replay consumers peak (/metrics) | Frames replayed | Busiest worker CPU | Load average |";
  const rows = storm.results.map((result) => {
    const cpuMs = result.gatewayCpu.userMs + result.gatewayCpu.systemMs;
    return `| ${result.variant} | ${result.complete}/${result.clients}${result.failed ? ` (${result.failed} failed)` : ""} | ${ms(result.openP50Ms)} / ${ms(result.ackP50Ms)} | ${ms(result.perClientMs.p50)} | ${ms(result.perClientMs.p99)} | ${ms(result.perClientMs.max)} | ${ms(result.overallMs)} | ${ms(result.reconnectSpreadMs)} | ${(result.gatewayCpu.userMs / 1000).toFixed(2)}+${(result.gatewayCpu.systemMs / 1000).toFixed(2)} s over ${(result.gatewayCpu.windowMs / 1000).toFixed(1)} s (${((cpuMs / result.gatewayCpu.windowMs) * 100).toFixed(0)}% of a core) | ${(result.gatewayRssBytes.before / 2 ** 20).toFixed(0)} / ${(result.gatewayRssBytes.peak / 2 ** 20).toFixed(0)} MB | ${result.consumers.peakPolled} (${result.consumers.liveBefore} live before; ${result.consumers.polls} polls) | ${result.consumers.replayPeakMetric} | ${result.framesReplayed.toLocaleString("en")} | ${result.busiestWorkerCpuPercent?.toFixed(0) ?? "-"}% | ${result.loadAverage?.toFixed(1) ?? "-"} |`;
  });
  const targets = storm.results.flatMap((result) => {
    const problems = Object.entries(result.problems)
      .map(([problem, count]) => `${count} x ${problem}`)
      .join("; ");
    const consumersPeak = Math.max(
      result.consumers.peakPolled,
      result.consumers.liveBefore + result.consumers.replayPeakMetric,
    );
    return [
      `| ${result.variant}: every client has all ${result.missedTrades} missed trades, in order, within 2 s of the first reconnect | ${result.complete}/${result.clients} verified${problems ? ` (${problems})` : ""}; overall ${ms(result.overallMs)} | ${verdict(result.complete === result.clients && result.overallMs <= RECOVERY_TARGET_MS)} |`,
      `| ${result.variant}: each client within 2 s of its own reconnect | max ${ms(result.perClientMs.max)} (p99 ${ms(result.perClientMs.p99)}) | ${verdict(result.complete === result.clients && result.perClientMs.max <= RECOVERY_TARGET_MS)} |`,
      `| ${result.variant}: JetStream consumers at most ${result.streams.length} channels x 1 gateway + ${result.env.NATS_REPLAY_CONSUMERS_MAX} = ${result.consumers.bound} | polled peak ${result.consumers.peakPolled}; live ${result.consumers.liveBefore} + replay peak ${result.consumers.replayPeakMetric} (/metrics) = ${result.consumers.liveBefore + result.consumers.replayPeakMetric} | ${verdict(consumersPeak <= result.consumers.bound)} |`,
    ];
  });
  const notes = storm.results.map(
    (result) =>
      `- **${result.variant}**: of the median ${ms(result.perClientMs.p50)} per client, ${ms(result.openP50Ms)} passed before the WebSocket was open (TCP connect and upgrade, before the subscribe was sent) and the \`subscribed\` ack came at ${ms(result.ackP50Ms)}; the gateway used ${(((result.gatewayCpu.userMs + result.gatewayCpu.systemMs) / result.gatewayCpu.windowMs) * 100).toFixed(0)}% of a core over the storm, ${(((result.gatewayCpu.userMs + result.gatewayCpu.systemMs) / Math.max(1, result.framesReplayed)) * 1000).toFixed(1)} us of CPU per replayed frame; the machine's load average was ${result.loadAverage?.toFixed(1) ?? "?"} on this 2-core machine when it began.`,
  );
  const [ring, replay] = storm.results;
  if (ring && replay) {
    const cpu = (result: StormResult) => result.gatewayCpu.userMs + result.gatewayCpu.systemMs;
    notes.push(
      `- Same session: resuming from JetStream cost the gateway ${(cpu(replay) / Math.max(1, cpu(ring))).toFixed(1)}x the CPU of resuming from the ring, and the per-client median was ${(replay.perClientMs.p50 / ring.perClientMs.p50).toFixed(1)}x as long.`,
    );
  }
  const first = storm.results[0];
  return `### Reconnect storm

bench/storm.ts (run by \`npm run bench:storm\` alone, and by \`npm run bench\` for BENCHMARKS.md), ${storm.at}${storm.commit ? `, commit ${storm.commit}` : ""}, ${storm.machine}.
A nats-server 2.9 with JetStream (own temporary store, loopback), the real gateway (\`src/main.ts\`
on its real channels: ${first ? first.streams.length : "?"} lossless, so streams ${first ? first.streams.map((stream) => `\`${stream}\``).join(" and ") : "?"}),
${first?.clients ?? 1000} clients over ${first?.workers ?? 4} worker processes on 127.0.0.2 to .${1 + (first?.workers ?? 4)}. Each client subscribes to
\`trades\` and keeps the last (seq, epoch) it got (10 trades); all disconnect; ${first?.missedTrades ?? 100} trades are
published on \`execution.trades.bench\` (and stored by JetStream) while they are away; then all
reconnect, each at a random offset in [0, 1 s), and subscribe with \`since\`. A client is complete
at the \`replayed\` frame, and only if it had exactly the missed trades before it, in publish order
(trade_id), in its epoch, with increasing seq, and \`replayed.count\` matched. "Open" is the
WebSocket handshake, "ack" the \`subscribed\` (recovered: true) answer. Per-client time is
from its own reconnect start (before the TCP connect); overall is from the first client's reconnect
start to the last client's completion, so it includes the 1 s spread. CPU is the gateway's
user+sys from the first reconnect to the last completion; RSS is polled every 50 ms, and so are the
consumers of both streams (\`$JS.API.CONSUMER.LIST\`). NATS_REPLAY_CONSUMERS_MAX=8 in both runs.

Runs: ${storm.results.map((result) => `**${result.variant}**: ${result.description}`).join("; ")}.

${header}
|${" --- |".repeat(15)}
${rows.join("\n")}

${notes.join("\n")}

| Target | Measured | Verdict |
| --- | --- | --- |
${targets.join("\n")}
`;
}

interface Summary {
  median: number;
  min: number;
  max: number;
}

function summarise(values: number[]): Summary {
  const sorted = [...values].sort((a, b) => a - b);
  return {
    median: sorted[Math.floor((sorted.length - 1) / 2)] as number,
    min: sorted[0] as number,
    max: sorted.at(-1) as number,
  };
}

/** Server CPU (one core = 100%) per delivered message, in microseconds. */
export function cpuMicrosPerDelivery(result: RunResult): number {
  const cpu = (result.serverCpuPercent.user + result.serverCpuPercent.system) / 100;
  return result.deliveredPerSecond > 0 ? (cpu / result.deliveredPerSecond) * 1e6 : Number.NaN;
}

function fanoutSection(fanout: NonNullable<ResumeResults["fanout"]>): string {
  const cell = (summary: Summary, format: (value: number) => string) =>
    `${format(summary.median)} (${format(summary.min)} to ${format(summary.max)})`;
  const thousands = (value: number) => `${(value / 1000).toFixed(1)}k`;
  const millis = (value: number) => `${value.toFixed(0)} ms`;
  const percent = (value: number) => `${value.toFixed(0)}%`;
  const micros = (value: number) => `${value.toFixed(2)} us`;
  const plain = (value: number) => value.toLocaleString("en");
  const rows: string[] = [];
  const verdicts: string[] = [];
  const of = (config: string, rate: number) =>
    fanout.runs
      .filter((run) => run.config === config && run.result.ratePerSecond === rate)
      .map((run) => run.result);
  for (const rate of fanout.rates) {
    for (const config of fanout.configs) {
      const results = of(config.name, rate);
      if (results.length === 0) continue;
      rows.push(
        `| ${rate} msg/s | ${config.name} | ${results.length} | ${cell(summarise(results.map((r) => r.deliveredPerSecond)), thousands)} | ${cell(summarise(results.map((r) => r.lost)), plain)} | ${cell(summarise(results.map((r) => r.latencyMs.p50)), millis)} | ${cell(summarise(results.map((r) => r.latencyMs.p99)), millis)} | ${cell(summarise(results.map((r) => r.serverCpuPercent.user + r.serverCpuPercent.system)), percent)} | ${cell(summarise(results.map(cpuMicrosPerDelivery)), micros)} |`,
      );
    }
    const before = of("gateway-before", rate);
    for (const config of fanout.configs.filter((candidate) => candidate.name !== "gateway-before")) {
      const now = of(config.name, rate);
      if (before.length === 0 || now.length === 0) continue;
      const delivered =
        summarise(now.map((r) => r.deliveredPerSecond)).median /
        summarise(before.map((r) => r.deliveredPerSecond)).median;
      const cost =
        summarise(now.map(cpuMicrosPerDelivery)).median / summarise(before.map(cpuMicrosPerDelivery)).median;
      const lostNow = Math.max(...now.map((r) => r.lost));
      const lostBefore = Math.max(...before.map((r) => r.lost));
      const a = summarise(now.map((r) => r.deliveredPerSecond));
      const b = summarise(before.map((r) => r.deliveredPerSecond));
      const overlap = a.max >= b.min && b.max >= a.min;
      verdicts.push(
        `| ${rate} msg/s: ${config.name} delivers >= 95% of gateway-before | median ${(delivered * 100).toFixed(1)}% of gateway-before's delivered msg/s (lost: at most ${lostNow.toLocaleString("en")} vs ${lostBefore.toLocaleString("en")}); server CPU per delivery ${(cost * 100).toFixed(0)}% of gateway-before's${overlap ? "; the min-to-max ranges overlap" : ""} | ${verdict(delivered >= 1 - FANOUT_TOLERANCE)}${overlap ? " (within the noise)" : ""} |`,
      );
    }
  }
  return `### Fan-out with positions stamped

\`${fanout.command}\` (bench/positions.ts), ${fanout.at}, commit ${fanout.commit}, ${fanout.machine}.
The signals-like scenario of the matrix (bench channel, immediate, 1,000 clients, 300 B) against
${fanout.configs.map((config) => `**${config.name}** (${config.description})`).join(", ")}.
Every run has its own nats-server with JetStream (so the servers are alike; only the gateways
differ), and the configurations take turns within each repetition so that the machine's drift falls
on all of them. Each cell: median (min to max) of the repetitions. Server CPU per delivery is the
gateway's user+sys CPU divided by the messages delivered: at an offered rate that every
configuration delivers in full, it is the figure that shows a cost difference.

| Offered | Gateway | Runs | Delivered msg/s | Lost | p50 | p99 | Server CPU user+sys | Server CPU per delivery |
| --- | --- | --- | --- | --- | --- | --- | --- | --- |
${rows.join("\n")}

${sustainedNote(fanout)}

| Target | Measured | Verdict |
| --- | --- | --- |
${verdicts.join("\n")}
`;
}

/** Whether any run met the matrix's "sustained" definition (nothing lost, p99 < 100 ms). */
function sustainedNote(fanout: NonNullable<ResumeResults["fanout"]>): string {
  const sustained = fanout.runs.filter((run) => run.result.lost === 0 && run.result.latencyMs.p99 < 100);
  if (sustained.length > 0)
    return `${sustained.length} of ${fanout.runs.length} runs were sustained (nothing lost, p99 < 100 ms).`;
  return `None of the ${fanout.runs.length} runs was sustained by the matrix's definition (nothing lost and p99 < 100 ms): nothing was lost, but every p99 was above 100 ms, so the maximum sustained rate itself was below ${Math.min(...fanout.rates)} msg/s for all three gateways in this session and is not compared here; "delivered msg/s" is below the offered rate because delivery is timed until the last message arrived. The verdicts below compare delivered msg/s and CPU per delivery at the same offered rate.`;
}

/** The whole section, or "" when nothing was measured yet. */
export function resumeSection(document: ResumeResults = readResumeResults()): string {
  const parts = [
    document.storm && stormSection(document.storm),
    document.fanout && fanoutSection(document.fanout),
  ].filter(Boolean);
  if (parts.length === 0) return "";
  return `${HEADING}

Every frame of a lossless channel carries \`seq\` and \`epoch\`; a client that reconnects subscribes
with \`since\` and gets what it missed (from the in-memory ring, or from JetStream through at most
NATS_REPLAY_CONSUMERS_MAX short-lived consumers), then \`replayed\`, then live frames.

${parts.join("\n")}`;
}

/** Put the section into docs/benchmarks/resume.md in place (before "## Reading these results" the first time). */
export function writeResumeSection(document: ResumeResults = readResumeResults()): void {
  const file = path.join(ROOT, "docs/benchmarks/resume.md");
  const markdown = existsSync(file)
    ? readFileSync(file, "utf8")
    : "# Benchmarks: resume and positions\n\nSee BENCHMARKS.md for how the benchmarks are run; this page is written by its own commands.\n";
  const section = resumeSection(document);
  const start = markdown.indexOf(`\n${HEADING}\n`);
  let next: string;
  if (start >= 0) {
    const after = markdown.indexOf("\n## ", start + HEADING.length + 1);
    next = `${markdown.slice(0, start + 1)}${section}${after >= 0 ? markdown.slice(after) : ""}`;
  } else {
    const anchor = markdown.indexOf("\n## Reading these results\n");
    next =
      anchor >= 0
        ? `${markdown.slice(0, anchor + 1)}${section}\n${markdown.slice(anchor + 1)}`
        : `${markdown.trimEnd()}\n\n${section}`;
  }
  writeFileSync(file, next);
}
