/**
 * BENCHMARKS.md, written whole from one full run (bench/results/full-latest.json): how it was
 * measured, every target with the figure that decides it, then every step's figures as the median
 * of its repetitions with min and max. Nothing in it comes from another run.
 */
import { writeFileSync } from "node:fs";
import path from "node:path";
import { type IdleStarts, idleStartsTable, median } from "../idle.js";
import { type BooksResults, booksSection } from "./books-report.js";
import { type LatencyResults, latencySection } from "./latency-report.js";
import { type QualityResults, qualitySection } from "./quality-report.js";
import { type ResumeResults, resumeSection } from "./resume-report.js";
import type { RunResult } from "./run-one.js";
import { STALLED_PEER_STEP_ID, STALLED_RATE, STALLED_RUN_MS, STALLED_STEP_ID } from "./stalled-step.js";
import { type MaxRate, maxRate, SEARCH_RATES, SUSTAINED_P99_MS } from "./sustained.js";
import type { TargetName } from "./targets.js";

const ROOT = path.resolve(import.meta.dirname, "../..");
const PEER_ORDER: TargetName[] = [
  "gateway",
  "gateway-prod",
  "gateway-before",
  "nats-ws",
  "naive-ws",
  "socketio",
];
/** The p99 comparison and the stalled comparison are read at this step. */
const P99_STEP = "fanout-1000c-160r-300b";
const IDLE_MEMORY_STEP = "fanout-10000c-10r-300b";
const PRICE_STEP = "price-1000c-500s-5000tps";
const WRITE_PATH_STEP = "writepath-ab-1000c-160r-300b";
const TARGET_P99_RATIO = 1.0;
const TARGET_RATE_RATIO = 2;
const TARGET_IDLE_CONNECTION_BYTES = 6 * 1024;
const TARGET_IDLE_START_BYTES = 80 * 2 ** 20;

export interface StepResults {
  id: string;
  title: string;
  runs: Partial<Record<TargetName, RunResult[]>>;
}

export interface BenchDocument {
  kind: "quick" | "full";
  at: string;
  commit: string;
  machine: string;
  repetitions: number;
  /** The maximum-rate search: one step per offered rate, 1,000 clients, 300 B frames. */
  search: StepResults[];
  steps: StepResults[];
  idleStarts?: IdleStarts;
  /** Reconnect storm and fan-out with positions (bench/storm.ts, bench/positions.ts). */
  resume?: ResumeResults;
  /** Per-client intervals and throttled clients (bench/quality.ts). */
  quality?: QualityResults;
  /** The order_books state channel, immediate and interval_ms 100 (bench/books.ts). */
  books?: BooksResults;
  /** The gateway's own hop beside the end-to-end p99, two steps, repeated (bench/latency.ts). */
  latency?: LatencyResults;
}

const mib = (bytes: number) => `${(bytes / 2 ** 20).toFixed(1)} MiB`;
const kb = (bytes: number) => `${(bytes / 1024).toFixed(1)} KB`;
const ms = (value: number) => (value >= 100 ? `${value.toFixed(0)} ms` : `${value.toFixed(1)} ms`);
const count = (value: number) => Math.round(value).toLocaleString("en");
const percent = (value: number) => `${value.toFixed(0)}%`;
const verdict = (met: boolean | undefined) =>
  met === undefined ? "not measured" : met ? "**met**" : "**not met**";

/** "median (min to max)" of a figure over a peer's repetitions; just the figure when there is one run. */
function cell(
  runs: RunResult[],
  figure: (run: RunResult) => number,
  format: (value: number) => string,
): string {
  const values = runs.map(figure);
  if (values.length === 0) return "-";
  if (values.length === 1) return format(values[0] as number);
  return `${format(median(values))} (${format(Math.min(...values))} to ${format(Math.max(...values))})`;
}

const medianOf = (runs: RunResult[] | undefined, figure: (run: RunResult) => number) =>
  runs && runs.length > 0 ? median(runs.map(figure)) : undefined;

