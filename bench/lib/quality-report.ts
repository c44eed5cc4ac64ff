/**
 * The "Delivery quality" section of docs/benchmarks/quality.md, from bench/results/quality-latest.json
 * (written by `npm run bench:quality`, bench/quality.ts). Every verdict is a ratio between
 * configurations of the same run, repetition by repetition.
 */
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { type BenchRunHeader, pct, verdict } from "./report-format.js";

const ROOT = path.resolve(path.dirname(new URL(import.meta.url).pathname), "../..");
export const QUALITY_RESULTS_FILE = path.join(ROOT, "bench/results/quality-latest.json");
const HEADING = "## Delivery quality";

export interface IntervalsRun {
  config: string;
  repetition: number;
  /** Gateway user+sys over the window, % of one core. */
  cpuPercent: number;
  rssBytes: number;
  windowSeconds: number;
  busiestWorkerPercent: number;
  groups: Record<
    string,
    {
      clients: number;
      framesPerClientPerSecond: number;
      minPerClient: number;
      maxPerClient: number;
      foreignSymbols: number;
      closedByServer: number;
      ackMismatches: number;
      ackIntervals: number[];
      /** Mean and largest gap between the gateway timestamps of a client's consecutive frames. */
      meanGapMs: number;
      maxGapMs: number;
    }
  >;
}

export interface ThrottledClientSummary {
  connected: boolean;
  closeCode: number | undefined;
  fullSpeedBytesPerSecond: number;
  throttledBytesPerSecond: number;
  degradedFrames: number;
  statusFrames: number;
  firstDegradedAfterMs: number | undefined;
  maxFactor: number;
  factorAtWindowEnd: number;
  restored: boolean;
  framesPerSecondInWindow: number;
  /** Longest time without a frame sent to it, from throttling to the window's end. */
  longestGapMs: number;
  foreignSymbols: number;
}

export interface ThrottledRun {
  config: string;
  repetition: number;
  cpuPercent: number;
  rssBytes: number;
  windowSeconds: number;
  busiestWorkerPercent: number;
  others: {
    clients: number;
    latencyMs: { p50: number; p99: number; p999: number; max: number };
    benchFramesPerClientPerSecond: number;
    priceFramesPerClientPerSecond: number;
    closedByServer: number;
    foreignSymbols: number;
  };
  the10: {
    clients: number;
    framesPerClientPerSecond: number;
    closedByServer: number;
    clientsDetail: ThrottledClientSummary[];
  };
  metrics: { framesDropped: number; framesDroppedInWindow: number; slowConsumerDisconnects: number };
}

export interface QualityResults extends BenchRunHeader {
  settings: {
    clients: number;
    workers: number;
    symbols: number;
    perClient: number;
    ticksPerSecond: number;
    intervalsMs: number[];
    intervalsWindowS: number;
    throttled: number;
    throttledIntervalMs: number;
    throttleFraction: number;
    benchRate: number;
    rampS: number;
    throttledWindowS: number;
    dropBytes: number;
    degradeBytes: number;
    degradeMaxFactor: number;
  };
  intervals: IntervalsRun[];
  throttled: ThrottledRun[];
}

export function readQualityResults(): QualityResults | undefined {
  if (!existsSync(QUALITY_RESULTS_FILE)) return undefined;
  return JSON.parse(readFileSync(QUALITY_RESULTS_FILE, "utf8")) as QualityResults;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  if (sorted.length === 0) return Number.NaN;
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2
    ? (sorted[middle] as number)
    : ((sorted[middle - 1] as number) + (sorted[middle] as number)) / 2;
}

/** "median (min to max)" of the values, each formatted by `format`. */
function spread(values: number[], format: (value: number) => string): string {
  if (values.length === 0) return "-";
  if (values.length === 1) return format(values[0] as number);
  return `${format(median(values))} (${format(Math.min(...values))} to ${format(Math.max(...values))})`;
}

