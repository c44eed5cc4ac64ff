/**
 * ResumeGate and ResumeGates: the hand-over between a replay and live delivery on one connection
 * and channel. While a resume runs, live frames are held (their bytes count against the buffer
 * limit); once the replay is out through a position, the held frames after it go out, and live
 * frames at or below it are skipped until the first one after it.
 */
import { describe, expect, it, vi } from "vitest";
import { type GatedSession, ResumeGate, ResumeGates } from "../../src/core/history/resume-gate.js";

/** A frame of `bytes` bytes whose content names its seq (so tests can tell frames apart). */
function frameOf(seq: number, bytes = 10): Buffer {
  const frame = Buffer.alloc(bytes, 0x2e);
  frame.write(`#${seq}`);
  return frame;
}

function session(bufferedAmount = 0, pendingBytes = 0): GatedSession {
  return { gates: undefined, socket: { bufferedAmount }, pendingBytes };
}

function gatesWith(maxBufferedBytes = 1_000_000) {
  const onOverflow = vi.fn<(session: GatedSession) => void>();
  return { gates: new ResumeGates({ maxBufferedBytes, onOverflow }), onOverflow };
}

/** Has the promise settled by the time pending microtasks have run? */
async function settled(promise: Promise<void>): Promise<boolean> {
  let done = false;
  void promise.then(() => {
    done = true;
  });
  for (let turn = 0; turn < 5; turn++) await Promise.resolve();
  return done;
}

describe("ResumeGate", () => {
  it("starts holding nothing, and a replay must then cover the head it is given", () => {
    const gate = new ResumeGate();
    expect(gate.holding).toBe(true);
    expect(gate.heldBytes).toBe(0);
    expect(gate.skipThrough).toBe(0);
    expect(gate.replayThrough(7)).toBe(7);
    expect(gate.replayThrough(9)).toBe(9);
  });

  it("counts held bytes, and a replay covers up to the head before the first held frame", () => {
    const gate = new ResumeGate();
    gate.hold(6, frameOf(6, 10), 5);
    gate.hold(7, frameOf(7, 25), 6);
    expect(gate.heldBytes).toBe(35);
    expect(gate.holding).toBe(true);
    // The head has moved on to 7 with the held frames; the replay still stops at 5.
    expect(gate.replayThrough(7)).toBe(5);
    expect(gate.replayThrough(100)).toBe(5);
  });

  it("releases the held frames after skipThrough, in the order they were held", () => {
    const gate = new ResumeGate();
    const frames = [6, 7, 8, 9].map((seq) => frameOf(seq));
    for (const [index, frame] of frames.entries()) gate.hold(6 + index, frame, 5 + index);

    const released = gate.release(7);
    expect(released).toEqual([frames[2], frames[3]]);
    expect(released[0]).toBe(frames[2]);
    expect(gate.holding).toBe(false);
    expect(gate.skipThrough).toBe(7);
    expect(gate.heldBytes).toBe(0);
  });

  it("releases every held frame with skipThrough 0, and nothing a second time", () => {
    const gate = new ResumeGate();
    const six = frameOf(6);
    const seven = frameOf(7);
    gate.hold(6, six, 5);
    gate.hold(7, seven, 6);
    expect(gate.release(0)).toEqual([six, seven]);
    expect(gate.release(0)).toEqual([]);
  });

  it("releases nothing when the replay went past every held frame", () => {
    const gate = new ResumeGate();
    gate.hold(6, frameOf(6), 5);
    gate.hold(7, frameOf(7), 6);
    expect(gate.release(7)).toEqual([]);
    expect(gate.heldBytes).toBe(0);
  });

  it("lets through only the positions after skipThrough", () => {
    const gate = new ResumeGate();
    gate.release(12);
    expect(gate.passes(11)).toBe(false);
    expect(gate.passes(12)).toBe(false);
    expect(gate.passes(13)).toBe(true);
  });

  it("resolves `released` on release, not before", async () => {
    const gate = new ResumeGate();
    gate.hold(6, frameOf(6), 5);
    expect(await settled(gate.released)).toBe(false);
    gate.release(5);
    expect(await settled(gate.released)).toBe(true);
  });
});