const peersOf = (step: StepResults) => PEER_ORDER.filter((peer) => (step.runs[peer]?.length ?? 0) > 0);
const allSteps = (document: BenchDocument) => [...document.search, ...document.steps];
const stepById = (document: BenchDocument, id: string) => allSteps(document).find((step) => step.id === id);
const serverCpu = (run: RunResult) => run.serverCpuPercent.user + run.serverCpuPercent.system;

function maxRates(document: BenchDocument): Partial<Record<TargetName, MaxRate>> {
  const rates: Partial<Record<TargetName, MaxRate>> = {};
  for (const peer of PEER_ORDER) {
    const steps = document.search
      .map((step) => ({ rate: step.runs[peer]?.[0]?.ratePerSecond ?? 0, runs: step.runs[peer] ?? [] }))
      .filter((step) => step.runs.length > 0);
    if (steps.length > 0) rates[peer] = maxRate(steps);
  }
  return rates;
}

const rateText = (rate: MaxRate | undefined) =>
  rate === undefined ? "?" : `${rate.atLeast ? "at least " : ""}${count(rate.rate)} msg/s`;

function targetsTable(document: BenchDocument): string {
  const rows: string[] = [];
  const p99Step = stepById(document, P99_STEP);
  const natsP99 = medianOf(p99Step?.runs["nats-ws"], (run) => run.latencyMs.p99);
  for (const peer of ["gateway", "gateway-prod"] as const) {
    const p99 = medianOf(p99Step?.runs[peer], (run) => run.latencyMs.p99);
    const ratio = p99 !== undefined && natsP99 ? p99 / natsP99 : undefined;
    rows.push(
      `| p99 at 1,000 clients x 160 msg/s (300 B) <= ${TARGET_P99_RATIO.toFixed(1)}x nats-server's (medians of ${document.repetitions}) | ${peer} ${p99 === undefined ? "?" : ms(p99)} vs nats-ws ${natsP99 === undefined ? "?" : ms(natsP99)} = ${ratio?.toFixed(2) ?? "?"}x | ${verdict(ratio === undefined ? undefined : ratio <= TARGET_P99_RATIO)} |`,
    );
  }
  const rates = maxRates(document);
  const nats = rates["nats-ws"];
  for (const peer of ["gateway", "gateway-prod"] as const) {
    const own = rates[peer];
    let met: boolean | undefined;
    let note = "";
    if (own && nats && nats.rate > 0) {
      const ratio = own.rate / nats.rate;
      met = ratio >= TARGET_RATE_RATIO;
      note = ` = ${ratio.toFixed(2)}x${own.atLeast ? " (a lower bound: the generator stopped the search)" : ""}`;
      if (!met && own.atLeast) note += "; below the target only because the load generator saturated first";
    }
    rows.push(
      `| Max sustained rate >= ${TARGET_RATE_RATIO}x nats-server's (or generator-limited above that) | ${peer} ${rateText(own)} vs nats-ws ${rateText(nats)}${note} | ${verdict(met)} |`,
    );
  }
  const idleStep = stepById(document, IDLE_MEMORY_STEP);
  const natsIdle = medianOf(idleStep?.runs["nats-ws"], (run) => run.rssPerConnectionBytes);
  for (const peer of ["gateway", "gateway-prod"] as const) {
    const perConnection = medianOf(idleStep?.runs[peer], (run) => run.rssPerConnectionBytes);
    rows.push(
      `| RSS per idle connection at 10,000 <= 6 KB (median) | ${peer} ${perConnection === undefined ? "?" : kb(perConnection)}${natsIdle === undefined ? "" : `, nats-ws ${kb(natsIdle)}`} | ${verdict(perConnection === undefined ? undefined : perConnection <= TARGET_IDLE_CONNECTION_BYTES)} |`,
    );
  }
  const idle = document.idleStarts;
  if (idle) {
    const production = median(idle.rssBytes.production);
    const tsx = median(idle.rssBytes.tsx);
    rows.push(
      `| Idle RSS of the production start <= 80 MiB (median of ${idle.rssBytes.production.length}) | production ${mib(production)} (${(production / 1e6).toFixed(1)} MB), tsx ${mib(tsx)} | ${verdict(production <= TARGET_IDLE_START_BYTES)} |`,
    );
  } else {
    rows.push("| Idle RSS of the production start <= 80 MiB | - | not measured |");
  }
  rows.push(
    `| The tsx start and the production start both reported | gateway and gateway-prod in every fan-out table below; idle RSS of both above | ${verdict(idle !== undefined && (p99Step?.runs["gateway-prod"]?.length ?? 0) > 0)} |`,
  );
  const stalled = stepById(document, STALLED_STEP_ID);
  for (const peer of ["gateway", "gateway-prod"] as const) {
    const runs = stalled?.runs[peer];
    if (!runs?.length) continue;
    // The policy engaged when the gateway counted exactly the stalled clients as slow consumers and
    // every stalled client's connection was ended, while the clients that kept reading lost nothing.
    const ended = (run: RunResult) => (run.stalled?.clients ?? 0) - (run.stalled?.closes.open ?? 0);
    const met = runs.every(
      (run) =>
        (run.stalled?.clients ?? 0) > 0 &&
        run.stalled?.slowConsumerDisconnects === run.stalled?.clients &&
        ended(run) === run.stalled?.clients &&
        run.lost === 0,
    );
    const perRun = runs
      .map(
        (run) =>
          `${run.stalled?.slowConsumerDisconnects ?? "?"} of ${run.stalled?.clients} (connections ended: ${ended(run)})`,
      )
      .join("; ");
    rows.push(
      `| Stalled clients: the slow-consumer policy engages (the gateway disconnects exactly the stalled clients), the others lose nothing | ${peer}: slow-consumer disconnects per run ${perRun}; others lost ${runs.map((run) => run.lost).join(", ")} | ${verdict(met)} |`,
    );
  }
  const writePath = stepById(document, WRITE_PATH_STEP);
  if (writePath) {
    const describe = (peer: TargetName) => {
      const runs = writePath.runs[peer] ?? [];
      return `${peer} p99 ${cell(runs, (run) => run.latencyMs.p99, ms)}, server CPU ${cell(runs, serverCpu, percent)}, lost ${cell(runs, (run) => run.lost, count)}`;
    };
    rows.push(
      `| The write path on public APIs, measured before and after in the same run | ${describe("gateway-before")}; ${describe("gateway")} | measured |`,
    );
  }
  const price = stepById(document, PRICE_STEP)?.runs.gateway;
  if (price?.length) {
    const exact = price.every((run) => {
      const figures = run.price;
      return (
        figures !== undefined &&
        figures.foreignSymbols === 0 &&
        figures.minPerClient >= figures.expectedPerClient - 1 &&
        figures.maxPerClient <= figures.expectedPerClient + 1
      );
    });
    const first = price[0]?.price;
    rows.push(
      `| Price scenario: one price_update per interval per client (+-1 at the run's edges), only its symbols | ${price.map((run) => `${run.price?.minPerClient} to ${run.price?.maxPerClient}`).join("; ")} frames per client over ${first?.expectedPerClient} intervals; foreign symbols ${price.map((run) => run.price?.foreignSymbols).join(", ")}; gateway CPU ${cell(price, serverCpu, percent)} | ${verdict(exact)} |`,
    );
  }
  return ["| Target | Measured | Verdict |", "| --- | --- | --- |", ...rows].join("\n");
}

