/**
 * The SDK's bookkeeping of positions in lossless channels, on its own (pure logic, no socket):
 * which frames count as already delivered, when a position reported by the gateway is adopted,
 * and the order held frames are handed over in. The end-to-end behaviour is in resume.test.ts.
 */
import { describe, expect, it } from "vitest";
import { type HeldFrame, inOrder, Positions, positionOf } from "../../src/client/resume.js";

describe("positions", () => {
  it("a frame at or before the last one delivered, in the same epoch, is a duplicate; another epoch starts over", () => {
    const positions = new Positions();
    positions.deliver("trades", { seq: 5, epoch: "A" });
    expect(positions.delivered("trades", { seq: 4, epoch: "A" })).toBe(true);
    expect(positions.delivered("trades", { seq: 5, epoch: "A" })).toBe(true);
    expect(positions.delivered("trades", { seq: 6, epoch: "A" })).toBe(false);
    // A new history counts from 1 again: nothing of it was delivered.
    expect(positions.delivered("trades", { seq: 1, epoch: "B" })).toBe(false);
    expect(positions.delivered("signals", { seq: 1, epoch: "A" })).toBe(false);
  });

  it("a head the gateway reports is a starting point only: never over a delivered position of the same epoch", () => {
    const positions = new Positions();
    positions.learn("trades", { seq: 10, epoch: "A" });
    expect(positions.get("trades")).toEqual({ seq: 10, epoch: "A" });
    // Reported, not delivered: a frame at or before it is still delivered (it may be in flight).
    expect(positions.delivered("trades", { seq: 9, epoch: "A" })).toBe(false);
    positions.deliver("trades", { seq: 11, epoch: "A" });
    positions.learn("trades", { seq: 20, epoch: "A" }, true);
    expect(positions.get("trades")).toEqual({ seq: 11, epoch: "A" });
    positions.learn("trades", { seq: 2, epoch: "B" });
    expect(positions.get("trades")).toEqual({ seq: 11, epoch: "A" });
    positions.learn("trades", { seq: 2, epoch: "B" }, true);
    expect(positions.get("trades")).toEqual({ seq: 2, epoch: "B" });
  });

  it("positions the application saved count as delivered; malformed ones are refused", () => {
    const positions = new Positions({ trades: { seq: 7, epoch: "A" } });
    expect(positions.delivered("trades", { seq: 7, epoch: "A" })).toBe(true);
    expect(positions.view()).toEqual({ trades: { seq: 7, epoch: "A" } });
    expect(() => new Positions({ trades: { seq: 1.5, epoch: "A" } })).toThrow(TypeError);
    expect(() => new Positions({ trades: { seq: 1, epoch: "" } })).toThrow(TypeError);
  });

  it("positionOf reads seq and epoch only when both are valid", () => {
    expect(positionOf({ seq: 3, epoch: "A" })).toEqual({ seq: 3, epoch: "A" });
    expect(positionOf({ seq: 0, epoch: "A" })).toBeUndefined();
    expect(positionOf({ seq: "3", epoch: "A" })).toBeUndefined();
    expect(positionOf({ seq: 3 })).toBeUndefined();
  });
});

describe("held frames", () => {
  const held = (seq: number, epoch = "A", replayed = false): HeldFrame<string> => ({
    frame: `${epoch}${seq}`,
    position: { seq, epoch },
    replayed,
  });

  it("go out in seq order: live frames that came before the replay follow it", () => {
    expect(inOrder([held(7), held(8), held(4, "A", true), held(6, "A", true)]).map((h) => h.frame)).toEqual([
      "A4",
      "A6",
      "A7",
      "A8",
    ]);
  });

  it("keep their arrival order when their epochs differ (seqs of two histories do not compare)", () => {
    expect(inOrder([held(7, "A"), held(1, "B")]).map((h) => h.frame)).toEqual(["A7", "B1"]);
  });
});
