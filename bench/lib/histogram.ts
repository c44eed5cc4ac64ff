/**
 * A log-bucketed latency histogram that can be merged across processes.
 *
 * perf_hooks' RecordableHistogram cannot leave the process that recorded it, and percentiles of
 * several workers cannot be averaged. So each worker counts microsecond latencies into buckets
 * 1% wide (relative error under 1%), ships the sparse counts to the orchestrator, which adds
 * them up and reads exact-to-1% percentiles from the sum.
 */

const GROWTH = 1.01;
const LOG_GROWTH = Math.log(GROWTH);

export type Buckets = Record<number, number>;

export class LatencyHistogram {
  readonly buckets: Buckets = {};
  count = 0;
  max = 0;

  /** Record one latency in milliseconds (negative values, from clock jitter, count as 0). */
  record(ms: number): void {
    const micros = Math.max(1, Math.round(ms * 1000));
    const bucket = Math.floor(Math.log(micros) / LOG_GROWTH);
    this.buckets[bucket] = (this.buckets[bucket] ?? 0) + 1;
    this.count++;
    if (micros > this.max) this.max = micros;
  }

  merge(other: { buckets: Buckets; count: number; max: number }): void {
    for (const [bucket, count] of Object.entries(other.buckets)) {
      const key = Number(bucket);
      this.buckets[key] = (this.buckets[key] ?? 0) + count;
    }
    this.count += other.count;
    this.max = Math.max(this.max, other.max);
  }

  /** The latency (ms) below which `fraction` of the samples fall (upper edge of its bucket). */
  percentile(fraction: number): number {
    if (this.count === 0) return 0;
    const rank = Math.ceil(fraction * this.count);
    let seen = 0;
    for (const bucket of Object.keys(this.buckets)
      .map(Number)
      .sort((a, b) => a - b)) {
      seen += this.buckets[bucket] ?? 0;
      if (seen >= rank) return Math.min(GROWTH ** (bucket + 1), this.max) / 1000;
    }
    return this.max / 1000;
  }

  toJSON(): { buckets: Buckets; count: number; max: number } {
    return { buckets: this.buckets, count: this.count, max: this.max };
  }
}
