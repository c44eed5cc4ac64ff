/**
 * The "Rolling deploy" section: of docs/benchmarks/deploy.md and of BENCHMARKS.md, written by
 * `npm run bench:deploy` (bench/deploy.ts) in place, and by `npm run bench` with the rest. Every
 * verdict is read from the run's own figures.
 */
import path from "node:path";
import { BENCH_ROOT, BENCHMARKS_FILE, replaceSection } from "./markdown-section.js";
import { type BenchRunHeader, count, ms, verdict } from "./report-format.js";

const PAGE = path.join(BENCH_ROOT, "docs/benchmarks/deploy.md");
const HEADING = "## Rolling deploy";

interface LatencyFigures {
  p50: number;
  p99: number;
  max: number;
  samples: number;
}

export interface DeployResults extends BenchRunHeader {
  settings: {
    clients: number;
    workers: number;
    instances: number;
    tradesPerSecond: number;
    /** Trades go round this many symbols; each client subscribes to one. */
    symbols: number;
    connectsPerSecond: number;
    connectsBurst: number;
    spreadMs: number;
    drainMs: number;
    perAddress: number;
    baselineSeconds: number;
  };
  published: number;
  /** From the start of the run until every client was subscribed. */
  connectSeconds: number;
  /** Over every client, against trades 1..published. */
  lost: number;
  duplicated: number;
  outOfOrder: number;
  clientsWithProblems: number;
  resumeFailures: number;
  firstResumeFailure?: string;
  clientErrors: number;
  /** Trades that reached a client with its own resume (replayed or held during it). */
  caughtUp: number;
  connects: {
    total: number;
    /** The most connections accepted in any one-second window (welcome timestamps). */
    peakPerSecond: number;
    peakPerSecondDuringRestarts: number;
    /** What admission control allows in one second: instances x (rate + burst). */
    bound: number;
  };
  restarts: {
    instance: string;
    drainSeconds: number;
    startSeconds: number;
    allBackSeconds: number;
    moved: number;
    spreadSeconds: number;
    peakBackPerSecond: number;
  }[];
  latencyMs: { before: LatencyFigures; during: LatencyFigures };
}

function checksTable(results: DeployResults): string[] {
  const { connects, settings } = results;
  const exact = results.lost === 0 && results.duplicated === 0 && results.outOfOrder === 0;
  const halfSpread = settings.spreadMs / 2000;
  const spreadMet = results.restarts.every((restart) => restart.spreadSeconds >= halfSpread);
  return [
    "| Check | Figure | Verdict |",
    "| --- | --- | --- |",
    `| Every client has every trade of its symbol once, in order | ${count(results.published)} trades, ${count(settings.clients)} clients: ${count(results.lost)} lost, ${count(results.duplicated)} duplicated, ${count(results.outOfOrder)} out of order (${results.clientsWithProblems} clients affected) | ${verdict(exact)} |`,
    `| No resume failure | ${results.resumeFailures} (\`gap\` events or \`recovered: false\`)${results.firstResumeFailure ? `, by what each said: ${results.firstResumeFailure}` : ""}; ${results.clientErrors} client-side errors | ${verdict(results.resumeFailures === 0)} |`,
    `| Connections accepted in any second within admission control (${settings.instances} x (${settings.connectsPerSecond} + ${settings.connectsBurst}) = ${connects.bound}) | peak ${connects.peakPerSecond} over the run, ${connects.peakPerSecondDuringRestarts} during the restarts (${count(connects.total)} accepted in all) | ${verdict(connects.peakPerSecond <= connects.bound)} |`,
    `| Each instance's clients come back spread over at least half of SHUTDOWN_RECONNECT_SPREAD_MS (${halfSpread} s) | ${results.restarts.map((restart) => `${restart.instance}: ${restart.moved} clients over ${restart.spreadSeconds.toFixed(1)} s`).join("; ")} | ${verdict(spreadMet)} |`,
  ];
}

function restartsTable(results: DeployResults): string[] {
  return [
    "| Instance | SIGTERM to exit (drain and close) | Exit to the new process ready | SIGTERM to all its clients back | Clients moved | Their return spread over | Most returns in one second |",
    "| --- | --- | --- | --- | --- | --- | --- |",
    ...results.restarts.map(
      (restart) =>
        `| ${restart.instance} | ${restart.drainSeconds.toFixed(1)} s | ${restart.startSeconds.toFixed(1)} s | ${restart.allBackSeconds.toFixed(1)} s | ${restart.moved} | ${restart.spreadSeconds.toFixed(1)} s | ${restart.peakBackPerSecond} |`,
    ),
  ];
}

