/**
 * The "Order books" section: of docs/benchmarks/books.md and of BENCHMARKS.md, written by
 * `npm run bench:books` (bench/books.ts) in place, and by `npm run bench` with the rest. Every verdict is read from
 * one run's own figures: the bytes clients got against what a full-book resend would have cost
 * for the same changes in the same run.
 */
import path from "node:path";
import type { GatewayWindow } from "./gateway-window.js";
import { BENCH_ROOT, BENCHMARKS_FILE, replaceSection } from "./markdown-section.js";
import { type BenchRunHeader, count, ms, pct, verdict } from "./report-format.js";

const PAGE = path.join(BENCH_ROOT, "docs/benchmarks/books.md");
const HEADING = "## Order books";
/** Targets: the immediate run's p99, and every run's bytes against a full-book resend. */
export const BOOKS_P99_TARGET_MS = 50;
export const BOOKS_BYTES_TARGET_RATIO = 1 / 5;
/**
 * CPU 0 busier than the gateway's own share by more than this (percentage points): other processes
 * ran on the gateway's core, and its latency includes waiting for them. CPU 0 is busier than the
 * gateway even alone: the kernel's loopback work for its sends (softirq, about 10 points at these
 * rates) is not charged to its process.
 */
const SHARED_CORE_POINTS = 20;
/** A level as JSON writes it in a frame, e.g. `[150.24,3400],`: for the notes on where bytes go. */
const LEVEL_BYTES = 14;

export interface BooksRun {
  /** "immediate" (no interval_ms) or "interval_ms 100". */
  mode: string;
  /** The gateway's own hop, flushes and GC for order_books over the window (its /metrics); absent in older results. */
  gateway?: GatewayWindow;
  intervalMs?: number;
  /** Every book stepped on the same tick (the comparison run); absent in results from before it existed. */
  inStep?: boolean;
  clients: number;
  /** The books every client subscribed to (the demo's symbols, as the publisher reported them). */
  symbols: string[];
  windowSeconds: number;
  connectMs: number;
  connectFailures: number;
  upstream: {
    /** Per symbol per second, measured at the publisher over the window. */
    deltasPerSecond: number;
    snapshotsPerSecond: number;
    /** Messages that changed the symbol's top-25 view (what a full-book resend would resend on). */
    viewChangesPerSecond: number;
    publisherMaxLagMs: number;
  };
  /** Update frames: from the timestamp of the newest upstream change they carry to receipt. */
  latencyMs: { p50: number; p99: number; p999: number; max: number; samples: number };
  gatewayCpuPercent: { user: number; system: number };
  gatewayRssBytes: number;
  /** Per client, order_books frames only (WebSocket payload bytes); min and max over the clients. */
  perClient: {
    framesPerSecond: number;
    updatesPerSecond: number;
    bytesPerSecond: number;
    minBytesPerSecond: number;
    maxBytesPerSecond: number;
    minFramesPerSecond: number;
    maxFramesPerSecond: number;
    /** Frames of other channels (e.g. channel status) per client per second: not counted above. */
    otherFramesPerSecond: number;
    /** Mean payload bytes of an update frame, and the levels one carried (the verifying clients'). */
    updateFrameBytes: number;
    levelsPerUpdate: number;
  };
  /** The order_book_snapshot frames the clients got when they subscribed (top 25 a side). */
  snapshotFrameBytes: { mean: number; min: number; max: number; count: number };
  /** Per client: every view change of its symbols sent as a snapshot-sized frame. */
  fullResendBytesPerSecond: number;
  bytesVsFullResend: number;
  checks: {
    chainChecked: number;
    chainViolations: number;
    /** The first violation seen: the sequence the client held and the update's prev_sequence. */
    firstViolation?: { symbol: string; held: number | null; prevSequence: number; sequence: number };
    foreignSymbols: number;
    staleFrames: number;
    clientsWithoutEverySnapshot: number;
    checksumClients: number;
    checksumsChecked: number;
    checksumMismatches: number;
    closedByServer: number;
    /** gateway_state_events_total for order_books at the end of the run. */
    gatewayGaps: number;
    gatewayResyncs: number;
  };
  /** How busy the load core (CPU 1) and the gateway's core (CPU 0) were: every process on them, ours or not. */
  loadCorePercent: number;
  serverCorePercent: number;
  busiestWorkerPercent: number;
  generatorLimited: boolean;
  /** The machine's 1-minute load average when the run began (2 cores: above 2, others were running). */
  loadAverage: number;
}

