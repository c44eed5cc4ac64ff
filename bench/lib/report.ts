/**
 * BENCHMARKS.md and its chart (bench/results/chart.svg), written from a full run's results.
 * Every target of the benchmark issue is listed as met or not, with the figure that decides it.
 */
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { qualitySection } from "./quality-report.js";
import { resumeSection } from "./resume-report.js";
import type { RunResult } from "./run-one.js";
import type { TargetName } from "./targets.js";

const ROOT = path.resolve(path.dirname(new URL(import.meta.url).pathname), "../..");
const PEERS: TargetName[] = ["gateway", "nats-ws", "naive-ws", "socketio"];
const COLORS: Record<TargetName, string> = {
  gateway: "#2563eb",
  "nats-ws": "#16a34a",
  "naive-ws": "#dc2626",
  socketio: "#9333ea",
};

export interface BenchDocument {
  at: string;
  machine: string;
  maxRates: Partial<Record<TargetName, number>>;
  results: RunResult[];
}

const kb = (bytes: number) => `${(bytes / 1024).toFixed(1)} KB`;
const ms = (value: number) => `${value.toFixed(1)} ms`;
const find = (results: RunResult[], scenario: string, target: TargetName) =>
  results.find((result) => result.scenario === scenario && result.target === target);

function targetsTable(document: BenchDocument): string {
  const { results, maxRates } = document;
  const rows: string[] = [];
  const verdict = (met: boolean | undefined) =>
    met === undefined ? "not measured" : met ? "**met**" : "**not met**";
  const gatewayMax = maxRates.gateway ?? 0;
  for (const [peer, factor] of [
    ["nats-ws", 1],
    ["naive-ws", 4],
    ["socketio", 2],
  ] as const) {
    const peerMax = maxRates[peer];
    const ratio = peerMax ? gatewayMax / peerMax : undefined;
    rows.push(
      `| Max sustained rate >= ${factor}x ${peer} | gateway ${gatewayMax} msg/s vs ${peer} ${peerMax ?? "?"} msg/s = ${ratio?.toFixed(2) ?? "?"}x | ${verdict(ratio === undefined ? undefined : ratio >= factor)} |`,
    );
  }
  const gateway160 = find(results, "immediate-1000c-160r-300b", "gateway");
  const nats160 = find(results, "immediate-1000c-160r-300b", "nats-ws");
  if (gateway160 && nats160) {
    const met = gateway160.latencyMs.p99 < 50 && gateway160.latencyMs.p99 <= nats160.latencyMs.p99;
    rows.push(
      `| 1,000 clients x 160 msg/s: p99 < 50 ms and <= nats-server's | gateway p99 ${ms(gateway160.latencyMs.p99)}, nats-ws p99 ${ms(nats160.latencyMs.p99)} | ${verdict(met)} |`,
    );
  }
  const idle = find(results, "idle-10000c", "gateway");
  const idleNats = find(results, "idle-10000c", "nats-ws");
  if (idle) {
    rows.push(
      `| RSS per idle connection at 10,000 <= 8 KB | gateway ${kb(idle.rssPerConnectionBytes)}${idleNats ? `, nats-ws ${kb(idleNats.rssPerConnectionBytes)}` : ""} | ${verdict(idle.rssPerConnectionBytes <= 8192)} |`,
    );
  }
  const stalled = find(results, "stalled-1pct-1000c-160r", "gateway");
  if (stalled && gateway160) {
    const ratio = stalled.latencyMs.p99 / gateway160.latencyMs.p99;
    const bounded = stalled.serverRssBytes.busy < 2 * gateway160.serverRssBytes.busy;
    rows.push(
      `| 1% stalled: others' p99 within 10%, RSS bounded | p99 ${ms(stalled.latencyMs.p99)} vs ${ms(gateway160.latencyMs.p99)} (${((ratio - 1) * 100).toFixed(0)}%), RSS ${(stalled.serverRssBytes.busy / 2 ** 20).toFixed(0)} MB vs ${(gateway160.serverRssBytes.busy / 2 ** 20).toFixed(0)} MB, ${stalled.closedByServer} stalled clients disconnected | ${verdict(ratio <= 1.1 && bounded)} |`,
    );
  }
  const price = document.results.find((result) => result.price !== undefined);
  if (price?.price) {
    const { expectedPerClient, minPerClient, maxPerClient, foreignSymbols } = price.price;
    const cpu = price.serverCpuPercent.user + price.serverCpuPercent.system;
    // Run boundaries can cut one interval: a client may see one frame fewer or more.
    const exact = minPerClient >= expectedPerClient - 1 && maxPerClient <= expectedPerClient + 1;
    rows.push(
      `| Price scenario: one price_update per interval per client with only its symbols, CPU < 50% | ${minPerClient} to ${maxPerClient} frames per client over ${expectedPerClient} intervals, ${foreignSymbols} foreign symbols, gateway CPU ${cpu.toFixed(0)}% | ${verdict(exact && foreignSymbols === 0 && cpu < 50)} |`,
    );
  } else {
    rows.push("| Price scenario: one price_update per interval per client, CPU < 50% | - | not measured |");
  }
  return ["| Target | Measured | Verdict |", "| --- | --- | --- |", ...rows].join("\n");
}

