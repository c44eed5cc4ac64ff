/**
 * The OutboundWriter's write window is bounded (WEBSOCKET_MAX_WRITE_WINDOW_MS): after a flush that
 * took longer than the bound, the next flush waits the bound, not as long again. And the writer's
 * part in latency timing: one `written` per flush, and the timed copy of a shared frame for a
 * client that subscribed with timing, while every other client gets the shared bytes themselves.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { OutboundWriter } from "../../src/core/delivery/outbound-writer.js";
import { encodeFrame } from "../../src/core/frame-encoder.js";
import { LatencyRecorder } from "../../src/core/latency/latency-recorder.js";
import { withTiming } from "../../src/core/latency/timed-frame.js";
import { fakeSession } from "../helpers/fake-session.js";

/** performance.now() as the writer sees it: moved only by the test (and by slow writes). */
let clock = 0;

beforeEach(() => {
  clock = 0;
  vi.spyOn(performance, "now").mockImplementation(() => clock);
  vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout", "setImmediate", "clearImmediate"] });
});

afterEach(() => {
  vi.useRealTimers();
  vi.restoreAllMocks();
});

const LIMITS = { conflatedDropBytes: 100, maxBufferedBytes: 1000 };

describe("the write window's bound", () => {
  it("after a flush that took longer than maxWriteWindowMs, the next waits maxWriteWindowMs", () => {
    const writer = new OutboundWriter({ ...LIMITS, maxWriteWindowMs: 5 }, () => {});
    const client = fakeSession({ writer });
    let writeTakes = 30;
    const write = client.transport.write.bind(client.transport);
    client.transport.write = (bytes) => {
      clock += writeTakes;
      return write(bytes);
    };
    client.session.send(Buffer.from("a"), true);
    vi.runOnlyPendingTimers();
    expect(client.transport.written).toHaveLength(1);
    writeTakes = 0;

    // The flush ran from 0 to 30; unbounded, nothing would go before 60. Bounded: at 35.
    client.session.send(Buffer.from("b"), true);
    vi.advanceTimersByTime(4);
    expect(client.transport.written).toHaveLength(1);
    vi.advanceTimersByTime(1);
    expect(client.transport.written.map(String)).toEqual(["a", "b"]);
  });

  it("a flush shorter than the bound still sets the window", () => {
    const writer = new OutboundWriter({ ...LIMITS, maxWriteWindowMs: 5 }, () => {});
    const client = fakeSession({ writer });
    const write = client.transport.write.bind(client.transport);
    client.transport.write = (bytes) => {
      clock += 3;
      return write(bytes);
    };
    client.session.send(Buffer.from("a"), true);
    vi.runOnlyPendingTimers();
    client.session.send(Buffer.from("b"), true);
    vi.advanceTimersByTime(2);
    expect(client.transport.written).toHaveLength(1);
    vi.advanceTimersByTime(1);
    expect(client.transport.written).toHaveLength(2);
  });
});

describe("the writer and latency timing", () => {
  it("adds gw_rx and gw_tx to the timed client's copy only, and observes the frame once per flush", () => {
    const recorder = new LatencyRecorder();
    const channel = recorder.channel("trades", "lossless", false);
    const writer = new OutboundWriter(LIMITS, () => {}, recorder);
    const timed = fakeSession({ clientId: "timed", writer });
    const plain = fakeSession({ clientId: "plain", writer });
    const frame = encodeFrame({ type: "trade_executed", symbol: "AAPL" });

    clock = 10;
    timed.session.sendTimed(frame, true, 9);
    plain.session.send(frame, true);
    channel.queued({ rx: 9, validated: 9.5 }, 10, false);
    clock = 12;
    vi.runOnlyPendingTimers();

    expect(plain.transport.written).toEqual([frame]);
    expect(plain.transport.written[0]).toBe(frame);
    const rx = recorder.clock.wallMicros(9);
    const tx = recorder.clock.wallMicros(12);
    expect(timed.transport.written).toEqual([
      encodeFrame({ type: "trade_executed", symbol: "AAPL", gw_rx: rx, gw_tx: tx }),
    ]);
    expect(timed.session.timedFrames).toBeUndefined();
    expect(channel.hop.count).toBe(1);
    expect(channel.hop.sumMs).toBeCloseTo(3, 9);
  });

  it("splices the fields into frames of every header length", () => {
    for (const length of [10, 200, 70_000]) {
      const frame = encodeFrame({ type: "x", pad: "p".repeat(length) });
      const timed = withTiming(frame, 1_765_123_456_789_012, 1_765_123_456_790_000);
      const expected = encodeFrame({
        type: "x",
        pad: "p".repeat(length),
        gw_rx: 1_765_123_456_789_012,
        gw_tx: 1_765_123_456_790_000,
      });
      expect(timed.equals(expected), `${length}`).toBe(true);
    }
  });
});