describe("ResumeGates.open and running", () => {
  it("opens a holding gate on the session, making the map on first use", () => {
    const { gates } = gatesWith();
    const client = session();
    const gate = gates.open(client, "trades");
    expect(client.gates).toBeInstanceOf(Map);
    expect([...(client.gates?.entries() ?? [])]).toEqual([["trades", gate]]);
    expect(gate.holding).toBe(true);
    expect(gates.running(client, "trades")).toBe(gate);
  });

  it("keeps one gate per channel: a second channel adds one, the same channel replaces it", () => {
    const { gates } = gatesWith();
    const client = session();
    const trades = gates.open(client, "trades");
    const fills = gates.open(client, "fills");
    expect(gates.running(client, "trades")).toBe(trades);
    expect(gates.running(client, "fills")).toBe(fills);

    const again = gates.open(client, "trades");
    expect(again).not.toBe(trades);
    expect(gates.running(client, "trades")).toBe(again);
    expect(client.gates?.size).toBe(2);
  });

  it("reports no resume for a session without gates, or on another channel", () => {
    const { gates } = gatesWith();
    const client = session();
    expect(gates.running(client, "trades")).toBeUndefined();
    gates.open(client, "trades");
    expect(gates.running(client, "fills")).toBeUndefined();
  });

  it("reports no resume once the gate is released, even while it stays as a filter", () => {
    const { gates } = gatesWith();
    const client = session();
    const gate = gates.open(client, "trades");
    // skipThrough 9 is ahead of the head 5: the gate stays, to skip live frames up to 9.
    gates.release(client, "trades", gate, 9, 5);
    expect(client.gates?.get("trades")).toBe(gate);
    expect(gates.running(client, "trades")).toBeUndefined();
  });
});

describe("ResumeGates.admit while holding", () => {
  it("keeps the frame instead of letting it out", () => {
    const { gates, onOverflow } = gatesWith();
    const client = session();
    const gate = gates.open(client, "trades");
    const six = frameOf(6, 40);
    expect(gates.admit(client, "trades", gate, 6, six, 5)).toBe(false);
    expect(gate.heldBytes).toBe(40);
    expect(gate.replayThrough(6)).toBe(5);
    expect(onOverflow).not.toHaveBeenCalled();
    expect(gates.release(client, "trades", gate, 5, 6)).toEqual([six]);
  });

  it("holds up to maxBufferedBytes of socket, queued and held bytes together", () => {
    const { gates, onOverflow } = gatesWith(100);
    const client = session(30, 20);
    const gate = gates.open(client, "trades");
    const six = frameOf(6, 30);
    const seven = frameOf(7, 20);
    expect(gates.admit(client, "trades", gate, 6, six, 5)).toBe(false);
    // 30 buffered + 20 queued + 30 held + 20 = 100: exactly the limit, still held.
    expect(gates.admit(client, "trades", gate, 7, seven, 6)).toBe(false);
    expect(gate.heldBytes).toBe(50);
    expect(onOverflow).not.toHaveBeenCalled();

    // One byte more overflows: the client is a slow consumer, and the frame is not kept.
    expect(gates.admit(client, "trades", gate, 8, frameOf(8, 1), 7)).toBe(false);
    expect(onOverflow).toHaveBeenCalledTimes(1);
    expect(onOverflow).toHaveBeenCalledWith(client);
    expect(gate.heldBytes).toBe(50);
    expect(gate.holding).toBe(true);
    expect(gates.release(client, "trades", gate, 5, 8)).toEqual([six, seven]);
  });

  it("counts the socket's buffered bytes against the limit on their own", () => {
    const { gates, onOverflow } = gatesWith(100);
    const client = session(95, 0);
    const gate = gates.open(client, "trades");
    expect(gates.admit(client, "trades", gate, 6, frameOf(6, 6), 5)).toBe(false);
    expect(onOverflow).toHaveBeenCalledTimes(1);
    expect(gate.heldBytes).toBe(0);
  });

  it("counts the session's queued bytes against the limit on their own", () => {
    const { gates, onOverflow } = gatesWith(100);
    const client = session(0, 95);
    const gate = gates.open(client, "trades");
    expect(gates.admit(client, "trades", gate, 6, frameOf(6, 6), 5)).toBe(false);
    expect(onOverflow).toHaveBeenCalledTimes(1);
    expect(gate.heldBytes).toBe(0);
  });
});

