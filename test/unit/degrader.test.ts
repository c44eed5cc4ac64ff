/**
 * Degrader: once a second, a client queued above degradeBytes has its conflated intervals doubled
 * (up to maxFactor), one queued below half of it has them halved back; each change moves the
 * client between flush groups of every conflated channel and is announced with a lossless
 * `delivery_status` frame. Conflated deliveries are fakes that compute intervals as
 * ConflatedDelivery does (the chosen or default interval times the degrade factor).
 */
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import type { ClientSession } from "../../src/core/client-session.js";
import { Degrader, type DegraderOptions } from "../../src/core/delivery/degrader.js";
import { type FakeSession, fakeSession, framePayload } from "../helpers/fake-session.js";

const NOW = "2024-12-19T12:00:00.000Z";
const DEGRADE_BYTES = 1000;

interface Move {
  client: string;
  before: number;
  after: number;
}

function fakeConflated(name: string, intervalMs: number, moves: Move[]) {
  const delivery = {
    name,
    intervalOf: (session: ClientSession) =>
      (session.intervals?.get(name) ?? intervalMs) * session.degradeFactor,
    moveFrom(session: ClientSession, before: number) {
      moves.push({ client: session.clientId, before, after: delivery.intervalOf(session) });
    },
  };
  return delivery as unknown as DegraderOptions["conflated"][number];
}

function setup(maxFactor = 16) {
  const clients: FakeSession[] = [];
  const moves: Move[] = [];
  const degrader = new Degrader({
    clients: () => clients.map((client) => client.session),
    conflated: [fakeConflated("prices", 100, moves), fakeConflated("portfolio", 2000, moves)],
    degradeBytes: DEGRADE_BYTES,
    maxFactor,
  });
  const connect = (clientId: string, subscriptions: Record<string, "*" | string[]> = { prices: "*" }) => {
    const client = fakeSession({ clientId, subscriptions });
    clients.push(client);
    return client;
  };
  return { degrader, moves, connect };
}

/** The delivery_status frames a client was sent, decoded; every one must have been lossless. */
function statuses(client: FakeSession): unknown[] {
  expect(client.sent.every((sent) => sent.lossless)).toBe(true);
  return client.sent.map((sent) => framePayload(sent.frame));
}

const status = (degraded: boolean, intervals: Record<string, number>) => ({
  type: "delivery_status",
  degraded,
  intervals_ms: intervals,
  timestamp: NOW,
});

beforeEach(() => {
  vi.useFakeTimers();
  vi.setSystemTime(new Date(NOW));
});

afterEach(() => {
  vi.useRealTimers();
});

