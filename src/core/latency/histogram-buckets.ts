/**
 * The latency histograms' bucket bounds, from 50 µs to 5 s, and what can be read back from bucket
 * counts alone: a percentile, interpolated within its bucket as Prometheus' histogram_quantile does.
 * Counting into fixed buckets costs a few comparisons and no allocation per observation, and bucket
 * counts add up across time slots, which is what the rolling window needs.
 */

/** Upper bounds in seconds (Prometheus `le`); a last bucket, +Inf, takes the rest. */
export const LATENCY_BUCKETS_SECONDS = [
  0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5,
] as const;

/** The same bounds in milliseconds, the unit the stage clock counts in. */
const BOUNDS_MS: readonly number[] = LATENCY_BUCKETS_SECONDS.map((seconds) => seconds * 1000);

/** Buckets per histogram: one per bound, and +Inf. */
export const BUCKET_COUNT = BOUNDS_MS.length + 1;

/** The bucket a duration in milliseconds falls in (negative durations, from clock skew, in the first). */
export function bucketOf(ms: number): number {
  for (let bucket = 0; bucket < BOUNDS_MS.length; bucket++)
    if (ms <= (BOUNDS_MS[bucket] as number)) return bucket;
  return BOUNDS_MS.length;
}

/**
 * The q-quantile (0 < q <= 1) in milliseconds estimated from bucket counts: the bucket holding the
 * rank, and a straight line from its lower to its upper bound (the first bucket starts at 0). A rank
 * in +Inf is reported as the highest finite bound, 5000 ms: "at least that". Null without samples.
 */
export function quantileMs(counts: ArrayLike<number>, q: number): number | null {
  let total = 0;
  for (let bucket = 0; bucket < counts.length; bucket++) total += counts[bucket] as number;
  if (total === 0) return null;
  const rank = q * total;
  let below = 0;
  for (let bucket = 0; bucket < counts.length; bucket++) {
    const count = counts[bucket] as number;
    if (count > 0 && below + count >= rank) {
      if (bucket >= BOUNDS_MS.length) return BOUNDS_MS[BOUNDS_MS.length - 1] as number;
      const lower = bucket === 0 ? 0 : (BOUNDS_MS[bucket - 1] as number);
      const upper = BOUNDS_MS[bucket] as number;
      return lower + ((upper - lower) * (rank - below)) / count;
    }
    below += count;
  }
  return BOUNDS_MS[BOUNDS_MS.length - 1] as number;
}
