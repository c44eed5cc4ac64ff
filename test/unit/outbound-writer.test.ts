/**
 * OutboundWriter: what a session queues with `send` in one event-loop turn goes to its TCP socket
 * in one write, after that turn; conflated frames are skipped for a client behind by
 * conflatedDropBytes, and a client that cannot take lossless data within maxBufferedBytes is
 * reported as a slow consumer. Sessions are real ClientSessions over fake sockets.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import type { ClientSession } from "../../src/core/client-session.js";
import { type OutboundLimits, OutboundWriter } from "../../src/core/delivery/outbound-writer.js";
import { type FakeSession, fakeSession } from "../helpers/fake-session.js";

const LIMITS: OutboundLimits = { conflatedDropBytes: 100, maxBufferedBytes: 1000 };

const frameOf = (bytes: number, fill = "x") => Buffer.alloc(bytes, fill);

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

function setup(limits: OutboundLimits = LIMITS) {
  const slowConsumers: ClientSession[] = [];
  const writer = new OutboundWriter(limits, (session) => slowConsumers.push(session));
  const connect = (clientId = "client", bufferedAmount = 0): FakeSession =>
    fakeSession({ clientId, writer, bufferedAmount });
  return { writer, slowConsumers, connect };
}

/** Run the writer's scheduled flush (setImmediate, or its timer). */
const flushWrites = () => vi.runOnlyPendingTimers();

describe("OutboundWriter batching", () => {
  it("writes every frame a session queued in one turn in one write, in order, after the turn", () => {
    const { connect } = setup();
    const client = connect();
    const frames = [frameOf(10, "a"), frameOf(20, "b"), frameOf(5, "c")];

    for (const frame of frames) expect(client.session.send(frame, true)).toBe(true);

    expect(client.transport.written).toEqual([]);
    expect(client.session.pending).toEqual(frames);
    expect(client.session.pendingBytes).toBe(35);

    flushWrites();

    expect(client.transport.written).toEqual([Buffer.concat(frames)]);
    // One writev of the queued frames themselves: no copy of them is made.
    expect(client.transport.vectors).toHaveLength(1);
    expect(client.transport.vectors[0]?.every((chunk, index) => chunk === frames[index])).toBe(true);
    expect(client.session.pending).toBeUndefined();
    expect(client.session.pendingBytes).toBe(0);
  });

  it("writes a lone frame as it is, without copying it", () => {
    const { connect } = setup();
    const client = connect();
    const frame = frameOf(10);
    client.session.send(frame, false);
    flushWrites();
    expect(client.transport.written).toHaveLength(1);
    expect(client.transport.written[0]).toBe(frame);
  });

  it("gives each socket a write of its own", () => {
    const { connect } = setup();
    const a = connect("a");
    const b = connect("b");
    a.session.send(frameOf(3, "a"), true);
    b.session.send(frameOf(4, "b"), true);
    a.session.send(frameOf(2, "A"), false);
    flushWrites();
    expect(a.transport.written).toEqual([Buffer.from("aaaAA")]);
    expect(b.transport.written).toEqual([Buffer.from("bbbb")]);
  });

  it("frames queued after a flush go out in the next write", () => {
    const { connect } = setup();
    const client = connect();
    client.session.send(frameOf(3, "a"), true);
    flushWrites();
    client.session.send(frameOf(2, "b"), true);
    client.session.send(frameOf(1, "c"), true);
    flushWrites();
    expect(client.transport.written).toEqual([Buffer.from("aaa"), Buffer.from("bbc")]);
  });

  it("queues nothing for a session that is closing", () => {
    const { writer, connect } = setup();
    const client = connect();
    client.session.closing = true;

    expect(client.session.send(frameOf(10), true)).toBe(false);
    expect(client.session.send(frameOf(10), false)).toBe(false);

    expect(client.session.pending).toBeUndefined();
    expect(client.session.pendingBytes).toBe(0);
    flushWrites();
    expect(client.transport.written).toEqual([]);
    expect(writer.counters).toEqual({ framesDropped: 0, slowConsumerDisconnects: 0 });
  });

  it("does not write to a session that started closing, or a socket no longer open, before the flush", () => {
    const { connect } = setup();
    const closing = connect("closing");
    const closed = connect("closed");
    const open = connect("open");
    for (const client of [closing, closed, open]) client.session.send(frameOf(4), true);
    closing.session.closing = true;
    closed.socket.readyState = 3; // CLOSED

    flushWrites();

    expect(closing.transport.written).toEqual([]);
    expect(closed.transport.written).toEqual([]);
    expect(open.transport.written).toEqual([frameOf(4)]);
    for (const client of [closing, closed]) {
      expect(client.session.pending).toBeUndefined();
      expect(client.session.pendingBytes).toBe(0);
    }
  });
});