function resultsTable(results: RunResult[]): string {
  const header =
    "| Scenario | Peer | Delivered msg/s | Lost | p50 | p99 | p99.9 | max | Server CPU user+sys | Server RSS busy | RSS/conn | Connect | Generator CPU |";
  const lines = results.map(
    (result) =>
      `| ${result.scenario} | ${result.target} | ${Math.round(result.deliveredPerSecond).toLocaleString("en")} | ${result.lost} | ${ms(result.latencyMs.p50)} | ${ms(result.latencyMs.p99)} | ${ms(result.latencyMs.p999)} | ${ms(result.latencyMs.max)} | ${result.serverCpuPercent.user.toFixed(0)}+${result.serverCpuPercent.system.toFixed(0)}% | ${(result.serverRssBytes.busy / 2 ** 20).toFixed(0)} MB | ${kb(result.rssPerConnectionBytes)} | ${(result.connectMs / 1000).toFixed(1)} s | ${result.generatorCpuPercent.toFixed(0)}%${result.generatorLimited ? " (limit)" : ""} |`,
  );
  return [header, `|${" --- |".repeat(13)}`, ...lines].join("\n");
}

/** Grouped bars: delivered messages/s at 1,000 clients, 300 B, per offered rate and peer. */
function chart(results: RunResult[]): string {
  const rates = [10, 40, 160, 640];
  const width = 760;
  const height = 360;
  const left = 70;
  const bottom = 300;
  const top = 40;
  const values = rates.flatMap((rate) =>
    PEERS.map((peer) => find(results, `immediate-1000c-${rate}r-300b`, peer)?.deliveredPerSecond ?? 0),
  );
  const maxValue = Math.max(1, ...values);
  const groupWidth = (width - left - 20) / rates.length;
  const barWidth = (groupWidth - 20) / PEERS.length;
  const y = (value: number) => bottom - ((bottom - top) * value) / maxValue;
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="sans-serif" font-size="12">`,
    "<title>Delivered messages per second by peer and offered rate, 1,000 clients, 300 B payloads</title>",
    `<rect width="${width}" height="${height}" fill="white"/>`,
    `<text x="${width / 2}" y="20" text-anchor="middle" font-size="14">Delivered messages/s, 1,000 clients, 300 B payloads, by offered rate</text>`,
    `<line x1="${left}" y1="${bottom}" x2="${width - 10}" y2="${bottom}" stroke="black"/>`,
  ];
  for (let tick = 0; tick <= 4; tick++) {
    const value = (maxValue * tick) / 4;
    parts.push(
      `<text x="${left - 6}" y="${y(value) + 4}" text-anchor="end">${Math.round(value / 1000)}k</text>`,
      `<line x1="${left}" y1="${y(value)}" x2="${width - 10}" y2="${y(value)}" stroke="#ddd"/>`,
    );
  }
  rates.forEach((rate, group) => {
    const x0 = left + 10 + group * groupWidth;
    PEERS.forEach((peer, index) => {
      const value = find(results, `immediate-1000c-${rate}r-300b`, peer)?.deliveredPerSecond ?? 0;
      parts.push(
        `<rect x="${x0 + index * barWidth}" y="${y(value)}" width="${barWidth - 2}" height="${bottom - y(value)}" fill="${COLORS[peer]}"><title>${peer}: ${Math.round(value)} msg/s</title></rect>`,
      );
    });
    parts.push(
      `<text x="${x0 + (groupWidth - 20) / 2}" y="${bottom + 18}" text-anchor="middle">${rate} msg/s offered</text>`,
    );
  });
  PEERS.forEach((peer, index) => {
    parts.push(
      `<rect x="${left + index * 150}" y="${height - 30}" width="12" height="12" fill="${COLORS[peer]}"/>`,
      `<text x="${left + index * 150 + 18}" y="${height - 20}">${peer}</text>`,
    );
  });
  parts.push("</svg>");
  return parts.join("\n");
}

/** "Resume and positions" (reconnect storm, fan-out with positions), from resume-latest.json. */
function resumeSectionBlock(): string {
  const section = resumeSection();
  return section ? `\n${section}` : "";
}

/** "Delivery quality" (per-client intervals, throttled clients), from quality-latest.json. */
function qualitySectionBlock(): string {
  const section = qualitySection();
  return section ? `\n${section}` : "";
}

/** The hand-kept tuning log (bench/tuning.md): what was changed and what each change bought. */
function tuningLog(): string {
  const file = path.join(ROOT, "bench/tuning.md");
  return existsSync(file) ? `\n${readFileSync(file, "utf8")}` : "";
}

export function writeReport(document: BenchDocument): void {
  writeFileSync(path.join(ROOT, "bench/results/chart.svg"), `${chart(document.results)}\n`);
  const markdown = `# Benchmarks

Generated by \`npm run bench\` on ${document.at}. Machine: ${document.machine}.
The load generator (worker processes on 127.0.0.2, .3, ...) and the server share the same two
cores, so absolute figures are modest and noisy; compare peers within this run. Runs marked
\`(limit)\` had a load-generator process above 85% of a core: there the generator, not the
server, was the bottleneck.

Peers: **gateway** (this project, real \`src/main.ts\` with a \`bench\` channel plugin dropped
in), **nats-ws** (nats-server 2.9's own WebSocket listener, clients speak the NATS protocol),
**naive-ws** (a \`ws\` server that JSON.stringifies and sends per client), **socketio**
(Socket.IO 4, \`io.emit\` of the raw JSON). Every peer delivers the same NATS-published messages
to the same number of clients; latency is from each message's *scheduled* publish time to its
receipt (no coordinated omission).

## Targets

${targetsTable(document)}

Maximum sustained rate (1,000 clients, 300 B, stepping 10, 20, 40, 60, 80, 120, 160, 240, ... msg/s;
sustained = nothing lost and p99 < 100 ms): ${PEERS.map((peer) => `${peer} ${document.maxRates[peer] ?? "?"} msg/s`).join(", ")}.

![Delivered messages per second](bench/results/chart.svg)

## All runs

${resultsTable(document.results)}
${resumeSectionBlock()}${qualitySectionBlock()}${tuningLog()}`;
  writeFileSync(path.join(ROOT, "BENCHMARKS.md"), markdown);
}
