/**
 * The latency figures from bucket counts: percentiles interpolated within their bucket (as
 * Prometheus' histogram_quantile does), one observation per frame per flush whatever the number of
 * clients, the conflation wait kept out of the hop, and the rolling minute of 5-second slots. The
 * stage clock (performance.now()) and the system clock move together, by the test alone.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { BUCKET_COUNT, bucketOf, quantileMs } from "../../src/core/latency/histogram-buckets.js";
import { LatencyRecorder } from "../../src/core/latency/latency-recorder.js";

/** Bucket counts with `count` samples in the bucket whose upper bound is `boundMs`. */
function countsWith(...entries: [boundMs: number, count: number][]): Float64Array {
  const counts = new Float64Array(BUCKET_COUNT);
  for (const [boundMs, count] of entries) {
    const bucket = bucketOf(boundMs);
    counts[bucket] = (counts[bucket] as number) + count;
  }
  return counts;
}

describe("quantileMs", () => {
  it("is null without samples", () => {
    expect(quantileMs(new Float64Array(BUCKET_COUNT), 0.5)).toBeNull();
  });

  it("interpolates within the bucket that holds the rank", () => {
    // 100 samples in (0.5 ms, 1 ms]: the median sits halfway, p99 at 99% of the way.
    const counts = countsWith([1, 100]);
    expect(quantileMs(counts, 0.5)).toBeCloseTo(0.75, 9);
    expect(quantileMs(counts, 0.99)).toBeCloseTo(0.995, 9);
  });

  it("counts the first bucket from 0 and walks across buckets", () => {
    // 50 in [0, 0.05 ms], 50 in (1 ms, 2.5 ms]: the median is the first bucket's top.
    const counts = countsWith([0.05, 50], [2.5, 50]);
    expect(quantileMs(counts, 0.5)).toBeCloseTo(0.05, 9);
    expect(quantileMs(counts, 0.25)).toBeCloseTo(0.025, 9);
    // Rank 99 of 100: 49 of the 50 in (1, 2.5].
    expect(quantileMs(counts, 0.99)).toBeCloseTo(1 + 1.5 * (49 / 50), 9);
  });

  it("reads a rank past the last bound as the last bound, 5000 ms", () => {
    const counts = countsWith([1, 1], [60_000, 99]);
    expect(quantileMs(counts, 0.5)).toBe(5000);
    expect(quantileMs(counts, 0.99)).toBe(5000);
  });

  it("puts each bound in its own bucket and negative durations in the first", () => {
    expect(bucketOf(-3)).toBe(0);
    expect(bucketOf(0.05)).toBe(0);
    expect(bucketOf(0.0500001)).toBe(1);
    expect(bucketOf(5000)).toBe(BUCKET_COUNT - 2);
    expect(bucketOf(5000.1)).toBe(BUCKET_COUNT - 1);
  });
});

