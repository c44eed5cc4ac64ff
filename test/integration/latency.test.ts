/**
 * Per-stage latency as a user sees it, with a real nats-server and real clients: GET
 * /websocket/latency in its exact shape with plausible figures (one observation per frame written,
 * however many clients it went to), the histograms on /metrics with their labels, and wire timing:
 * a client that subscribes with `"timing": true` gets the same frames as a plain client plus gw_rx
 * and gw_tx, while the plain client's frames carry nothing new.
 */
import { describe, expect, it } from "vitest";
import type WebSocket from "ws";
import type { LatencyDocument } from "../../src/core/latency/latency-document.js";
import { BOOK_UPSTREAM, bookDelta, publishBook } from "../helpers/book-messages.js";
import { flushChannel, waitForIngest } from "../helpers/gateway.js";
import { SEED_UPSTREAM } from "../helpers/seed-payloads.js";
import type { Frame, TestClient } from "../helpers/test-client.js";
import { MANUAL_FLUSH, withGateway } from "../helpers/with-gateway.js";

const TRADES = 5;
const STAGE_FIELDS = ["count", "p50_ms", "p99_ms"];
const NO_SAMPLES = { count: 0, p50_ms: null, p99_ms: null };

interface Figures {
  count: number;
  p50_ms: number | null;
  p99_ms: number | null;
}

/**
 * The most any stage of these tests may take, in ms: a handful of frames on loopback, 200 times
 * the gateway's 5 ms hop target, so a loaded CI machine stays well inside it. The percentiles
 * report any sample past the histogram's last bound as 5000 ms, so a bound of 5000 could not fail;
 * a broken stamp (the monotonic clock against the wall clock, a stamp left at 0) gives seconds to
 * decades and lands far above this one.
 */
const PLAUSIBLE_MS = 1000;

/** A stat with `count` samples: finite, positive percentiles, in order, below PLAUSIBLE_MS. */
function expectPlausible(figures: Figures | null, count: number): void {
  expect(figures?.count).toBe(count);
  const { p50_ms, p99_ms } = figures as Figures;
  expect(Number.isFinite(p50_ms) && Number.isFinite(p99_ms)).toBe(true);
  // With samples, the interpolation within a bucket gives more than 0, even for a 0 ms sample.
  expect(p50_ms).toBeGreaterThan(0);
  expect(p50_ms as number).toBeLessThanOrEqual(p99_ms as number);
  expect(p99_ms).toBeLessThanOrEqual(PLAUSIBLE_MS);
}

/** A frame without the wire timing fields. */
function withoutTiming(frame: Frame): Frame {
  const { gw_rx: _rx, gw_tx: _tx, ...rest } = frame;
  return rest as Frame;
}

