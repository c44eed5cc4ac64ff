/**
 * The benchmark's reading of Prometheus histograms (bench/lib/prometheus-histogram.ts): the run's
 * window is the after-scrape minus the before-scrape, and percentiles are interpolated within
 * buckets as histogram_quantile() does. Checked on literal exposition texts, in the shape the
 * gateway's /metrics writes them (prom-client: HELP and TYPE lines, `le` first, +Inf last), and
 * what the benchmark reads from two scrapes of a gateway (bench/lib/gateway-window.ts).
 */
import { describe, expect, it } from "vitest";
import { gatewayWindow } from "../../bench/lib/gateway-window.js";
import {
  countAbove,
  histogramQuantile,
  histogramWindow,
  scrapeHistogram,
} from "../../bench/lib/prometheus-histogram.js";

const BEFORE = `# HELP gateway_ingest_to_write_seconds NATS receive to socket write, per channel
# TYPE gateway_ingest_to_write_seconds histogram
gateway_ingest_to_write_seconds_bucket{le="0.00005",channel="bench"} 0
gateway_ingest_to_write_seconds_bucket{le="0.0001",channel="bench"} 10
gateway_ingest_to_write_seconds_bucket{le="0.00025",channel="bench"} 50
gateway_ingest_to_write_seconds_bucket{le="0.0005",channel="bench"} 90
gateway_ingest_to_write_seconds_bucket{le="0.001",channel="bench"} 100
gateway_ingest_to_write_seconds_bucket{le="0.0025",channel="bench"} 100
gateway_ingest_to_write_seconds_bucket{le="0.005",channel="bench"} 100
gateway_ingest_to_write_seconds_bucket{le="+Inf",channel="bench"} 100
gateway_ingest_to_write_seconds_sum{channel="bench"} 0.03
gateway_ingest_to_write_seconds_count{channel="bench"} 100
gateway_ingest_to_write_seconds_bucket{le="0.00005",channel="trades"} 0
gateway_ingest_to_write_seconds_bucket{le="0.0001",channel="trades"} 0
gateway_ingest_to_write_seconds_bucket{le="0.00025",channel="trades"} 0
gateway_ingest_to_write_seconds_bucket{le="0.0005",channel="trades"} 0
gateway_ingest_to_write_seconds_bucket{le="0.001",channel="trades"} 0
gateway_ingest_to_write_seconds_bucket{le="0.0025",channel="trades"} 0
gateway_ingest_to_write_seconds_bucket{le="0.005",channel="trades"} 1
gateway_ingest_to_write_seconds_bucket{le="+Inf",channel="trades"} 3
gateway_ingest_to_write_seconds_sum{channel="trades"} 21.5
gateway_ingest_to_write_seconds_count{channel="trades"} 3
# HELP gateway_queue_seconds Queued for the socket to written, per channel
# TYPE gateway_queue_seconds histogram
gateway_queue_seconds_bucket{le="0.00005",channel="bench"} 100
gateway_queue_seconds_bucket{le="+Inf",channel="bench"} 100
gateway_queue_seconds_sum{channel="bench"} 0.001
gateway_queue_seconds_count{channel="bench"} 100
`;

/** 1,000 more observations on bench: 200 in (0.1, 0.25] ms, 600 in (0.25, 0.5], 190 in (0.5, 1], 10 in (1, 2.5]. */
const AFTER = `# HELP gateway_ingest_to_write_seconds NATS receive to socket write, per channel
# TYPE gateway_ingest_to_write_seconds histogram
gateway_ingest_to_write_seconds_bucket{le="0.00005",channel="bench"} 0
gateway_ingest_to_write_seconds_bucket{le="0.0001",channel="bench"} 10
gateway_ingest_to_write_seconds_bucket{le="0.00025",channel="bench"} 250
gateway_ingest_to_write_seconds_bucket{le="0.0005",channel="bench"} 890
gateway_ingest_to_write_seconds_bucket{le="0.001",channel="bench"} 1090
gateway_ingest_to_write_seconds_bucket{le="0.0025",channel="bench"} 1100
gateway_ingest_to_write_seconds_bucket{le="0.005",channel="bench"} 1100
gateway_ingest_to_write_seconds_bucket{le="+Inf",channel="bench"} 1100
gateway_ingest_to_write_seconds_sum{channel="bench"} 0.43
gateway_ingest_to_write_seconds_count{channel="bench"} 1100
gateway_ingest_to_write_seconds_bucket{le="0.00005",channel="trades"} 0
gateway_ingest_to_write_seconds_bucket{le="0.0001",channel="trades"} 0
gateway_ingest_to_write_seconds_bucket{le="0.00025",channel="trades"} 0
gateway_ingest_to_write_seconds_bucket{le="0.0005",channel="trades"} 0
gateway_ingest_to_write_seconds_bucket{le="0.001",channel="trades"} 0
gateway_ingest_to_write_seconds_bucket{le="0.0025",channel="trades"} 0
gateway_ingest_to_write_seconds_bucket{le="0.005",channel="trades"} 1
gateway_ingest_to_write_seconds_bucket{le="+Inf",channel="trades"} 3
gateway_ingest_to_write_seconds_sum{channel="trades"} 21.5
gateway_ingest_to_write_seconds_count{channel="trades"} 3
`;