describe("ResumeGates.admit once released", () => {
  it("skips live frames at or below skipThrough, then lets one through and removes the gate", () => {
    const { gates, onOverflow } = gatesWith();
    const client = session();
    const gate = gates.open(client, "trades");
    expect(gates.release(client, "trades", gate, 9, 5)).toEqual([]);

    expect(gates.admit(client, "trades", gate, 8, frameOf(8), 7)).toBe(false);
    expect(gates.admit(client, "trades", gate, 9, frameOf(9), 8)).toBe(false);
    expect(client.gates?.get("trades")).toBe(gate);

    expect(gates.admit(client, "trades", gate, 10, frameOf(10), 9)).toBe(true);
    expect(client.gates?.has("trades")).toBe(false);
    expect(onOverflow).not.toHaveBeenCalled();
  });

  it("does not hold or count bytes once released", () => {
    const { gates, onOverflow } = gatesWith(10);
    const client = session();
    const gate = gates.open(client, "trades");
    gates.release(client, "trades", gate, 9, 5);
    // A frame far over the limit: a released gate only filters, it never overflows.
    expect(gates.admit(client, "trades", gate, 9, frameOf(9, 50), 8)).toBe(false);
    expect(gate.heldBytes).toBe(0);
    expect(onOverflow).not.toHaveBeenCalled();
  });

  it("removes only its own gate: a newer resume's gate on the channel stays", () => {
    const { gates } = gatesWith();
    const client = session();
    const old = gates.open(client, "trades");
    gates.release(client, "trades", old, 9, 5);
    const newer = gates.open(client, "trades");
    expect(gates.admit(client, "trades", old, 10, frameOf(10), 9)).toBe(true);
    expect(client.gates?.get("trades")).toBe(newer);
    expect(gates.running(client, "trades")).toBe(newer);
  });
});

describe("ResumeGates.release", () => {
  it("returns the held frames after skipThrough in order, and removes the gate", () => {
    const { gates } = gatesWith();
    const client = session();
    const gate = gates.open(client, "trades");
    const frames = new Map([6, 7, 8].map((seq) => [seq, frameOf(seq)]));
    for (const [seq, frame] of frames) gates.admit(client, "trades", gate, seq, frame, seq - 1);

    expect(gates.release(client, "trades", gate, 6, 8)).toEqual([frames.get(7), frames.get(8)]);
    expect(client.gates?.has("trades")).toBe(false);
    expect(gate.holding).toBe(false);
  });

  it("removes the gate when skipThrough is exactly the head", () => {
    const { gates } = gatesWith();
    const client = session();
    const gate = gates.open(client, "trades");
    gates.release(client, "trades", gate, 5, 5);
    expect(client.gates?.has("trades")).toBe(false);
  });

  it("keeps the gate as a filter when skipThrough is past the head", () => {
    const { gates } = gatesWith();
    const client = session();
    const gate = gates.open(client, "trades");
    gates.release(client, "trades", gate, 6, 5);
    expect(client.gates?.get("trades")).toBe(gate);
    expect(gate.holding).toBe(false);
    expect(gate.skipThrough).toBe(6);
  });

  it("leaves a newer gate on the channel in place", () => {
    const { gates } = gatesWith();
    const client = session();
    const old = gates.open(client, "trades");
    const newer = gates.open(client, "trades");
    gates.release(client, "trades", old, 5, 5);
    expect(client.gates?.get("trades")).toBe(newer);
    expect(newer.holding).toBe(true);
  });

  it("resolves the gate's `released` promise", async () => {
    const { gates } = gatesWith();
    const client = session();
    const gate = gates.open(client, "trades");
    expect(await settled(gate.released)).toBe(false);
    gates.release(client, "trades", gate, 5, 5);
    expect(await settled(gate.released)).toBe(true);
  });
});
