/**
 * One stage's latency on one channel: bucket counts since start (the Prometheus histogram) and the
 * same counts per time slot of the rolling window (the latency endpoint). An observation is a
 * bucket lookup and three additions into preallocated arrays: nothing is allocated.
 */
import { BUCKET_COUNT, bucketOf } from "./histogram-buckets.js";

export class StageHistogram {
  /** Counts per bucket since start (not cumulative across buckets; the exposition adds them up). */
  readonly counts = new Float64Array(BUCKET_COUNT);
  /** Sum of every observation, in milliseconds. */
  sumMs = 0;
  count = 0;
  /** Counts per bucket per slot of the rolling window: slot s starts at s * BUCKET_COUNT. */
  private readonly slotCounts: Float64Array;

  constructor(private readonly slots: number) {
    this.slotCounts = new Float64Array(slots * BUCKET_COUNT);
  }

  observe(ms: number, slot: number): void {
    const bucket = bucketOf(ms);
    const counts = this.counts;
    const slotCounts = this.slotCounts;
    const at = slot * BUCKET_COUNT + bucket;
    counts[bucket] = (counts[bucket] as number) + 1;
    slotCounts[at] = (slotCounts[at] as number) + 1;
    this.sumMs += ms;
    this.count++;
  }

  /** A slot starts again (the window moved on past it). */
  clearSlot(slot: number): void {
    this.slotCounts.fill(0, slot * BUCKET_COUNT, (slot + 1) * BUCKET_COUNT);
  }

  /** One slot's bucket counts (a view, not a copy). */
  slot(slot: number): Float64Array {
    return this.slotCounts.subarray(slot * BUCKET_COUNT, (slot + 1) * BUCKET_COUNT);
  }

  /** Bucket counts of every slot added up: the whole window. */
  window(): Float64Array {
    const sum = new Float64Array(BUCKET_COUNT);
    for (let slot = 0; slot < this.slots; slot++)
      for (let bucket = 0; bucket < BUCKET_COUNT; bucket++)
        sum[bucket] = (sum[bucket] as number) + (this.slotCounts[slot * BUCKET_COUNT + bucket] as number);
    return sum;
  }
}