export interface BooksResults extends BenchRunHeader {
  settings: {
    clients: number;
    workers: number;
    symbols: string[];
    deltaMs: number;
    snapshotEveryMs: number;
    depth: number;
    settleSeconds: number;
    windowSeconds: number;
  };
  runs: BooksRun[];
}

const kbps = (value: number) => `${(value / 1024).toFixed(1)} KB/s`;
const rate = (value: number) => value.toFixed(1);
const cpu = (run: BooksRun) => run.gatewayCpuPercent.user + run.gatewayCpuPercent.system;
const limited = (run: BooksRun) =>
  (run.serverCorePercent - cpu(run) > SHARED_CORE_POINTS
    ? ` (the gateway's core was shared: CPU 0 ${pct(run.serverCorePercent)} busy, the gateway ${pct(cpu(run))} of it)`
    : "") +
  (run.generatorLimited
    ? " (generator-limited: the load core was saturated, by this benchmark or other work on the machine, so the figure includes the clients' own delay)"
    : "");

function figuresTable(results: BooksResults): string[] {
  return [
    "| Run | Update latency p50 | p99 | p99.9 | max | Gateway CPU user+sys | Frames/s per client (min to max) | of which updates/s | Bytes/s per client (min to max) | Full-book resend bytes/s per client | Bytes vs full-book resend |",
    "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ...results.runs.map(
      (run) =>
        `| ${run.mode} | ${ms(run.latencyMs.p50)} | ${ms(run.latencyMs.p99)} | ${ms(run.latencyMs.p999)} | ${ms(run.latencyMs.max)} | ${pct(cpu(run))} | ${rate(run.perClient.framesPerSecond)} (${rate(run.perClient.minFramesPerSecond)} to ${rate(run.perClient.maxFramesPerSecond)}) | ${rate(run.perClient.updatesPerSecond)} | ${kbps(run.perClient.bytesPerSecond)} (${kbps(run.perClient.minBytesPerSecond)} to ${kbps(run.perClient.maxBytesPerSecond)}) | ${kbps(run.fullResendBytesPerSecond)} | ${(run.bytesVsFullResend * 100).toFixed(1)}% (1/${(1 / run.bytesVsFullResend).toFixed(1)}) |`,
    ),
  ];
}

function detailTable(results: BooksResults): string[] {
  return [
    "| Run | Upstream per symbol: deltas/s, snapshots/s, top-25 view changes/s | Publisher's worst lag | Snapshot frame bytes: mean (min to max, frames) | Update frame bytes (mean), levels per update | Chain: updates checked, violations | state_status frames | Checksums verified (clients), mismatches | Gateway gaps, resyncs | Closed by the gateway, connect failures | CPU 0 busy (gateway's core, all processes) | CPU 1 busy (load core, all processes), busiest worker | Load average at start |",
    "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ...results.runs.map(
      (run) =>
        `| ${run.mode} | ${rate(run.upstream.deltasPerSecond)}, ${run.upstream.snapshotsPerSecond.toFixed(2)}, ${rate(run.upstream.viewChangesPerSecond)} | ${ms(run.upstream.publisherMaxLagMs)} | ${count(run.snapshotFrameBytes.mean)} (${count(run.snapshotFrameBytes.min)} to ${count(run.snapshotFrameBytes.max)}, ${count(run.snapshotFrameBytes.count)}) | ${count(run.perClient.updateFrameBytes)}, ${run.perClient.levelsPerUpdate.toFixed(1)} | ${count(run.checks.chainChecked)}, ${count(run.checks.chainViolations)} | ${run.checks.staleFrames} | ${count(run.checks.checksumsChecked)} (${run.checks.checksumClients}), ${run.checks.checksumMismatches} | ${run.checks.gatewayGaps}, ${run.checks.gatewayResyncs} | ${run.checks.closedByServer}, ${run.connectFailures} | ${pct(run.serverCorePercent)} | ${pct(run.loadCorePercent)}, ${pct(run.busiestWorkerPercent)} | ${run.loadAverage.toFixed(1)} |`,
    ),
  ];
}

