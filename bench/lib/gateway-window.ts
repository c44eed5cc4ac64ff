/**
 * A gateway's own figures over one benchmark run's window, from its /metrics scraped before the
 * window and after it: its hop per stage for the run's channel (gateway_ingest_to_write_seconds:
 * NATS receive to socket write; gateway_queue_seconds: queued to written;
 * gateway_conflation_wait_seconds on conflated channels), its socket flushes (how long each took
 * and how many socket writes they made, gateway_socket_flush_seconds and
 * gateway_socket_writes_total) and its garbage collection (prom-client's
 * nodejs_gc_duration_seconds, observed in the gateway through perf_hooks). Scraping outside the
 * window keeps the scrape's own cost out of the run's CPU and latency.
 */
import {
  countAbove,
  type HistogramSnapshot,
  histogramQuantile,
  histogramWindow,
  scrapeHistogram,
} from "./prometheus-histogram.js";

/** A stage's percentiles in milliseconds over the window, interpolated within buckets. */
export interface StagePercentiles {
  /** Observations: frames written (one per frame per flush, however many clients it went to). */
  count: number;
  p50: number;
  p99: number;
  p999: number;
}

export interface GcFigures {
  pauses: number;
  totalMs: number;
  /** Pauses longer than 1 ms and 10 ms (prom-client's buckets: 1, 10, 100 ms, 1, 2, 5 s). */
  over1ms: number;
  over10ms: number;
  /** Pauses per kind (minor, major, incremental, weakcb). */
  byKind: Record<string, { pauses: number; totalMs: number }>;
}

export interface GatewayWindow {
  /** NATS receive to socket write. Absent when the gateway exposes no such histogram (or saw nothing). */
  hopMs?: StagePercentiles;
  queueMs?: StagePercentiles;
  conflationWaitMs?: StagePercentiles;
  /** Socket flushes: each one's duration (its count is the flushes), all channels. */
  flushMs?: StagePercentiles;
  /** The flushes' total duration and their socket writes: divided, the cost of one socket write. */
  flushTotalMs?: number;
  socketWrites?: number;
  gc?: GcFigures;
}

export const HOP_METRIC = "gateway_ingest_to_write_seconds";
const QUEUE_METRIC = "gateway_queue_seconds";
const CONFLATION_WAIT_METRIC = "gateway_conflation_wait_seconds";
const FLUSH_METRIC = "gateway_socket_flush_seconds";
const WRITES_METRIC = "gateway_socket_writes_total";
const GC_METRIC = "nodejs_gc_duration_seconds";
const GC_KINDS = ["minor", "major", "incremental", "weakcb"];
const SCRAPE_TIMEOUT_MS = 5000;

/** The gateway's /metrics text, from its WebSocket URL (ws://host:port/ws). */
export async function scrapeMetrics(wsUrl: string): Promise<string> {
  const url = wsUrl.replace(/^ws/, "http").replace(/\/ws$/, "/metrics");
  const response = await fetch(url, { signal: AbortSignal.timeout(SCRAPE_TIMEOUT_MS) });
  if (!response.ok) throw new Error(`GET ${url}: ${response.status}`);
  return response.text();
}

function windowOf(
  before: string,
  after: string,
  name: string,
  labels: Record<string, string> = {},
): HistogramSnapshot | undefined {
  const last = scrapeHistogram(after, name, labels);
  return last && histogramWindow(last, scrapeHistogram(before, name, labels));
}

function percentiles(window: HistogramSnapshot | undefined): StagePercentiles | undefined {
  if (!window || window.count === 0) return undefined;
  const ms = (q: number) => (histogramQuantile(window, q) ?? 0) * 1000;
  return { count: window.count, p50: ms(0.5), p99: ms(0.99), p999: ms(0.999) };
}

function gcFigures(before: string, after: string): GcFigures | undefined {
  const all = windowOf(before, after, GC_METRIC);
  if (!all) return undefined;
  const byKind: GcFigures["byKind"] = {};
  for (const kind of GC_KINDS) {
    const window = windowOf(before, after, GC_METRIC, { kind });
    if (window && window.count > 0) byKind[kind] = { pauses: window.count, totalMs: window.sum * 1000 };
  }
  return {
    pauses: all.count,
    totalMs: all.sum * 1000,
    over1ms: countAbove(all, 0.001),
    over10ms: countAbove(all, 0.01),
    byKind,
  };
}

/** An unlabelled counter's value in a /metrics text; undefined when it is not there. */
function counterValue(text: string, name: string): number | undefined {
  const match = new RegExp(`^${name} (\\S+)$`, "m").exec(text);
  return match ? Number(match[1]) : undefined;
}

/** The gateway's figures for `channel` between the two scrapes. */
export function gatewayWindow(before: string, after: string, channel: string): GatewayWindow {
  const flushes = windowOf(before, after, FLUSH_METRIC);
  const writesAfter = counterValue(after, WRITES_METRIC);
  return {
    hopMs: percentiles(windowOf(before, after, HOP_METRIC, { channel })),
    queueMs: percentiles(windowOf(before, after, QUEUE_METRIC, { channel })),
    conflationWaitMs: percentiles(windowOf(before, after, CONFLATION_WAIT_METRIC, { channel })),
    flushMs: percentiles(flushes),
    flushTotalMs: flushes ? flushes.sum * 1000 : undefined,
    socketWrites:
      writesAfter === undefined ? undefined : writesAfter - (counterValue(before, WRITES_METRIC) ?? 0),
    gc: gcFigures(before, after),
  };
}