describe("LatencyRecorder", () => {
  /** performance.now() as the recorder sees it. */
  let clock = 0;
  /** Time passes: the stage clock and the system clock alike. */
  const advance = (ms: number) => {
    clock += ms;
    vi.setSystemTime(Date.now() + ms);
  };

  beforeEach(() => {
    clock = 1000;
    // The system clock where the stage clock says it is: no step for the recorder to follow.
    vi.useFakeTimers({ toFake: ["Date"], now: Math.round(performance.timeOrigin + clock) });
    vi.spyOn(performance, "now").mockImplementation(() => clock);
  });

  afterEach(() => {
    vi.useRealTimers();
    vi.restoreAllMocks();
  });

  it("observes each queued frame once, at the flush that writes it, and keeps the conflation wait out of the hop", () => {
    const recorder = new LatencyRecorder();
    const trades = recorder.channel("trades", "lossless", true);
    const prices = recorder.channel("price_updates", "conflated", false);
    // A trade received at 1000, validated at 1000.2, queued at 1000.3, written at 1001.
    trades.queued({ rx: 1000, validated: 1000.2 }, 1000.3, false);
    // A price received at 1000, validated at 1000.1, held until the flush began at 1000.6.
    prices.queued({ rx: 1000, validated: 1000.1 }, 1000.6, true);
    advance(1);
    // The flush began at 1000.6 and wrote 3 sockets.
    recorder.written(1000.6, clock, 3);
    // A later flush with nothing queued observes no frame, and one that wrote nothing no flush.
    recorder.written(1001.5, 1002, 2);
    recorder.written(1002, 1002, 0);

    expect(recorder.flushes.count).toBe(2);
    expect(recorder.flushes.sumMs).toBeCloseTo(0.4 + 0.5, 9);
    expect(recorder.socketWrites).toBe(5);

    expect(trades.hop.count).toBe(1);
    expect(trades.hop.sumMs).toBeCloseTo(1, 9);
    expect(trades.queue.sumMs).toBeCloseTo(0.7, 9);
    expect(trades.wait.count).toBe(0);
    expect(prices.wait.sumMs).toBeCloseTo(0.5, 9);
    // Hop: 1 ms from receive to write, less the 0.5 ms wait.
    expect(prices.hop.sumMs).toBeCloseTo(0.5, 9);
    expect(prices.queue.sumMs).toBeCloseTo(0.4, 9);
  });

  it("reports the last minute per channel in the contract's shape, nulls where nothing was seen", () => {
    const recorder = new LatencyRecorder();
    const trades = recorder.channel("trades", "lossless", true);
    recorder.channel("portfolio", "conflated", false);
    for (let frame = 0; frame < 10; frame++) trades.queued({ rx: clock, validated: clock }, clock, false);
    trades.upstreamLag(clock, Date.now() - 3);
    advance(0.75); // every hop 0.75 ms: in (0.5, 1]
    recorder.written(clock, clock, 1);

    const report = recorder.report();
    expect(report.window_seconds).toBe(60);
    expect(report.bucket_seconds).toBe(5);
    expect(Object.keys(report.channels)).toEqual(["trades", "portfolio"]);
    const tradesReport = report.channels.trades;
    expect(tradesReport?.kind).toBe("lossless");
    expect(tradesReport?.hop).toEqual({ count: 10, p50_ms: 0.75, p99_ms: 0.995 });
    expect(tradesReport?.conflation_wait).toBeNull();
    expect(tradesReport?.upstream_lag?.count).toBe(1);
    expect(tradesReport?.series.at(-1)).toMatchObject({ count: 10, hop_p50_ms: 0.75, hop_p99_ms: 0.995 });
    expect(report.channels.portfolio).toMatchObject({
      kind: "conflated",
      hop: { count: 0, p50_ms: null, p99_ms: null },
      conflation_wait: { count: 0, p50_ms: null, p99_ms: null },
      upstream_lag: null,
    });
  });

  it("keeps 12 slots of 5 s: older observations leave the window, the series holds at most 12 points", () => {
    const recorder = new LatencyRecorder();
    const trades = recorder.channel("trades", "lossless", false);
    const writeOne = () => {
      trades.queued({ rx: clock, validated: clock }, clock, false);
      recorder.written(clock, clock, 1);
    };
    writeOne();
    advance(30_000);
    writeOne();
    expect(recorder.report().channels.trades?.hop.count).toBe(2);
    // 60 s after the first: its slot has left the window, the second's has not.
    advance(30_000);
    const report = recorder.report().channels.trades;
    expect(report?.hop.count).toBe(1);
    expect(report?.series).toHaveLength(12);
    expect(report?.series.reduce((sum, point) => sum + point.count, 0)).toBe(1);
    const ends = report?.series.map((point) => Date.parse(point.end)) ?? [];
    for (let point = 1; point < ends.length - 1; point++)
      expect((ends[point] as number) - (ends[point - 1] as number)).toBe(5000);
    // Quiet for longer than the window: nothing left, and the cumulative histogram keeps all.
    advance(120_000);
    expect(recorder.report().channels.trades?.hop).toEqual({ count: 0, p50_ms: null, p99_ms: null });
    expect(trades.hop.count).toBe(2);
  });

  it("follows a step of the system clock: wall times move with it, durations do not", () => {
    const recorder = new LatencyRecorder();
    const trades = recorder.channel("trades", "lossless", false);
    const stampAt = clock;
    vi.setSystemTime(Date.now() + 10_000); // NTP steps the clock 10 s ahead
    advance(5000);
    trades.queued({ rx: stampAt, validated: stampAt }, stampAt, false);
    recorder.written(clock, clock, 1);
    expect(trades.hop.sumMs).toBe(5000);
    expect(Math.abs(recorder.clock.wallMs(clock) - Date.now())).toBeLessThan(2);
    const ends = recorder.report().channels.trades?.series.map((point) => Date.parse(point.end)) ?? [];
    expect(ends.at(-1)).toBeLessThanOrEqual(Date.now());
    for (let point = 1; point < ends.length - 1; point++)
      expect((ends[point] as number) - (ends[point - 1] as number)).toBe(5000);
  });
});