describe("latency timing", () => {
  const stack = withGateway({ env: MANUAL_FLUSH, scope: "test" });

  /** A client that receives trades and price updates, with or without wire timing. */
  async function subscriber(timing: boolean): Promise<{ client: TestClient; raw: string[] }> {
    const client = await stack.connect();
    const raw: string[] = [];
    client.socket.on("message", (data: WebSocket.RawData) => raw.push(data.toString()));
    for (const channel of ["trades", "price_updates"]) {
      const ack = await client.request({ type: "subscribe", channel, ...(timing ? { timing: true } : {}) });
      expect(ack.type).toBe("subscribed");
    }
    return { client, raw };
  }

  it("reports every stage per channel, once per frame written, and puts gw_rx/gw_tx on the timed subscription only", async () => {
    const { running, publisher } = stack;
    const timed = await subscriber(true);
    const plain = await subscriber(false);
    const metricsBefore = await (await fetch(`${running.httpUrl}/metrics`)).text();

    const startedMicros = Date.now() * 1000;
    for (let trade = 0; trade < TRADES; trade++)
      publisher.publish(
        "execution.trades.acct-1",
        JSON.stringify({
          ...SEED_UPSTREAM.trade,
          trade_id: `t${trade}`,
          timestamp: new Date().toISOString(),
        }),
      );
    publisher.publish("market.prices.AAPL", JSON.stringify(SEED_UPSTREAM.aaplTick));
    publisher.publish("market.prices.MSFT", JSON.stringify(SEED_UPSTREAM.msftTick));
    await waitForIngest(running, publisher, "price_updates", 2);
    flushChannel(running, "price_updates");

    const received = async ({ client }: { client: TestClient }) => {
      const frames: Frame[] = [];
      for (let trade = 0; trade < TRADES; trade++) frames.push(await client.next("trade_executed"));
      frames.push(await client.next("price_update"));
      return frames;
    };
    const timedFrames = await received(timed);
    const plainFrames = await received(plain);
    const endedMicros = Date.now() * 1000;

    // The same frames; the timed ones with the two fields, in order, near now.
    expect(timedFrames.map(withoutTiming)).toEqual(plainFrames);
    for (const frame of timedFrames) {
      const { gw_rx, gw_tx } = frame as Frame & { gw_rx: number; gw_tx: number };
      expect(Number.isSafeInteger(gw_rx) && Number.isSafeInteger(gw_tx)).toBe(true);
      expect(gw_rx).toBeLessThanOrEqual(gw_tx);
      // Wall clock, µs: within the test's own span, give or take the clocks' 2 ms of rounding.
      expect(gw_rx).toBeGreaterThan(startedMicros - 2000);
      expect(gw_tx).toBeLessThan(endedMicros + 2000);
    }
    // The plain client's bytes carry no timing field at all.
    const plainData = plain.raw.filter((text) => /"type":"(trade_executed|price_update)"/.test(text));
    expect(plainData).toHaveLength(TRADES + 1);
    for (const text of plainData) expect(text).not.toMatch(/gw_rx|gw_tx/);

    const response = await fetch(`${running.httpUrl}/websocket/latency`);
    expect(response.status).toBe(200);
    const document = (await response.json()) as LatencyDocument;
    expect(Object.keys(document)).toEqual(["window_seconds", "bucket_seconds", "timestamp", "channels"]);
    expect(document.window_seconds).toBe(60);
    expect(document.bucket_seconds).toBe(5);
    expect(Math.abs(Date.parse(document.timestamp) - Date.now())).toBeLessThan(10_000);
    expect(Object.keys(document.channels).sort()).toEqual([
      "order_books",
      "portfolio",
      "price_updates",
      "signals",
      "trades",
    ]);
    for (const [name, channel] of Object.entries(document.channels)) {
      expect(Object.keys(channel), name).toEqual([
        "kind",
        "hop",
        "queue",
        "conflation_wait",
        "upstream_lag",
        "series",
      ]);
      expect(Object.keys(channel.hop as object)).toEqual(STAGE_FIELDS);
    }

    const trades = document.channels.trades as LatencyDocument["channels"][string];
    expect(trades.kind).toBe("lossless");
    // Five frames, each written to both clients by one flush: five observations, not ten.
    expectPlausible(trades.hop, TRADES);
    expectPlausible(trades.queue, TRADES);
    expect(trades.conflation_wait).toBeNull();
    // Published with the current time: the lag is that of one local hop through NATS.
    expectPlausible(trades.upstream_lag, TRADES);
    expect(trades.upstream_lag?.p99_ms).toBeLessThan(5000);
    expect(trades.series.length).toBeGreaterThanOrEqual(1);
    expect(trades.series.length).toBeLessThanOrEqual(12);
    const last = trades.series.at(-1);
    expect(Object.keys(last ?? {})).toEqual([
      "end",
      "count",
      "hop_p50_ms",
      "hop_p99_ms",
      "lag_p50_ms",
      "lag_p99_ms",
    ]);
    expect(trades.series.reduce((sum: number, point: { count: number }) => sum + point.count, 0)).toBe(
      TRADES,
    );

    const prices = document.channels.price_updates as LatencyDocument["channels"][string];
    expect(prices.kind).toBe("conflated");
    // Two ticks, one merged frame for both "*" subscribers.
    expectPlausible(prices.hop, 1);
    expectPlausible(prices.queue, 1);
    expectPlausible(prices.conflation_wait, 1);
    // The plugin reads a tick's timestamp, and these ticks carry none.
    expect(prices.upstream_lag).toEqual(NO_SAMPLES);

    expect(document.channels.signals).toMatchObject({
      kind: "lossless",
      hop: NO_SAMPLES,
      queue: NO_SAMPLES,
      conflation_wait: null,
      upstream_lag: NO_SAMPLES,
    });
    expect(document.channels.order_books).toMatchObject({
      kind: "state",
      hop: NO_SAMPLES,
      conflation_wait: NO_SAMPLES,
    });
    for (const point of document.channels.signals?.series ?? [])
      expect(point).toMatchObject({ count: 0, hop_p50_ms: null, hop_p99_ms: null, lag_p50_ms: null });

    const metrics = await (await fetch(`${running.httpUrl}/metrics`)).text();
    const line = (prefix: string) => metrics.split("\n").find((text) => text.startsWith(prefix));
    expect(metrics).toContain("# TYPE gateway_ingest_to_write_seconds histogram");
    expect(line('gateway_ingest_to_write_seconds_bucket{channel="trades",le="0.00005"} ')).toBeDefined();
    expect(line('gateway_ingest_to_write_seconds_bucket{channel="trades",le="+Inf"} ')).toBe(
      `gateway_ingest_to_write_seconds_bucket{channel="trades",le="+Inf"} ${TRADES}`,
    );
    expect(line('gateway_ingest_to_write_seconds_count{channel="trades"} ')).toBe(
      `gateway_ingest_to_write_seconds_count{channel="trades"} ${TRADES}`,
    );
    expect(line('gateway_queue_seconds_count{channel="price_updates"} ')).toBe(
      'gateway_queue_seconds_count{channel="price_updates"} 1',
    );
    expect(line('gateway_conflation_wait_seconds_count{channel="price_updates"} ')).toBe(
      'gateway_conflation_wait_seconds_count{channel="price_updates"} 1',
    );
    // Lossless channels wait for no interval: no conflation wait series for them.
    expect(line('gateway_conflation_wait_seconds_count{channel="trades"}')).toBeUndefined();
    expect(line('gateway_upstream_lag_seconds_count{channel="trades"} ')).toBe(
      `gateway_upstream_lag_seconds_count{channel="trades"} ${TRADES}`,
    );
    expect(line('gateway_upstream_lag_seconds_bucket{channel="trades",le="5"} ')).toBeDefined();

    // Socket flushes: every one since the first scrape wrote both clients (one write each, however
    // many frames it carried), so the writes are twice the flushes.
    const value = (text: string, name: string) =>
      Number(
        text
          .split("\n")
          .find((entry) => entry.startsWith(`${name} `))
          ?.split(" ")[1],
      );
    expect(metrics).toContain("# TYPE gateway_socket_flush_seconds histogram");
    expect(metrics).toContain("# TYPE gateway_socket_writes_total counter");
    const flushes =
      value(metrics, "gateway_socket_flush_seconds_count") -
      value(metricsBefore, "gateway_socket_flush_seconds_count");
    const writes =
      value(metrics, "gateway_socket_writes_total") - value(metricsBefore, "gateway_socket_writes_total");
    expect(flushes).toBeGreaterThanOrEqual(2); // the trades, then the price flush
    expect(flushes).toBeLessThanOrEqual(TRADES + 1);
    expect(writes).toBe(2 * flushes);
    expect(line('gateway_socket_flush_seconds_bucket{le="+Inf"} ')).toBe(
      `gateway_socket_flush_seconds_bucket{le="+Inf"} ${value(metrics, "gateway_socket_flush_seconds_count")}`,
    );
  });

  it("times a state channel: the snapshot and each update on the timed subscription, one observation per frame", async () => {
    const { running, publisher } = stack;
    const client = await stack.connect();
    await client.request({ type: "subscribe", channel: "order_books", symbols: ["AAPL"], timing: true });
    publishBook(publisher, { ...BOOK_UPSTREAM.snapshot, timestamp: new Date().toISOString() });
    const snapshot = await client.next("order_book_snapshot");
    publishBook(publisher, bookDelta("AAPL", 1002, [[150.24, 0]], [], new Date().toISOString()));
    const update = await client.next("order_book_update");
    for (const frame of [snapshot, update])
      expect(frame.gw_rx as number).toBeLessThanOrEqual(frame.gw_tx as number);

    const document = (await (await fetch(`${running.httpUrl}/websocket/latency`)).json()) as LatencyDocument;
    const books = document.channels.order_books as LatencyDocument["channels"][string];
    // The snapshot after upstream's first and the immediate update: no interval wait.
    expectPlausible(books.hop, 2);
    expect(books.conflation_wait).toEqual(NO_SAMPLES);
    expectPlausible(books.upstream_lag, 2);
    const metrics = await (await fetch(`${running.httpUrl}/metrics`)).text();
    expect(metrics).toContain('\ngateway_conflation_wait_seconds_count{channel="order_books"} 0\n');
  });

  it("records the interval wait of a state channel client subscribed with interval_ms, and none for an immediate one", async () => {
    const { running, publisher } = stack;
    // One client with an interval (its updates wait for the interval flush), one without.
    const merged = await stack.connect();
    const ack = await merged.request({
      type: "subscribe",
      channel: "order_books",
      symbols: ["AAPL"],
      interval_ms: 100,
    });
    expect(ack.type).toBe("subscribed");
    const immediate = await stack.connect();
    await immediate.request({ type: "subscribe", channel: "order_books", symbols: ["AAPL"] });

    // The snapshot goes to both at once: one frame, no wait, whatever either client's interval.
    publishBook(publisher, { ...BOOK_UPSTREAM.snapshot, timestamp: new Date().toISOString() });
    for (const client of [merged, immediate])
      expect(await client.next("order_book_snapshot")).toMatchObject({ sequence: 1001 });
    // The delta: at once to the immediate client, at the next interval flush to the other.
    publishBook(publisher, bookDelta("AAPL", 1002, [[150.24, 0]], [], new Date().toISOString()));
    expect(await immediate.next("order_book_update")).toMatchObject({ sequence: 1002, prev_sequence: 1001 });
    expect(await merged.next("order_book_update")).toMatchObject({ sequence: 1002, prev_sequence: 1001 });

    const document = (await (await fetch(`${running.httpUrl}/websocket/latency`)).json()) as LatencyDocument;
    const books = document.channels.order_books as LatencyDocument["channels"][string];
    expect(books.kind).toBe("state");
    // Three frames: the shared snapshot, the immediate update and the flushed one.
    expectPlausible(books.hop, 3);
    expectPlausible(books.queue, 3);
    // One wait: the flushed update's. Neither the snapshot nor the immediate update waited.
    expectPlausible(books.conflation_wait, 1);
    const metrics = await (await fetch(`${running.httpUrl}/metrics`)).text();
    const line = (prefix: string) => metrics.split("\n").find((text) => text.startsWith(prefix));
    expect(line('gateway_conflation_wait_seconds_count{channel="order_books"} ')).toBe(
      'gateway_conflation_wait_seconds_count{channel="order_books"} 1',
    );
    expect(line('gateway_ingest_to_write_seconds_count{channel="order_books"} ')).toBe(
      'gateway_ingest_to_write_seconds_count{channel="order_books"} 3',
    );
  });

  it("with GATEWAY_TIMING=off: no histograms, no channels in the document, no timing on the wire", async () => {
    const { publisher } = stack;
    const off = await stack.startGateway({ GATEWAY_TIMING: "off" });
    const client = await stack.connect({ url: off.wsUrl });
    await client.request({ type: "subscribe", channel: "trades", timing: true });
    publisher.publish("execution.trades.acct-1", JSON.stringify(SEED_UPSTREAM.trade));
    const frame = await client.next("trade_executed");
    expect(frame).not.toHaveProperty("gw_rx");
    const document = (await (await fetch(`${off.httpUrl}/websocket/latency`)).json()) as LatencyDocument;
    expect(document).toMatchObject({ window_seconds: 60, bucket_seconds: 5, channels: {} });
    const metrics = await (await fetch(`${off.httpUrl}/metrics`)).text();
    expect(metrics).not.toContain("gateway_ingest_to_write_seconds");
  });
});

describe("upstream lag on a lossless channel in JetStream", () => {
  const stack = withGateway({ jetstream: true, env: { NATS_JETSTREAM: "required" } });

  it("is measured from the JetStream timestamp, not from the payload's own (older) time", async () => {
    const { running, publisher } = stack;
    // The seed's trade says 2024-12-19: by its own timestamp it would be years late.
    publisher.publish("execution.trades.acct-1", JSON.stringify(SEED_UPSTREAM.trade));
    const client = await stack.connect();
    await client.request({ type: "subscribe", channel: "trades" });
    publisher.publish(
      "execution.trades.acct-1",
      JSON.stringify({ ...SEED_UPSTREAM.trade, trade_id: "js-1" }),
    );
    await client.next("trade_executed", (frame) => frame.trade_id === "js-1");
    const document = (await (await fetch(`${running.httpUrl}/websocket/latency`)).json()) as LatencyDocument;
    const lag = document.channels.trades?.upstream_lag;
    expect(lag?.count).toBeGreaterThanOrEqual(1);
    expect(lag?.p99_ms).toBeLessThan(5000);
  });
});