const msOr = (value: number | undefined) => (value === undefined ? "-" : ms(value));

/**
 * The gateway's own share of each run's latency, from its /metrics over the same window: its hop
 * for order_books (NATS receive to the socket write, without the interval's wait), the socket
 * flushes that carry it, and its garbage collection.
 */
function gatewayTable(results: BooksResults): string[] {
  const runs = results.runs.filter((run) => run.gateway !== undefined);
  if (runs.length === 0) return [];
  return [
    "| Run | Gateway hop p50 | hop p99 | hop p99.9 (frames) | Socket flush p50, p99 (writes per flush) | Per socket write | Interval wait p99 | GC in the window: pauses, total | Update latency p99 (above) |",
    "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ...runs.map((run) => {
      const window = run.gateway as GatewayWindow;
      const hop = window.hopMs;
      const flush = window.flushMs;
      const writes = window.socketWrites;
      const perWrite =
        writes && window.flushTotalMs !== undefined
          ? `${((window.flushTotalMs * 1000) / writes).toFixed(1)} µs`
          : "-";
      const perFlush = writes && flush ? ` (${(writes / flush.count).toFixed(0)})` : "";
      return `| ${run.mode} | ${msOr(hop?.p50)} | ${msOr(hop?.p99)} | ${msOr(hop?.p999)}${hop ? ` (${count(hop.count)})` : ""} | ${flush ? `${ms(flush.p50)}, ${ms(flush.p99)}${perFlush}` : "-"} | ${perWrite} | ${msOr(window.conflationWaitMs?.p99)} | ${window.gc ? `${window.gc.pauses}, ${ms(window.gc.totalMs)}` : "-"} | ${ms(run.latencyMs.p99)} |`;
    }),
  ];
}

function targetsTable(results: BooksResults): string[] {
  const rows: string[] = [];
  const immediate = results.runs.find((run) => run.intervalMs === undefined && !run.inStep);
  if (immediate) {
    rows.push(
      `| Immediate run: update p99 under ${BOOKS_P99_TARGET_MS} ms | p99 ${ms(immediate.latencyMs.p99)} over ${count(immediate.latencyMs.samples)} updates${limited(immediate)} | ${verdict(immediate.latencyMs.p99 < BOOKS_P99_TARGET_MS)} |`,
    );
  }
  for (const run of results.runs.filter((candidate) => !candidate.inStep)) {
    rows.push(
      `| ${run.mode}: bytes/s per client at most 1/${1 / BOOKS_BYTES_TARGET_RATIO} of a full-book resend | ${kbps(run.perClient.bytesPerSecond)} vs ${kbps(run.fullResendBytesPerSecond)} (${rate(run.upstream.viewChangesPerSecond * results.settings.symbols.length)} view changes/s x ${count(run.snapshotFrameBytes.mean)} B) = 1/${(1 / run.bytesVsFullResend).toFixed(1)} | ${verdict(run.bytesVsFullResend <= BOOKS_BYTES_TARGET_RATIO)} |`,
    );
  }
  const intact = (run: BooksRun) =>
    run.checks.chainViolations === 0 &&
    run.checks.foreignSymbols === 0 &&
    run.checks.staleFrames === 0 &&
    run.checks.clientsWithoutEverySnapshot === 0 &&
    run.checks.checksumMismatches === 0;
  rows.push(
    `| Every client's chain intact: each update's prev_sequence is the last sequence it got for the symbol; every client has a snapshot of every symbol; sampled checksums match | ${results.runs.map((run) => `${run.mode}: ${count(run.checks.chainViolations)} violations in ${count(run.checks.chainChecked)} updates${firstViolation(run)}, ${run.checks.clientsWithoutEverySnapshot} clients missing a snapshot, ${run.checks.checksumMismatches} checksum mismatches in ${count(run.checks.checksumsChecked)}`).join("; ")} | ${verdict(results.runs.every(intact))} |`,
  );
  return ["| Target | Measured | Verdict |", "| --- | --- | --- |", ...rows];
}