const ratio = (value: number) => `${value.toFixed(2)}x`;
const perSecond = (value: number) => value.toFixed(2);
const ms = (value: number) => `${value.toFixed(0)} ms`;
const kb = (value: number) => `${(value / 1024).toFixed(1)} KB/s`;
/** A measured/expected ratio as a signed percentage off 1 ("+0.0%", "-1.2%"). */
const signed = (value: number) => `${value >= 1 ? "+" : "-"}${(Math.abs(value - 1) * 100).toFixed(1)}%`;

/** Pairs of runs of two configurations in the same repetition. */
function paired<T extends { config: string; repetition: number }>(runs: T[], a: string, b: string): [T, T][] {
  const pairs: [T, T][] = [];
  for (const run of runs.filter((candidate) => candidate.config === a)) {
    const other = runs.find((candidate) => candidate.config === b && candidate.repetition === run.repetition);
    if (other) pairs.push([run, other]);
  }
  return pairs;
}

const CONFIG_TEXT: Record<string, string> = {
  "single-1000": "single-1000 (all 1,000 on the channel's 1 s, no interval_ms: the matrix's price scenario)",
  four: "four (250 clients each at interval_ms 250, 500, 1000, 2000)",
  "single-250": "single-250 (all 1,000 at interval_ms 250; context only)",
};

function intervalsSection(results: QualityResults): string[] {
  const runs = results.intervals;
  if (runs.length === 0) return [];
  const configs = [...new Set(runs.map((run) => run.config))];
  const lines: string[] = [
    "### Per-client intervals",
    "",
    `${results.settings.clients} clients x ${results.settings.perClient} symbols (the matrix's price watchlists) on ${results.settings.symbols} symbols at ${results.settings.ticksPerSecond.toLocaleString("en")} ticks/s (every symbol changes every 100 ms),`,
    `measured over a ${results.settings.intervalsWindowS} s window after 3 s of warm-up. CPU is the gateway's user+sys over the window, including the`,
    "ingest of the ticks (the same in every configuration). Frames per client per second: price_update frames each client received in the window, divided by its length.",
    "",
    "| Configuration | Runs | Gateway CPU user+sys | CPU vs single-1000 of the same repetition | Busiest worker CPU |",
    "| --- | --- | --- | --- | --- |",
  ];
  for (const config of configs) {
    const ofConfig = runs.filter((run) => run.config === config);
    const ratios = paired(runs, config, "single-1000").map(
      ([run, single]) => run.cpuPercent / single.cpuPercent,
    );
    lines.push(
      `| ${CONFIG_TEXT[config] ?? config} | ${ofConfig.length} | ${spread(
        ofConfig.map((run) => run.cpuPercent),
        pct,
      )} | ${config === "single-1000" ? "1.00x" : spread(ratios, ratio)} | ${spread(
        ofConfig.map((run) => run.busiestWorkerPercent),
        pct,
      )} |`,
    );
  }
  lines.push(
    "",
    "| Configuration | Interval group | Clients | Expected frames/s | Frames per client per second | Frames per client in the window (min to max, all runs) | Mean gap between a client's frames (gateway timestamps) | Largest gap | Ack interval_ms | Foreign symbols | Closed by the server |",
    "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
  );
  for (const config of configs) {
    const ofConfig = runs.filter((run) => run.config === config);
    const groups = [...new Set(ofConfig.flatMap((run) => Object.keys(run.groups)))].sort(
      (a, b) => Number.parseInt(a, 10) - Number.parseInt(b, 10),
    );
    for (const name of groups) {
      const of = ofConfig.flatMap((run) => (run.groups[name] ? [run.groups[name]] : []));
      const intervalMs = Number.parseInt(name, 10);
      lines.push(
        `| ${config} | ${name} | ${of[0]?.clients ?? 0} | ${perSecond(1000 / intervalMs)} | ${spread(
          of.map((group) => group.framesPerClientPerSecond),
          perSecond,
        )} | ${Math.min(...of.map((group) => group.minPerClient))} to ${Math.max(...of.map((group) => group.maxPerClient))} | ${spread(
          of.map((group) => group.meanGapMs),
          ms,
        )} | ${ms(Math.max(...of.map((group) => group.maxGapMs)))} | ${[
          ...new Set(of.flatMap((group) => group.ackIntervals)),
        ].join(", ")}${of.some((group) => group.ackMismatches > 0) ? " (mismatches!)" : ""} | ${of.reduce(
          (sum, group) => sum + group.foreignSymbols,
          0,
        )} | ${of.reduce((sum, group) => sum + group.closedByServer, 0)} |`,
      );
    }
  }
  const ratios = paired(runs, "four", "single-1000").map(
    ([four, single]) => four.cpuPercent / single.cpuPercent,
  );
  const rates = runs
    .filter((run) => run.config === "four")
    .flatMap((run) =>
      Object.entries(run.groups).map(
        ([name, group]) => group.framesPerClientPerSecond / (1000 / Number.parseInt(name, 10)),
      ),
    );
  const ratesOk = rates.every((value) => value >= 0.85 && value <= 1.15);
  const clean = runs.every((run) =>
    Object.values(run.groups).every(
      (group) => group.foreignSymbols === 0 && group.ackMismatches === 0 && group.closedByServer === 0,
    ),
  );
  if (ratios.length > 0) {
    const medianRatio = median(ratios);
    lines.push(
      "",
      "| Target | Measured | Verdict |",
      "| --- | --- | --- |",
      `| 4 intervals: gateway CPU at most 1.5x the single-interval figure of the same run | four / single-1000, per repetition: median ${ratio(medianRatio)} (${ratio(Math.min(...ratios))} to ${ratio(Math.max(...ratios))}), ${ratios.length} repetitions | ${verdict(medianRatio <= 1.5)}${medianRatio <= 1.5 && Math.max(...ratios) > 1.5 ? " (median; not in every repetition)" : ""} |`,
      `| Each group at its own rate, only its symbols, ack carries interval_ms | four: frames per client per second ${signed(Math.min(...rates))} to ${signed(Math.max(...rates))} off 1000 / interval; foreign symbols, ack mismatches, disconnects: ${clean ? "none" : "some (see table)"} | ${verdict(ratesOk && clean)} |`,
    );
  }
  return lines;
}