function maxRateTable(document: BenchDocument): string {
  const rates = maxRates(document);
  const lines = PEER_ORDER.filter((peer) => rates[peer]).map((peer) => {
    const rate = rates[peer] as MaxRate;
    const perRate = document.search
      .map((step) => {
        const runs = step.runs[peer];
        if (!runs?.length) return undefined;
        const p99 = medianOf(runs, (run) => run.latencyMs.p99) as number;
        const lost = medianOf(runs, (run) => run.lost) as number;
        const limited = runs.filter((run) => run.generatorLimited).length;
        return `${runs[0]?.ratePerSecond}: ${ms(p99)}${lost > 0 ? `, lost ${count(lost)}` : ""}${limited ? ` (limit ${limited}/${runs.length})` : ""}`;
      })
      .filter(Boolean)
      .join("; ");
    return `| ${peer} | ${rateText(rate)} | ${rate.stoppedBy} | ${perRate} |`;
  });
  return [
    "| Peer | Max sustained | Search stopped at | Median p99 per offered rate (msg/s: p99) |",
    "| --- | --- | --- | --- |",
    ...lines,
  ].join("\n");
}

/** A gateway's own hop (its /metrics over each run's window): "p50 / p99", each as a cell; "-" for the peers. */
function hopCell(runs: RunResult[]): string {
  const measured = runs.filter((run) => run.gateway?.hopMs !== undefined);
  if (measured.length === 0) return "-";
  const fine = (value: number) => (value < 1 ? `${value.toFixed(2)} ms` : ms(value));
  return `${cell(measured, (run) => run.gateway?.hopMs?.p50 ?? 0, fine)} / ${cell(measured, (run) => run.gateway?.hopMs?.p99 ?? 0, fine)}`;
}