/** With interval_ms: how many changes an update merges, and whether it saves levels or only fixed fields. */
function intervalWhy(run: BooksRun, results: BooksResults): string {
  const updatesPerBook = run.perClient.updatesPerSecond / results.settings.symbols.length;
  const merged = run.upstream.viewChangesPerSecond / updatesPerBook;
  const immediate = results.runs.find((candidate) => candidate.intervalMs === undefined && !candidate.inStep);
  const oneByOne = immediate
    ? ` (the immediate run's updates carry ${immediate.perClient.levelsPerUpdate.toFixed(1)} each: ${merged.toFixed(1)} of them ${(merged * immediate.perClient.levelsPerUpdate).toFixed(1)})`
    : "";
  return `Clients got ${rate(updatesPerBook)} updates per book per second for ${rate(run.upstream.viewChangesPerSecond)} view changes: each merges about ${merged.toFixed(1)} changes and carries ${run.perClient.levelsPerUpdate.toFixed(1)} levels${oneByOne}, so what merging saves here is mostly the fixed fields of the updates it replaces.`;
}

/**
 * An order_book_update with no levels, its sequences as long as the simulated books' (clock
 * milliseconds), a ten-digit checksum and a millisecond ISO timestamp: the floor of an update frame.
 */
const MINIMAL_UPDATE_BYTES = JSON.stringify({
  type: "order_book_update",
  symbol: "AAPL",
  sequence: 1_765_117_759_195,
  prev_sequence: 1_765_117_759_194,
  bids: [],
  asks: [],
  checksum: 3_834_343_434,
  timestamp: "2026-12-07T14:29:19.195Z",
}).length;

/** Where an update's bytes go, when a run misses the bytes target: its levels, and the rest. */
function bytesNotes(results: BooksResults): string[] {
  return results.runs
    .filter((run) => !run.inStep && run.bytesVsFullResend > BOOKS_BYTES_TARGET_RATIO)
    .map((run) => {
      const update = run.perClient.updateFrameBytes;
      const snapshot = run.snapshotFrameBytes.mean;
      const fixed = update - run.perClient.levelsPerUpdate * LEVEL_BYTES;
      const why =
        run.intervalMs === undefined
          ? `With one update frame per change, bytes cannot go below ${count(update)}/${count(snapshot)} = 1/${(snapshot / update).toFixed(1)} of a full-book resend in this frame format. A fifth needs update frames of at most ${count(snapshot / 5)} B on average, less than the fixed fields alone: the contract's update frame (order_book_update with symbol, sequence, prev_sequence, bids, asks, checksum and an ISO timestamp) is about ${count(MINIMAL_UPDATE_BYTES)} B before its first level, so no choice of upstream deltas reaches the target with one update per change; only fewer frames (interval_ms) or a smaller frame format (a contract change) can.`
          : intervalWhy(run, results);
      return `- ${run.mode}: an update frame averages ${count(update)} B for ${run.perClient.levelsPerUpdate.toFixed(1)} changed levels (about ${LEVEL_BYTES} B each, \`[150.24,3400],\`), so about ${count(fixed)} B of it are its fixed fields (type, symbol, sequence, prev_sequence, checksum, timestamp); a snapshot frame is ${count(snapshot)} B. ${why}`;
    });
}

/** " (the first: ...)", for a run that had chain violations. */
function firstViolation(run: BooksRun): string {
  const first = run.checks.firstViolation;
  if (!first) return "";
  const held = first.held === null ? "no sequence" : `sequence ${first.held}`;
  return ` (the first: a client holding ${first.symbol} at ${held} got an update with prev_sequence ${first.prevSequence}, sequence ${first.sequence}${run.checks.chainViolations === run.clients ? "; one violation per client: one event hit every client of the run at once" : ""})`;
}