function p99s(runs: ThrottledRun[], config: string): number[] {
  return runs.filter((run) => run.config === config).map((run) => run.others.latencyMs.p99);
}

function rangeOf(runs: ThrottledRun[], config: string): string {
  const values = p99s(runs, config);
  return `${ms(Math.min(...values))} to ${ms(Math.max(...values))}`;
}

function overlap(runs: ThrottledRun[]): boolean {
  const base = p99s(runs, "baseline");
  const throttled = p99s(runs, "throttled");
  return Math.min(...throttled) <= Math.max(...base) && Math.min(...base) <= Math.max(...throttled);
}

function throttledSection(results: QualityResults): string[] {
  const runs = results.throttled;
  if (runs.length === 0) return [];
  const s = results.settings;
  const lines: string[] = [
    "### Throttled clients (degrade before disconnect)",
    "",
    `${s.clients} clients on price_updates. ${s.clients - s.throttled} "others": ${s.perClient} symbols each at the channel's 1 s, plus the bench channel (immediate) at ${s.benchRate} msg/s, 300 B, whose`,
    `publish stamps give their latency. ${s.throttled} clients (one in a hundred, spread over the 4 workers): every symbol at interval_ms ${s.throttledIntervalMs}, not on the bench channel.`,
    `In **throttled** those ${s.throttled} read at a tenth of the bytes/s they got at full speed (socket paused, resumed in 50 ms bursts while they have credit) from`,
    `${s.rampS} s before the ${s.throttledWindowS} s window to its end; in **baseline** the same ${s.throttled} read at full speed. Both runs with WEBSOCKET_CONFLATED_DROP_BYTES=${s.dropBytes}`,
    `and WEBSOCKET_DEGRADE_BYTES=${s.degradeBytes} (the kernel absorbs MBs per loopback socket before the gateway's queue grows). After the window the ${s.throttled}`,
    "read their backlog at full speed: their delivery_status frames and the gateway's timestamps on their price_update frames show what the gateway sent them while they lagged.",
    "",
    "| Run | Runs | Others' p50 | Others' p99 | p99 vs baseline of the same repetition | Others' bench msg/s per client | Gateway CPU user+sys | The 10: price frames/s each (sent) | Others closed / the 10 closed |",
    "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
  ];
  for (const config of ["baseline", "throttled"]) {
    const of = runs.filter((run) => run.config === config);
    if (of.length === 0) continue;
    const ratios = paired(runs, config, "baseline").map(
      ([run, base]) => run.others.latencyMs.p99 / base.others.latencyMs.p99,
    );
    lines.push(
      `| ${config} | ${of.length} | ${spread(
        of.map((run) => run.others.latencyMs.p50),
        ms,
      )} | ${spread(
        of.map((run) => run.others.latencyMs.p99),
        ms,
      )} | ${config === "baseline" ? "1.00x" : spread(ratios, ratio)} | ${spread(
        of.map((run) => run.others.benchFramesPerClientPerSecond),
        (value) => value.toFixed(1),
      )} | ${spread(
        of.map((run) => run.cpuPercent),
        pct,
      )} | ${spread(
        of.map((run) => run.the10.framesPerClientPerSecond),
        perSecond,
      )} | ${of.reduce((sum, run) => sum + run.others.closedByServer, 0)} / ${of.reduce(
        (sum, run) => sum + run.the10.closedByServer,
        0,
      )} |`,
    );
  }
  const throttled = runs.filter((run) => run.config === "throttled");
  lines.push(
    "",
    "The throttled clients, per repetition (each cell over the 10 clients: median, min to max):",
    "",
    "| Repetition | Connected at the end | Got delivery_status degraded:true | First degraded after throttling | Highest factor reached | Factor at the window's end | Price frames/s sent in the window | Longest time without a frame (throttling to window end) | Read at full speed / throttled | Restored (degraded:false) after catching up | Conflated frames skipped by the gateway in the window (all clients) |",
    "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
  );
  for (const run of throttled) {
    const detail = run.the10.clientsDetail;
    const firsts = detail.flatMap((client) =>
      client.firstDegradedAfterMs === undefined ? [] : [client.firstDegradedAfterMs],
    );
    lines.push(
      `| ${run.repetition} | ${detail.filter((client) => client.connected).length}/${detail.length} | ${detail.filter((client) => client.degradedFrames > 0).length}/${detail.length} | ${spread(
        firsts,
        (value) => `${(value / 1000).toFixed(1)} s`,
      )} | ${spread(
        detail.map((client) => client.maxFactor),
        (value) => `${value}x`,
      )} | ${spread(
        detail.map((client) => client.factorAtWindowEnd),
        (value) => `${value}x`,
      )} | ${spread(
        detail.map((client) => client.framesPerSecondInWindow),
        perSecond,
      )} | ${spread(
        detail.map((client) => client.longestGapMs),
        (value) => `${(value / 1000).toFixed(1)} s`,
      )} | ${spread(
        detail.map((client) => client.fullSpeedBytesPerSecond),
        kb,
      )} / ${spread(
        detail.map((client) => client.throttledBytesPerSecond),
        kb,
      )} | ${detail.filter((client) => client.restored).length}/${detail.length} | ${run.metrics.framesDroppedInWindow.toLocaleString("en")} |`,
    );
  }
  const allDetail = throttled.flatMap((run) => run.the10.clientsDetail);
  const firstDegraded = allDetail.flatMap((client) =>
    client.firstDegradedAfterMs === undefined ? [] : [client.firstDegradedAfterMs],
  );
  if (firstDegraded.length > 0) {
    const gaps = allDetail.map((client) => client.longestGapMs);
    lines.push(
      "",
      `- The gateway saw a backlog only once the kernel's buffers for those sockets were full: the first \`degraded: true\` was stamped a median ${(median(firstDegraded) / 1000).toFixed(1)} s after throttling began (${(Math.min(...firstDegraded) / 1000).toFixed(1)} to ${(Math.max(...firstDegraded) / 1000).toFixed(1)} s); from there the factor doubled once a second up to ${Math.max(...allDetail.map((client) => client.maxFactor))}x.`,
      `- Longest time without a price frame from throttling to the window's end: median ${(median(gaps) / 1000).toFixed(1)} s (${(Math.min(...gaps) / 1000).toFixed(1)} to ${(Math.max(...gaps) / 1000).toFixed(1)} s). ${median(gaps) > 5000 ? "At the highest factor their queue still stayed above WEBSOCKET_CONFLATED_DROP_BYTES, so the gateway skipped their frames (they are owed the keys) instead of sending one every 1.6 s: with MBs already in the kernel, a client reading a tenth of the rate drains it slowly, and the socket takes more from the gateway's queue only as it does. Starved, but connected and told so, as the policy intends (slowed first, starved second, never cut off for conflated data)." : "They kept getting frames at the widened interval."}`,
      '- After the window they read their backlog at full speed; the gateway then halved their factor once a second back to 1x and said so (`degraded: false`), as the "Restored" column counts.',
    );
  }
  const ratios = paired(runs, "throttled", "baseline").map(
    ([run, base]) => run.others.latencyMs.p99 / base.others.latencyMs.p99,
  );
  if (ratios.length > 0) {
    const medianRatio = median(ratios);
    const details = throttled.flatMap((run) => run.the10.clientsDetail);
    const allConnected = details.every((client) => client.connected);
    const allDegraded = details.every((client) => client.degradedFrames > 0);
    const baselineRate = median(
      runs.filter((run) => run.config === "baseline").map((run) => run.the10.framesPerClientPerSecond),
    );
    const throttledRate = median(throttled.map((run) => run.the10.framesPerClientPerSecond));
    const othersClosed = runs.reduce((sum, run) => sum + run.others.closedByServer, 0);
    lines.push(
      "",
      "| Target | Measured | Verdict |",
      "| --- | --- | --- |",
      `| 1% throttled: others' p99 within 10% of the run without throttling | throttled / baseline p99, per repetition: median ${ratio(medianRatio)} (${ratio(Math.min(...ratios))} to ${ratio(Math.max(...ratios))}), ${ratios.length} repetitions; p99 ranged ${rangeOf(runs, "baseline")} in baseline and ${rangeOf(runs, "throttled")} throttled${overlap(runs) ? ": the ranges overlap, the machine's noise is larger than the effect measured" : ""} | ${verdict(medianRatio <= 1.1)}${medianRatio <= 1.1 && Math.max(...ratios) > 1.1 ? " (median; not in every repetition)" : ""} |`,
      `| The throttled clients are degraded, not disconnected | ${details.filter((client) => client.degradedFrames > 0).length}/${details.length} got delivery_status degraded:true, ${details.filter((client) => client.connected).length}/${details.length} connected at the end, highest factor ${Math.max(...details.map((client) => client.maxFactor))}x; their price frames ${perSecond(baselineRate)}/s at full speed vs ${perSecond(throttledRate)}/s sent while throttled (medians); ${othersClosed} others disconnected | ${verdict(allConnected && allDegraded && throttledRate < baselineRate && othersClosed === 0)} |`,
    );
  }
  return lines;
}