describe("OutboundWriter limits", () => {
  it("skips a conflated frame once the client is behind by more than conflatedDropBytes", () => {
    const { writer, slowConsumers, connect } = setup();
    const atLimit = connect("at-limit", 100);
    const behind = connect("behind", 101);

    expect(atLimit.session.send(frameOf(10), false)).toBe(true);
    expect(behind.session.send(frameOf(10), false)).toBe(false);

    expect(writer.counters).toEqual({ framesDropped: 1, slowConsumerDisconnects: 0 });
    expect(slowConsumers).toEqual([]);
    expect(behind.session.pending).toBeUndefined();
    flushWrites();
    expect(atLimit.transport.written).toEqual([frameOf(10)]);
    expect(behind.transport.written).toEqual([]);
  });

  it("counts what this turn already queued as being behind", () => {
    const { writer, connect } = setup();
    const client = connect();
    expect(client.session.send(frameOf(60, "a"), false)).toBe(true);
    expect(client.session.send(frameOf(40, "b"), false)).toBe(true);
    // 100 queued: not more than conflatedDropBytes yet.
    expect(client.session.send(frameOf(1, "c"), false)).toBe(true);
    expect(client.session.send(frameOf(1, "d"), false)).toBe(false);
    expect(writer.counters.framesDropped).toBe(1);
    flushWrites();
    expect(client.transport.written[0]?.length).toBe(101);
  });

  it("skips a conflated frame that would not fit in maxBufferedBytes, without disconnecting", () => {
    const { writer, slowConsumers, connect } = setup();
    const fits = connect("fits", 50);
    const tooBig = connect("too-big", 50);

    expect(fits.session.send(frameOf(950), false)).toBe(true);
    expect(tooBig.session.send(frameOf(951), false)).toBe(false);

    expect(writer.counters).toEqual({ framesDropped: 1, slowConsumerDisconnects: 0 });
    expect(slowConsumers).toEqual([]);
  });

  it("queues lossless data past conflatedDropBytes, up to maxBufferedBytes exactly", () => {
    const { writer, slowConsumers, connect } = setup();
    const client = connect("client", 500);
    expect(client.session.send(frameOf(400), true)).toBe(true);
    expect(client.session.send(frameOf(100), true)).toBe(true);
    expect(client.session.pendingBytes).toBe(500);
    expect(writer.counters).toEqual({ framesDropped: 0, slowConsumerDisconnects: 0 });
    expect(slowConsumers).toEqual([]);
  });

  it("reports a client that cannot take lossless data within maxBufferedBytes as a slow consumer", () => {
    const { writer, slowConsumers, connect } = setup();
    const client = connect("slow", 900);
    client.session.send(frameOf(50, "a"), true);

    expect(client.session.send(frameOf(51, "b"), true)).toBe(false);

    expect(slowConsumers).toEqual([client.session]);
    expect(writer.counters).toEqual({ framesDropped: 0, slowConsumerDisconnects: 1 });
    expect(client.session.pendingBytes).toBe(50);
    flushWrites();
    expect(client.transport.written).toEqual([frameOf(50, "a")]);
  });

  it("overflow reports the session and counts the disconnect", () => {
    const { writer, slowConsumers, connect } = setup();
    const client = connect();
    writer.overflow(client.session);
    writer.overflow(client.session);
    expect(slowConsumers).toEqual([client.session, client.session]);
    expect(writer.counters.slowConsumerDisconnects).toBe(2);
  });
});

describe("OutboundWriter write window", () => {
  it("after a flush that took t, the next flush waits until t after it finished", () => {
    const { connect } = setup();
    const client = connect();
    let writeTakes = 30;
    const write = client.transport.write.bind(client.transport);
    client.transport.write = (bytes) => {
      clock += writeTakes;
      return write(bytes);
    };
    client.session.send(frameOf(1, "a"), true);
    flushWrites();
    expect(client.transport.written).toHaveLength(1);
    writeTakes = 0;

    // The flush ran from 0 to 30: nothing more is written before 60.
    client.session.send(frameOf(1, "b"), true);
    vi.advanceTimersByTime(29);
    expect(client.transport.written).toHaveLength(1);
    vi.advanceTimersByTime(1);
    expect(client.transport.written).toEqual([frameOf(1, "a"), frameOf(1, "b")]);
  });

  it("after a quick flush, the next turn's frames go out at once, not after a timer", () => {
    const { connect } = setup();
    const client = connect();
    const write = client.transport.write.bind(client.transport);
    client.transport.write = (bytes) => {
      clock += 0.5;
      return write(bytes);
    };
    client.session.send(frameOf(1, "a"), true);
    vi.advanceTimersByTime(0);
    expect(client.transport.written).toHaveLength(1);

    // The last flush took 0.5 ms: what is left of that window is not worth waiting for.
    client.session.send(frameOf(1, "b"), true);
    vi.advanceTimersByTime(0);
    expect(client.transport.written).toHaveLength(2);
  });
});