describe("scrapeHistogram", () => {
  it("reads one channel's buckets (ascending, +Inf last), sum and count, and ignores the other channels", () => {
    expect(scrapeHistogram(BEFORE, "gateway_ingest_to_write_seconds", { channel: "trades" })).toEqual({
      buckets: [
        { le: 0.00005, cumulative: 0 },
        { le: 0.0001, cumulative: 0 },
        { le: 0.00025, cumulative: 0 },
        { le: 0.0005, cumulative: 0 },
        { le: 0.001, cumulative: 0 },
        { le: 0.0025, cumulative: 0 },
        { le: 0.005, cumulative: 1 },
        { le: Number.POSITIVE_INFINITY, cumulative: 3 },
      ],
      sum: 21.5,
      count: 3,
    });
  });

  it("does not take a histogram whose name only starts the same (gateway_queue_seconds is not ingest_to_write)", () => {
    expect(scrapeHistogram(BEFORE, "gateway_queue_seconds", { channel: "bench" })).toEqual({
      buckets: [
        { le: 0.00005, cumulative: 100 },
        { le: Number.POSITIVE_INFINITY, cumulative: 100 },
      ],
      sum: 0.001,
      count: 100,
    });
  });

  it("is undefined for a metric or a channel the exposition does not have", () => {
    expect(scrapeHistogram(BEFORE, "gateway_conflation_wait_seconds", { channel: "bench" })).toBeUndefined();
    expect(scrapeHistogram(BEFORE, "gateway_ingest_to_write_seconds", { channel: "prices" })).toBeUndefined();
  });

  it("adds up every series carrying the labels asked for (prom-client's GC histogram, by kind), reading exponents and escaped label values", () => {
    const text = [
      "# TYPE nodejs_gc_duration_seconds histogram",
      'nodejs_gc_duration_seconds_bucket{le="0.001",kind="minor"} 40',
      'nodejs_gc_duration_seconds_bucket{le="0.01",kind="minor"} 48',
      'nodejs_gc_duration_seconds_bucket{le="+Inf",kind="minor"} 50',
      'nodejs_gc_duration_seconds_sum{kind="minor"} 0.125',
      'nodejs_gc_duration_seconds_count{kind="minor"} 50',
      'nodejs_gc_duration_seconds_bucket{le="0.001",kind="major"} 0',
      'nodejs_gc_duration_seconds_bucket{le="0.01",kind="major"} 1',
      'nodejs_gc_duration_seconds_bucket{le="+Inf",kind="major"} 2',
      'nodejs_gc_duration_seconds_sum{kind="major"} 1.5e-1',
      'nodejs_gc_duration_seconds_count{kind="major"} 2',
      'odd_seconds_bucket{le="5e-05",channel="say \\"hi\\"\\\\"} 7 1765117759195',
      'odd_seconds_bucket{le="+Inf",channel="say \\"hi\\"\\\\"} 7 1765117759195',
      'odd_seconds_count{channel="say \\"hi\\"\\\\"} 7',
    ].join("\n");
    const gc = scrapeHistogram(text, "nodejs_gc_duration_seconds");
    expect(gc).toEqual({
      buckets: [
        { le: 0.001, cumulative: 40 },
        { le: 0.01, cumulative: 49 },
        { le: Number.POSITIVE_INFINITY, cumulative: 52 },
      ],
      sum: 0.275,
      count: 52,
    });
    expect(countAbove(gc as NonNullable<typeof gc>, 0.001)).toBe(12);
    expect(countAbove(gc as NonNullable<typeof gc>, 0.01)).toBe(3);
    expect(scrapeHistogram(text, "odd_seconds", { channel: 'say "hi"\\' })?.buckets[0]).toEqual({
      le: 0.00005,
      cumulative: 7,
    });
  });
});

describe("histogramWindow", () => {
  it("keeps only what was observed between the two scrapes", () => {
    const before = scrapeHistogram(BEFORE, "gateway_ingest_to_write_seconds", { channel: "bench" });
    const after = scrapeHistogram(AFTER, "gateway_ingest_to_write_seconds", { channel: "bench" });
    const window = histogramWindow(after as NonNullable<typeof after>, before);
    expect(window.buckets.map((bucket) => bucket.cumulative)).toEqual([
      0, 0, 200, 800, 990, 1000, 1000, 1000,
    ]);
    expect(window.count).toBe(1000);
    expect(window.sum).toBeCloseTo(0.4, 12);
  });

  it("takes everything after as the window's when the series did not exist before (a channel's first observation creates it)", () => {
    const after = scrapeHistogram(AFTER, "gateway_ingest_to_write_seconds", { channel: "trades" });
    expect(histogramWindow(after as NonNullable<typeof after>, undefined)).toBe(after);
  });

  it("refuses scrapes of two different processes (a count that went down)", () => {
    const before = scrapeHistogram(AFTER, "gateway_ingest_to_write_seconds", { channel: "bench" });
    const after = scrapeHistogram(BEFORE, "gateway_ingest_to_write_seconds", { channel: "bench" });
    expect(() => histogramWindow(after as NonNullable<typeof after>, before)).toThrow(
      "histogram count went down between scrapes (1100 -> 100)",
    );
  });
});

