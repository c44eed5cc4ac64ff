/**
 * What "sustained" means in the maximum-rate search, and how a peer's maximum is read from it.
 *
 * A run is sustained when nothing was lost and its p99 is under SUSTAINED_P99_MS. A step (one rate,
 * several repetitions) is sustained when the run with the median p99 is. A peer's maximum is the
 * highest rate of the unbroken run of sustained steps from the lowest one. When the first step it
 * did not sustain was generator-limited in most of its repetitions (the load core, not the server,
 * was saturated), or it sustained every rate tried, the maximum is only a lower bound: "at least".
 */
import type { RunResult } from "./run-one.js";

/** Sustained means: nothing lost and p99 under this. */
export const SUSTAINED_P99_MS = 100;
/** Offered rates of the search, msg/s to 1,000 clients. */
export const SEARCH_RATES = [40, 160, 320, 640, 1280];
/** Every peer is measured at every rate up to this one, sustained or not (the p99 comparison). */
export const ALWAYS_MEASURED_UP_TO = 160;

export function isSustained(run: RunResult): boolean {
  return run.lost === 0 && run.latencyMs.p99 < SUSTAINED_P99_MS;
}

/** The run with the median p99 (lost counts first: a run that lost messages sorts above). */
export function medianRun(runs: RunResult[]): RunResult | undefined {
  const sorted = [...runs].sort((a, b) => a.lost - b.lost || a.latencyMs.p99 - b.latencyMs.p99);
  return sorted[Math.floor((sorted.length - 1) / 2)];
}

export function sustainedByMedian(runs: RunResult[]): boolean {
  const median = medianRun(runs);
  return median !== undefined && isSustained(median);
}

export interface MaxRate {
  /** Highest sustained rate (0: not even the lowest). */
  rate: number;
  /** A lower bound only: the load generator, not the server, stopped the search (or it ran out of rates). */
  atLeast: boolean;
  /** Why the search stopped, in words. */
  stoppedBy: string;
}

/** A peer's maximum from the search steps (each step: one rate, that peer's repetitions). */
export function maxRate(steps: { rate: number; runs: RunResult[] }[]): MaxRate {
  let rate = 0;
  for (const step of [...steps].sort((a, b) => a.rate - b.rate)) {
    if (step.runs.length === 0) continue;
    if (sustainedByMedian(step.runs)) {
      rate = step.rate;
      continue;
    }
    const limited = step.runs.filter((run) => run.generatorLimited).length * 2 > step.runs.length;
    const median = medianRun(step.runs) as RunResult;
    const why =
      median.lost > 0
        ? `lost ${median.lost.toLocaleString("en")}`
        : `p99 ${median.latencyMs.p99.toFixed(0)} ms`;
    return limited
      ? { rate, atLeast: true, stoppedBy: `${step.rate} msg/s: generator-limited (${why})` }
      : { rate, atLeast: false, stoppedBy: `${step.rate} msg/s: ${why}` };
  }
  return { rate, atLeast: true, stoppedBy: "sustained every rate tried" };
}