function stepTable(step: StepResults): string {
  const header =
    "| Peer | Runs | Bytes/frame | Delivered msg/s | Lost | p50 | p99 | p99.9 | Gateway hop p50 / p99 (its /metrics) | Server CPU | Server RSS (busy) | RSS/conn | Load core | Generator-limited |";
  const lines = peersOf(step).map((peer) => {
    const runs = step.runs[peer] as RunResult[];
    const limited = runs.filter((run) => run.generatorLimited).length;
    return `| ${peer} | ${runs.length} | ${cell(
      runs,
      (run) => run.bytesPerFrame,
      (value) => value.toFixed(0),
    )} | ${cell(runs, (run) => run.deliveredPerSecond, count)} | ${cell(runs, (run) => run.lost, count)} | ${cell(runs, (run) => run.latencyMs.p50, ms)} | ${cell(runs, (run) => run.latencyMs.p99, ms)} | ${cell(runs, (run) => run.latencyMs.p999, ms)} | ${hopCell(runs)} | ${cell(runs, serverCpu, percent)} | ${cell(runs, (run) => run.serverRssBytes.busy, mib)} | ${cell(runs, (run) => run.rssPerConnectionBytes, kb)} | ${cell(runs, (run) => run.loadCorePercent, percent)} | ${limited ? `${limited}/${runs.length}` : "no"} |`;
  });
  return [header, `|${" --- |".repeat(14)}`, ...lines].join("\n");
}

function stalledTable(step: StepResults | undefined, peerStep: StepResults | undefined): string {
  if (!step) return "Not measured in this run.";
  const lines = peersOf(step).map((peer) => {
    const runs = step.runs[peer] as RunResult[];
    const closes = runs.map((run) =>
      Object.entries(run.stalled?.closes ?? {})
        .filter(([, value]) => value > 0)
        .map(([code, value]) => `${value} ${code === "open" ? "still open" : `closed ${code}`}`)
        .join(", "),
    );
    const without = peerStep?.runs[peer];
    const disconnects = runs.map((run) => run.stalled?.slowConsumerDisconnects ?? "-").join(", ");
    return `| ${peer} | ${runs[0]?.stalled?.clients ?? 0} | ${disconnects} | ${closes.join("; ")} | ${cell(runs, (run) => run.lost, count)} | ${cell(runs, (run) => run.latencyMs.p99, ms)} | ${without ? cell(without, (run) => run.latencyMs.p99, ms) : "-"} | ${cell(runs, (run) => run.serverRssBytes.busy, mib)} | ${without ? cell(without, (run) => run.serverRssBytes.busy, mib) : "-"} |`;
  });
  return [
    "| Peer | Stalled clients per run | Disconnected as slow consumers (gateway metric), per run | How the stalled clients saw their connections end, per run | Others: lost | Others: p99 | p99 without stalled clients | Server RSS (busy) | RSS without stalled clients |",
    "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ...lines,
  ].join("\n");
}

