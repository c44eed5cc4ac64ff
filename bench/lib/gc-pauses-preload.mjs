/**
 * `npm run bench:latency -- --gc-trace`: every garbage-collection pause of a benchmarked gateway,
 * exactly, with its wall-clock time, so that a run's pauses can be set beside its tail latency.
 * The gateway's /metrics already has GC totals (prom-client's nodejs_gc_duration_seconds), but
 * only in buckets of 1, 10 and 100 ms; this gives each pause's length and when it happened.
 *
 * Loaded before the gateway's own code (`--import` through BENCH_NODE_ARGS, bench/lib/targets.ts),
 * so the gateway is not changed at all. Plain JavaScript: it runs before tsx's loader is registered.
 * Nothing is written while the gateway runs: the pauses are kept in memory and written as JSON
 * ([wall-clock ms, duration ms, kind][]) to BENCH_GC_PAUSES_FILE when the gateway is told to stop
 * (SIGTERM; the gateway's own handler runs too) and again when it exits.
 */
import { writeFileSync } from "node:fs";
import { PerformanceObserver, performance } from "node:perf_hooks";

const file = process.env.BENCH_GC_PAUSES_FILE;
if (file) {
  /** @type {[number, number, number][]} */
  const pauses = [];
  const observer = new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) {
      const kind = /** @type {{ kind?: number } | undefined} */ (entry.detail)?.kind ?? 0;
      pauses.push([performance.timeOrigin + entry.startTime, entry.duration, kind]);
    }
  });
  observer.observe({ entryTypes: ["gc"] });
  const save = () => writeFileSync(file, JSON.stringify(pauses));
  process.on("SIGTERM", save);
  process.on("exit", save);
}