describe("Degrader.check", () => {
  it("doubles the intervals of a client queued above degradeBytes, and tells it so", () => {
    const { degrader, moves, connect } = setup();
    const client = connect("lagging");
    client.socket.bufferedAmount = DEGRADE_BYTES + 1;

    degrader.check();

    expect(client.session.degradeFactor).toBe(2);
    // The frame names only the conflated channels the client is subscribed to.
    expect(statuses(client)).toEqual([status(true, { prices: 200 })]);
    // It is moved to its new group on every conflated channel.
    expect(moves).toEqual([
      { client: "lagging", before: 100, after: 200 },
      { client: "lagging", before: 2000, after: 4000 },
    ]);
    expect(degrader.counters).toEqual({ degraded: 1, changes: 1 });
  });

  it("counts what the session queued this turn as well as the socket's buffer", () => {
    const { degrader, connect } = setup();
    const atThreshold = connect("at-threshold");
    atThreshold.socket.bufferedAmount = 600;
    atThreshold.session.pendingBytes = 400;
    const over = connect("over");
    over.socket.bufferedAmount = 600;
    over.session.pendingBytes = 401;

    degrader.check();

    expect(atThreshold.session.degradeFactor).toBe(1);
    expect(atThreshold.sent).toEqual([]);
    expect(over.session.degradeFactor).toBe(2);
  });

  it("doubles once per check up to maxFactor, then holds there without a frame", () => {
    const { degrader, connect } = setup(6);
    const client = connect("lagging", { prices: "*", portfolio: ["acme"] });
    client.socket.bufferedAmount = 5 * DEGRADE_BYTES;

    const factors: number[] = [];
    for (let check = 0; check < 5; check++) {
      degrader.check();
      factors.push(client.session.degradeFactor);
    }

    expect(factors).toEqual([2, 4, 6, 6, 6]);
    expect(statuses(client)).toEqual([
      status(true, { prices: 200, portfolio: 4000 }),
      status(true, { prices: 400, portfolio: 8000 }),
      status(true, { prices: 600, portfolio: 12000 }),
    ]);
    expect(degrader.counters).toEqual({ degraded: 1, changes: 3 });
  });

  it("widens the interval the client chose, not the channel's", () => {
    const { degrader, connect } = setup();
    const client = connect("chooser");
    client.session.intervals = new Map([["prices", 250]]);
    client.socket.bufferedAmount = DEGRADE_BYTES + 1;

    degrader.check();

    expect(statuses(client)).toEqual([status(true, { prices: 500 })]);
  });

  it("keeps factors whole, so intervals stay integers, with a maxFactor that is no power of two", () => {
    const { degrader, connect } = setup(3);
    const client = connect("chooser");
    client.session.intervals = new Map([["prices", 101]]);
    client.socket.bufferedAmount = DEGRADE_BYTES + 1;
    degrader.check();
    degrader.check();
    client.socket.bufferedAmount = 0;
    degrader.check();

    expect(statuses(client)).toEqual([
      status(true, { prices: 202 }),
      status(true, { prices: 303 }),
      status(false, { prices: 101 }),
    ]);
  });

  it("halves back once the queue is below half of degradeBytes, holding in between", () => {
    const { degrader, connect } = setup();
    const client = connect("recovering");
    client.socket.bufferedAmount = DEGRADE_BYTES + 1;
    degrader.check();
    degrader.check();
    expect(client.session.degradeFactor).toBe(4);
    client.sent.length = 0;

    const factors: number[] = [];
    // Between half the threshold and the threshold (both included): no change.
    for (const queued of [DEGRADE_BYTES, DEGRADE_BYTES / 2, DEGRADE_BYTES / 2 - 1, 0, 0, 0]) {
      client.socket.bufferedAmount = queued;
      degrader.check();
      factors.push(client.session.degradeFactor);
    }

    expect(factors).toEqual([4, 4, 2, 1, 1, 1]);
    expect(statuses(client)).toEqual([status(true, { prices: 200 }), status(false, { prices: 100 })]);
    expect(degrader.counters).toEqual({ degraded: 0, changes: 4 });
  });

  it("counts the clients degraded now, and leaves closing clients alone", () => {
    const { degrader, connect } = setup();
    const lagging = connect("lagging");
    const fine = connect("fine");
    const closing = connect("closing");
    lagging.socket.bufferedAmount = DEGRADE_BYTES + 1;
    closing.socket.bufferedAmount = DEGRADE_BYTES + 1;
    closing.session.closing = true;

    degrader.check();

    expect(degrader.counters).toEqual({ degraded: 1, changes: 1 });
    expect([lagging, fine, closing].map((client) => client.session.degradeFactor)).toEqual([2, 1, 1]);
    expect(fine.sent).toEqual([]);
    expect(closing.sent).toEqual([]);

    // A closing client that was degraded is no longer counted.
    lagging.session.closing = true;
    degrader.check();
    expect(degrader.counters).toEqual({ degraded: 0, changes: 1 });
  });
});

describe("Degrader timer", () => {
  it("checks once a second from start until stop", () => {
    const { degrader, connect } = setup();
    const client = connect("lagging");
    client.socket.bufferedAmount = DEGRADE_BYTES + 1;

    degrader.start();
    vi.advanceTimersByTime(999);
    expect(client.session.degradeFactor).toBe(1);
    vi.advanceTimersByTime(1);
    expect(client.session.degradeFactor).toBe(2);

    // Starting again does not add a second timer.
    degrader.start();
    vi.advanceTimersByTime(1000);
    expect(client.session.degradeFactor).toBe(4);

    degrader.stop();
    vi.advanceTimersByTime(10_000);
    expect(client.session.degradeFactor).toBe(4);
    expect(vi.getTimerCount()).toBe(0);
  });
});