export function writeReport(document: BenchDocument): void {
  const search = document.search
    .map((step) => `### ${step.id}: ${step.title}\n\n${stepTable(step)}`)
    .join("\n\n");
  const fixed = document.steps
    .filter((step) => step.id !== STALLED_STEP_ID)
    .map((step) => `### ${step.id}: ${step.title}\n\n${stepTable(step)}`)
    .join("\n\n");
  const markdown = `# Benchmarks

Generated whole by \`npm run bench\` (bench/run.ts) on ${document.at}, commit ${document.commit}.
Machine: ${document.machine}. Raw figures: \`bench/results/full-latest.json\`.

## How it was measured

- **Peers.** **gateway**: this project as \`npm start\` runs it (\`tsx src/main.ts\`), with a
  \`bench\` channel plugin dropped in; **gateway-prod**: the production start
  (\`node dist/main.js\` after \`npm run build\`, the plugin compiled); **nats-ws**: nats-server
  2.9's own WebSocket listener, clients subscribe in the NATS protocol; **naive-ws**: a \`ws\` server
  that parses and re-stringifies each message per client; **socketio**: Socket.IO 4, \`io.emit\`.
  Every peer delivers the same NATS-published messages to the same clients. **gateway-before**
  (the write-path step only): the last commit before the delivery path moved to public APIs and
  got its adaptive write window, run from a git worktree beside this one.
- **Cores.** The server under test runs alone on CPU 0 (\`taskset -c 0\`): the gateway's node
  process, nats-server itself for nats-ws, the peer's node process otherwise. Everything else runs
  on CPU 1: the orchestrator, the load workers, the publisher, and the broker nats-server (for
  every peer but nats-ws, whose broker is the server under test). The gateway's latency therefore
  includes the extra broker hop; nats-ws's does not. The load workers run at nice 10: they stand for
  clients on other machines and must not delay the publisher or the broker on the shared core.
- **Clients.** At least 4 worker processes (clients on 127.0.0.2, .3, ...). Every peer's client is
  the same raw WebSocket reader (bench/lib/raw-websocket.ts: frames read straight off the TCP
  socket, no per-message copy or event) doing the same minimal work per frame: find the latency
  stamp, count (bench/lib/clients.ts). nats-ws's NATS protocol (MSG lines) and Socket.IO's Engine.IO packets are
  parsed directly, not through their client libraries.
- **Equal frames.** Before each run a few messages are published and the bytes each client receives
  per message are measured; the run's messages are then sized so that every peer's frames come out
  at the same size. The *Bytes/frame* column is what the clients actually received (for nats-ws the
  whole MSG operation, for Socket.IO the Engine.IO packet).
- **Repetitions.** Every step ${document.repetitions} times, the peers taking turns within each
  repetition so that the machine's drift falls on all of them. Each cell is the median, with the
  minimum and maximum in brackets.
- **Latency** is from each message's *scheduled* publish time to its receipt (no coordinated
  omission), over 5 s of publishing per run; delivery is timed until the last message arrived.
- **Gateway hop** (the gateways' column): the gateway's own \`gateway_ingest_to_write_seconds\` for
  the run's channel (NATS receive to the socket write, once per frame per flush), over the run's
  window only (its \`/metrics\` scraped before and after), p50 / p99 interpolated within the
  histogram's buckets; the latency section below sets it beside the end-to-end p99 run by run.
- **Generator-limited.** A run where the load core (CPU 1) was more than 90% busy, or one worker
  process used 90% of a core, is marked: there the load, not the server, was the bottleneck. Such a
  run never counts as the server failing; a search that ends on one reports "at least".
- **Sustained** (the maximum-rate search, 1,000 clients, 300 B frames, offered rates
  ${SEARCH_RATES.join(", ")} msg/s): nothing lost and p99 under ${SUSTAINED_P99_MS} ms, judged on the
  median of the repetitions. Every peer is measured up to 160 msg/s; beyond, while it sustains.

## Targets

${targetsTable(document)}

## Maximum sustained rate

${maxRateTable(document)}

## Fan-out, 1,000 clients, 300 B frames (the search)

${search}

## Other fan-out steps

${fixed}

## Stalled clients

1% of the clients stop reading when publishing starts and read again once it has ended (so that
they see how the server ended their connection). Loopback sockets absorb about 4 MB per connection
before a server notices anything, so this step publishes for ${STALLED_RUN_MS / 1000} s, at ${STALLED_RATE} msg/s (at 160 the clients that kept
reading fell seconds behind: bench/lib/stalled-step.ts). The gateway runs with
\`WEBSOCKET_MAX_BUFFERED_BYTES=1048576\` (and \`WEBSOCKET_CONFLATED_DROP_BYTES=524288\`, which must stay below it) here, so that what the kernel's socket buffers do not absorb
passes the threshold within the run. "Others" are the clients that kept reading; the comparison
columns come from the same-sized step without stalled clients in this run. A client that has
stopped reading cannot receive the gateway's 4001 close frame (it is queued behind everything the
client has not read), so the gateway drops the connection \`WEBSOCKET_CLOSE_GRACE_MS\` later and the
client, when it reads again, sees the connection end without a close frame (1006); the gateway's
own count (\`gateway_slow_consumer_disconnects_total\`) is what the harness checks.

${stalledTable(stepById(document, STALLED_STEP_ID), stepById(document, STALLED_PEER_STEP_ID))}

## Idle memory of the start commands

${document.idleStarts ? `Each start ${document.idleStarts.rssBytes.tsx.length} times against its own nats-server with JetStream, the four plugins loaded and no client: the RSS of the gateway's process ${document.idleStarts.idleMs / 1000} s after \`/readyz\` first answered 200 (bench/idle.ts).\n\n${idleStartsTable(document.idleStarts)}` : "Not measured in this run."}

${document.resume ? `${resumeSection(document.resume)}\n` : "## Resume and positions\n\nStill running, or not measured in this run.\n"}
${document.quality ? (qualitySection(document.quality) ?? "") : "## Delivery quality\n\nStill running, or not measured in this run.\n"}
${document.books ? booksSection(document.books) : "## Order books\n\nStill running, or not measured in this run.\n"}
${document.latency ? latencySection(document.latency) : "## Latency: the gateway's hop and the end-to-end tail\n\nStill running, or not measured in this run.\n"}
## Other benchmark pages

- The resume and delivery-quality benchmarks also run on their own (\`npm run bench:storm\`,
  \`npm run bench:positions\`, \`npm run bench:quality\`); those runs write
  [docs/benchmarks/resume.md](docs/benchmarks/resume.md) and
  [docs/benchmarks/quality.md](docs/benchmarks/quality.md), never this file.
- The order-book and latency benchmarks (\`npm run bench:books\`, \`npm run bench:latency\`) write
  [docs/benchmarks/books.md](docs/benchmarks/books.md) and
  [docs/benchmarks/latency.md](docs/benchmarks/latency.md) and each replaces its own section of this file:
  that section then states its own command, date and commit, which can differ from the rest.
- How the delivery path was tuned, with the measurements made at the time: [bench/tuning.md](bench/tuning.md).
`;
  writeFileSync(path.join(ROOT, "BENCHMARKS.md"), markdown);
}