describe("histogramQuantile", () => {
  const before = scrapeHistogram(BEFORE, "gateway_ingest_to_write_seconds", { channel: "bench" });
  const after = scrapeHistogram(AFTER, "gateway_ingest_to_write_seconds", { channel: "bench" });
  const window = histogramWindow(after as NonNullable<typeof after>, before);

  it("interpolates within the bucket holding the rank, as histogram_quantile() does", () => {
    // p50: rank 500, in (0.25, 0.5] ms holding ranks 201..800: 0.25 + 0.25 x 300/600.
    expect(histogramQuantile(window, 0.5)).toBeCloseTo(0.000375, 12);
    // p99: rank 990, the last of (0.5, 1] ms: its upper bound.
    expect(histogramQuantile(window, 0.99)).toBeCloseTo(0.001, 12);
    // p99.9: rank 999, in (1, 2.5] ms holding ranks 991..1000: 1 + 1.5 x 9/10.
    expect(histogramQuantile(window, 0.999)).toBeCloseTo(0.00235, 12);
  });

  it("starts the first bucket at 0", () => {
    const first = {
      buckets: [
        { le: 0.00005, cumulative: 4 },
        { le: Number.POSITIVE_INFINITY, cumulative: 4 },
      ],
      sum: 0,
      count: 4,
    };
    expect(histogramQuantile(first, 0.5)).toBeCloseTo(0.000025, 12);
  });

  it("gives the highest finite bound for a rank in +Inf (at least that)", () => {
    const trades = scrapeHistogram(AFTER, "gateway_ingest_to_write_seconds", { channel: "trades" });
    expect(histogramQuantile(trades as NonNullable<typeof trades>, 0.99)).toBe(0.005);
  });

  it("is undefined for a window with no observations", () => {
    const same = scrapeHistogram(BEFORE, "gateway_ingest_to_write_seconds", { channel: "trades" });
    const empty = histogramWindow(same as NonNullable<typeof same>, same);
    expect(histogramQuantile(empty, 0.99)).toBeUndefined();
  });
});

describe("gatewayWindow", () => {
  const gc = (minor: [number, number, number], major: [number, number, number], sums: [number, number]) =>
    [
      `nodejs_gc_duration_seconds_bucket{le="0.001",kind="minor"} ${minor[0]}`,
      `nodejs_gc_duration_seconds_bucket{le="0.01",kind="minor"} ${minor[1]}`,
      `nodejs_gc_duration_seconds_bucket{le="+Inf",kind="minor"} ${minor[2]}`,
      `nodejs_gc_duration_seconds_sum{kind="minor"} ${sums[0]}`,
      `nodejs_gc_duration_seconds_count{kind="minor"} ${minor[2]}`,
      `nodejs_gc_duration_seconds_bucket{le="0.001",kind="major"} ${major[0]}`,
      `nodejs_gc_duration_seconds_bucket{le="0.01",kind="major"} ${major[1]}`,
      `nodejs_gc_duration_seconds_bucket{le="+Inf",kind="major"} ${major[2]}`,
      `nodejs_gc_duration_seconds_sum{kind="major"} ${sums[1]}`,
      `nodejs_gc_duration_seconds_count{kind="major"} ${major[2]}`,
    ].join("\n");

  it("gives the channel's hop in milliseconds and the GC of the window alone, by kind", () => {
    const before = `${BEFORE}\n${gc([10, 10, 10], [0, 0, 0], [0.002, 0])}`;
    const after = `${AFTER}\n${gc([30, 34, 35], [0, 1, 2], [0.052, 0.03])}`;
    const figures = gatewayWindow(before, after, "bench");
    expect(figures.hopMs?.count).toBe(1000);
    expect(figures.hopMs?.p50).toBeCloseTo(0.375, 9);
    expect(figures.hopMs?.p99).toBeCloseTo(1, 9);
    expect(figures.hopMs?.p999).toBeCloseTo(2.35, 9);
    // No gateway_queue_seconds in the after-scrape, no conflation wait on this channel: nothing to report.
    expect(figures.queueMs).toBeUndefined();
    expect(figures.conflationWaitMs).toBeUndefined();
    expect(figures.gc?.pauses).toBe(27);
    expect(figures.gc?.totalMs).toBeCloseTo(80, 9);
    expect(figures.gc?.over1ms).toBe(7);
    expect(figures.gc?.over10ms).toBe(2);
    expect(figures.gc?.byKind.minor?.pauses).toBe(25);
    expect(figures.gc?.byKind.minor?.totalMs).toBeCloseTo(50, 9);
    expect(figures.gc?.byKind.major?.pauses).toBe(2);
  });

  it("has no hop for a gateway without the histograms (an older commit)", () => {
    expect(gatewayWindow("", "", "bench")).toEqual({
      hopMs: undefined,
      queueMs: undefined,
      conflationWaitMs: undefined,
      gc: undefined,
    });
  });
});