export function qualitySection(
  results: QualityResults | undefined = readQualityResults(),
): string | undefined {
  if (!results) return undefined;
  return [
    HEADING,
    "",
    `\`${results.command}\` (bench/quality.ts), ${results.at}, commit ${results.commit}, ${results.machine}; load average ${results.loadAverage.toFixed(1)} when it began.`,
    `Each run has its own nats-server and gateway; ${results.settings.clients} clients over ${results.settings.workers} worker processes on 127.0.0.2 to .${1 + results.settings.workers}; the configurations take`,
    "turns in each repetition (the order rotates), and every ratio below is between runs of the same repetition. Each cell: median (min to max) of the repetitions.",
    "",
    ...intervalsSection(results),
    "",
    ...throttledSection(results),
    "",
  ].join("\n");
}

/** Replace (or insert, before "Reading these results") the section in docs/benchmarks/quality.md. */
export function writeQualitySection(results: QualityResults | undefined = readQualityResults()): void {
  const section = qualitySection(results);
  if (!section) return;
  const file = path.join(ROOT, "docs/benchmarks/quality.md");
  const markdown = existsSync(file)
    ? readFileSync(file, "utf8")
    : "# Benchmarks: delivery quality\n\nSee BENCHMARKS.md for how the benchmarks are run; this page is written by its own commands.\n";
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