function latencyTable(results: DeployResults): string[] {
  const { before, during } = results.latencyMs;
  const row = (name: string, figures: LatencyFigures) =>
    `| ${name} | ${ms(figures.p50)} | ${ms(figures.p99)} | ${ms(figures.max)} | ${count(figures.samples)} |`;
  return [
    "| Live trades (clients not in their own reconnect) | p50 | p99 | max | Trades delivered |",
    "| --- | --- | --- | --- | --- |",
    row(`Before the restarts (${results.settings.baselineSeconds} s)`, before),
    row("During the restarts (first SIGTERM until the last client was back)", during),
  ];
}

function latencyNote(results: DeployResults): string {
  const { before, during } = results.latencyMs;
  const ratio = before.p99 > 0 ? during.p99 / before.p99 : 0;
  return `The other clients' p99 during the restarts was ${ms(during.p99)} against ${ms(before.p99)} before them (x${ratio.toFixed(1)}). ${count(results.caughtUp)} trades reached clients with their own resume (replayed, or held until the replay was delivered) and are not in these latencies: they waited for their client to come back.`;
}

export function deploySection(results: DeployResults): string {
  const { settings } = results;
  return [
    HEADING,
    "",
    `\`${results.command}\` (bench/deploy.ts), ${results.at}, commit ${results.commit}, ${results.machine}; load average ${results.loadAverage.toFixed(1)} when it began (on 2 cores, a figure above 2 means other work was running on the machine).`,
    "",
    `- **Setup.** nginx with [deploy/nginx.conf](../../deploy/nginx.conf) (only its ports and paths changed) in front of ${settings.instances} gateway processes (\`src/main.ts\`) on one nats-server with JetStream, \`NATS_JETSTREAM=required\`, the production drain defaults (\`SHUTDOWN_DRAIN_MS\` ${settings.drainMs}, \`SHUTDOWN_RECONNECT_SPREAD_MS\` ${settings.spreadMs}), admission control at ${settings.connectsPerSecond} connections/s with a burst of ${settings.connectsBurst} per instance, \`WEBSOCKET_TRUSTED_PROXIES=127.0.0.1\` (nginx) and \`WEBSOCKET_MAX_CONNECTIONS_PER_IP\` ${settings.perAddress}. Everything on one machine, unpinned.`,
    `- **Clients.** ${count(settings.clients)} SDK clients (\`src/client\`, the Node entry, with its own reconnect, resume and Retry-After handling) over ${settings.workers} worker processes on 127.0.0.2 to .${1 + settings.workers}, each subscribed through nginx to the trades of one of ${settings.symbols} symbols (the trades go round them, so each client gets ${(settings.tradesPerSecond / settings.symbols).toFixed(0)}/s, ${count((settings.clients * settings.tradesPerSecond) / settings.symbols)} frames/s over all: with every client on every trade the clients' own worker processes, not the gateways, were the limit on this machine); connecting them all took ${results.connectSeconds.toFixed(1)} s (admission control paced them too).`,
    `- **Load and steps.** ${settings.tradesPerSecond} trades/s published into JetStream throughout (each numbered, each acknowledged before the next), a ${settings.baselineSeconds} s baseline, then each instance in turn: SIGTERM, the old process exits after its drain, a new one starts on the same port and answers \`/readyz\`, and the next instance goes once every client of this one is back. Then publishing stops and every client is checked against every trade of its symbol published (${count(results.published)} trades in all).`,
    "- **Connections accepted** are counted from each connection's welcome `timestamp`, the gateway's own clock at acceptance; the bound is what the token buckets allow in one second (a draining instance accepts none, and its successor starts after it has exited, so at most two instances accept at once). **Latency** is per delivered trade, from its `timestamp` (the publisher's send time) to its delivery to the application.",
    "",
    ...checksTable(results),
    "",
    ...restartsTable(results),
    "",
    ...latencyTable(results),
    "",
    latencyNote(results),
    "",
  ].join("\n");
}

/**
 * Replace (or add) the section in docs/benchmarks/deploy.md and in BENCHMARKS.md, leaving anything
 * else on either page.
 */
export function writeDeployPage(results: DeployResults): void {
  const section = deploySection(results);
  replaceSection(
    PAGE,
    HEADING,
    section,
    "# Benchmarks: rolling deploy\n\nSee BENCHMARKS.md for how the benchmarks are run; this page is written by its own command, `npm run bench:deploy`.\n",
  );
  replaceSection(BENCHMARKS_FILE, HEADING, section, "# Benchmarks\n");
}