export function booksSection(results: BooksResults): string {
  const { settings } = results;
  return [
    HEADING,
    "",
    `\`${results.command}\` (bench/books.ts), ${results.at}, commit ${results.commit}, ${results.machine}; load average ${results.loadAverage.toFixed(1)} when it began (on 2 cores, a figure above 2 means other work was running on the machine).`,
    "",
    `- **Setup.** Each run has its own nats-server and gateway (\`src/main.ts\` with the real plugins, \`ORDER_BOOKS_DEPTH\` ${settings.depth}), the gateway alone on CPU 0 and everything else on CPU 1 (bench/lib/cpu-pinning.ts). ${settings.clients.toLocaleString("en")} clients over ${settings.workers} worker processes on 127.0.0.2 to .${1 + settings.workers} (raw WebSocket readers, bench/lib/raw-websocket.ts), each subscribed to the books of ${settings.symbols.join(", ")}: one run without interval_ms (every change at once), one with interval_ms 100, and the first again with the books in step (below). Measured over a ${settings.windowSeconds} s window, ${settings.settleSeconds} s after the last client subscribed.`,
    `- **Upstream.** The demo's simulated books (src/demo/simulated-books.ts: 40 levels a side, a few levels changing per delta) following the demo market's prices, a delta every ${settings.deltaMs} ms per symbol and a snapshot every ${settings.snapshotEveryMs / 1000} s (in place of that step's delta), published on \`market.books.<SYMBOL>\` from their own process (bench/load/books-publisher.ts); the demo's deliberate gaps are off. Each book steps on its own schedule, the ${settings.symbols.length} schedules spread evenly over the ${settings.deltaMs} ms, as independent upstream books are not published in the same millisecond; the run *books in step* steps all ${settings.symbols.length} on the same tick, as the demo's timer does: every ${settings.deltaMs} ms the gateway then has an update of every book for every client at once (${(settings.symbols.length * settings.clients).toLocaleString("en")} frames), the worst burst this load can make. It is shown for comparison; the targets are for the first two runs. The books are stepped on a fixed schedule and each message's \`timestamp\` is its *scheduled* time, so that a late publisher shows up as latency rather than as less load.`,
    "- **Latency** is per update frame, from its `timestamp` (the gateway passes on that of the newest upstream change it carries, i.e. the scheduled publish time) to its receipt, both on one machine's clock (bench/lib/now.ts). With interval_ms that includes the time the newest change waited for its flush (with a change every 50 ms, up to 50 ms); older changes merged into the same update waited longer, up to the interval, and are not what is measured.",
    "- **Bytes** are WebSocket payload bytes of order_books frames (the 2 to 4 header bytes a frame left out, as in the other benchmarks). **Full-book resend** is what the same run's changes would cost if each were sent as a whole top-25 book: the view changes per second of the client's symbols (every upstream message that changed a symbol's top-25 view, counted at the publisher with the plugin's own book arithmetic, plugins/order_books/book.ts) times the mean size of the order_book_snapshot frames the clients got when they subscribed.",
    `- **Machine.** The gateway's CPU is its own process's user+sys (/proc). *CPU 0 busy* and *CPU 1 busy* count every process on those cores, this benchmark's and anything else running on the machine, and the kernel's work: even alone, CPU 0 is about 10 points busier than the gateway (the loopback network work for its sends, softirq, is not charged to its process). CPU 0 more than ${SHARED_CORE_POINTS} points busier than the gateway means other processes shared its core, and its latency includes waiting for them; the p99 verdict says so when it happened.`,
    "- **Checks.** Every update of every client is checked against the client's last sequence for its symbol (snapshot sets it, state_status clears it); one client per worker also keeps the books and verifies every frame's checksum.",
    "",
    ...figuresTable(results),
    "",
    ...detailTable(results),
    "",
    ...(gatewayTable(results).length > 0
      ? [
          "The gateway's own share, from its `/metrics` scraped just before and after each window (the histograms of docs/latency.md: one observation per frame per socket flush, timed at the end of the flush; *interval wait* is `gateway_conflation_wait_seconds`, kept out of the hop):",
          "",
          ...gatewayTable(results),
          "",
        ]
      : []),
    ...targetsTable(results),
    "",
    ...(bytesNotes(results).length > 0 ? [...bytesNotes(results), ""] : []),
  ].join("\n");
}

/**
 * Replace (or add) the section in docs/benchmarks/books.md and in BENCHMARKS.md, leaving anything
 * else on either page (a full `npm run bench` rewrites BENCHMARKS.md whole, with this section in it).
 */
export function writeBooksPage(results: BooksResults): void {
  const section = booksSection(results);
  replaceSection(
    PAGE,
    HEADING,
    section,
    "# Benchmarks: order books\n\nSee BENCHMARKS.md for how the benchmarks are run; this page is written by its own command, `npm run bench:books`.\n",
  );
  replaceSection(BENCHMARKS_FILE, HEADING, section, "# Benchmarks\n");
}
