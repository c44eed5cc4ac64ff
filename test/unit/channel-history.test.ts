/**
 * ChannelHistory: the in-memory ring of a lossless channel's last frames. What a resume reads of
 * it: which positions the ring covers (floor, head), the entries between two positions (found by
 * binary search, in seq order, across the ring's wrap-around), and when the history is ready.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { ChannelHistory, type HistoryEntry } from "../../src/core/history/channel-history.js";

const entry = (seq: number, key?: string): HistoryEntry => ({
  seq,
  key,
  account: undefined,
  frame: Buffer.from(`frame ${seq}`),
});

/** A history of `capacity` that began after `after` and holds these positions, appended in order. */
function historyWith(capacity: number, seqs: number[], after = 0): ChannelHistory {
  const history = new ChannelHistory(capacity);
  history.begin("epoch-1", after);
  for (const seq of seqs) history.append(entry(seq));
  return history;
}

const seqsOf = (entries: HistoryEntry[]) => entries.map((held) => held.seq);

describe("ChannelHistory ring", () => {
  it("starts empty, at position 0, in no epoch and not ready", () => {
    const history = new ChannelHistory(4);
    expect({ head: history.head, floor: history.floor, epoch: history.epoch, ready: history.ready }).toEqual({
      head: 0,
      floor: 0,
      epoch: undefined,
      ready: false,
    });
    expect(history.entriesBetween(0, Number.MAX_SAFE_INTEGER)).toEqual([]);
  });

  it("holds everything appended while under capacity: the floor stays where it began", () => {
    const history = historyWith(4, [11, 12, 13, 14], 10);
    expect(history.floor).toBe(10);
    expect(history.head).toBe(14);
    expect(seqsOf(history.entriesBetween(10, 14))).toEqual([11, 12, 13, 14]);
    expect(history.covers(10)).toBe(true);
    expect(history.covers(9)).toBe(false);
  });

  it("forgets the oldest entry beyond capacity, and the floor moves up to it", () => {
    const history = historyWith(3, [1, 2, 3, 4, 5]);
    expect(history.floor).toBe(2);
    expect(history.head).toBe(5);
    expect(seqsOf(history.entriesBetween(0, 100))).toEqual([3, 4, 5]);
    // Everything after 2 is held; the entry at 2 itself is gone.
    expect(history.covers(2)).toBe(true);
    expect(history.covers(1)).toBe(false);
  });

  it("keeps seq order across many wrap-arounds of the ring", () => {
    const history = historyWith(
      5,
      Array.from({ length: 23 }, (_, position) => position + 1),
    );
    expect(seqsOf(history.entriesBetween(0, 100))).toEqual([19, 20, 21, 22, 23]);
    expect(seqsOf(history.entriesBetween(20, 22))).toEqual([21, 22]);
    expect(history.floor).toBe(18);
  });

  it("the floor follows the evicted entry's own seq when positions have gaps", () => {
    const history = historyWith(2, [10, 20, 35]);
    expect(history.floor).toBe(10);
    expect(history.covers(10)).toBe(true);
    expect(history.covers(9)).toBe(false);
    expect(seqsOf(history.entriesBetween(10, 35))).toEqual([20, 35]);
  });

  it("returns the entries themselves, not copies", () => {
    const history = new ChannelHistory(2);
    history.begin("epoch-1", 0);
    const appended = entry(1, "AAPL");
    history.append(appended);
    expect(history.entriesBetween(0, 1)[0]).toBe(appended);
  });
});

describe("ChannelHistory.entriesBetween", () => {
  // Positions with gaps (invalid messages took the others), wrapped: the ring's start is not 0.
  const history = historyWith(6, [2, 4, 6, 10, 12, 13, 15, 20]);
  // Held now: 6, 10, 12, 13, 15, 20.

  it.each([
    ["before the first entry", 0, 100, [6, 10, 12, 13, 15, 20]],
    ["exactly at the first entry (it is left out)", 6, 100, [10, 12, 13, 15, 20]],
    ["between two entries", 11, 100, [12, 13, 15, 20]],
    ["at an entry in the middle", 13, 100, [15, 20]],
    ["just before the last entry", 19, 100, [20]],
    ["at the last entry", 20, 100, []],
    ["past the head", 25, 100, []],
    ["up to an entry (it is included)", 6, 13, [10, 12, 13]],
    ["up to a gap", 6, 14, [10, 12, 13]],
    ["one entry exactly", 12, 13, [13]],
    ["an empty range", 13, 13, []],
    ["a range that ends before it starts", 15, 10, []],
    ["a range before anything held", 0, 5, []],
  ])("after and through %s", (_, after, through, expected) => {
    expect(seqsOf(history.entriesBetween(after as number, through as number))).toEqual(expected);
  });

  it("finds the start in a ring of one entry, and in a full ring of every size up to 9", () => {
    for (let capacity = 1; capacity <= 9; capacity++) {
      const seqs = Array.from({ length: capacity + 3 }, (_, position) => (position + 1) * 2);
      const full = historyWith(capacity, seqs);
      const held = seqs.slice(3);
      for (const after of [0, ...held, ...held.map((seq) => seq - 1), held.at(-1) as number]) {
        expect(seqsOf(full.entriesBetween(after, 1000)), `capacity ${capacity}, after ${after}`).toEqual(
          held.filter((seq) => seq > after),
        );
      }
    }
  });
});

describe("ChannelHistory.advance", () => {
  it("moves the head past a position with no frame, never back", () => {
    const history = historyWith(4, [1, 2]);
    history.advance(5);
    expect(history.head).toBe(5);
    history.advance(3);
    expect(history.head).toBe(5);
    expect(seqsOf(history.entriesBetween(0, 10))).toEqual([1, 2]);
    expect(history.floor).toBe(0);
    history.append(entry(6));
    expect(history.head).toBe(6);
    expect(seqsOf(history.entriesBetween(2, 10))).toEqual([6]);
  });
});

describe("ChannelHistory.begin", () => {
  it("starts over in a new epoch: nothing held, head and floor at the new start, not ready", () => {
    const history = historyWith(3, [1, 2, 3, 4]);
    history.markReady();

    history.begin("epoch-2", 100);

    expect({ head: history.head, floor: history.floor, epoch: history.epoch, ready: history.ready }).toEqual({
      head: 100,
      floor: 100,
      epoch: "epoch-2",
      ready: false,
    });
    expect(history.entriesBetween(0, 1000)).toEqual([]);
    expect(history.covers(100)).toBe(true);
    expect(history.covers(99)).toBe(false);
    history.append(entry(101));
    history.append(entry(102));
    expect(seqsOf(history.entriesBetween(100, 1000))).toEqual([101, 102]);
    expect(history.floor).toBe(100);
  });
});

describe("ChannelHistory readiness", () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it("markReady records the head it became ready at", () => {
    const history = historyWith(4, [1, 2, 3]);
    history.markReady();
    expect(history.ready).toBe(true);
    expect(history.readyHead).toBe(3);
    history.append(entry(4));
    expect(history.readyHead).toBe(3);
  });

  it("whenReady resolves true at once when already ready", async () => {
    const history = historyWith(4, []);
    history.markReady();
    await expect(history.whenReady(1000)).resolves.toBe(true);
  });

  it("whenReady resolves true when markReady comes before the timeout", async () => {
    const history = historyWith(4, []);
    const first = history.whenReady(1000);
    const second = history.whenReady(50);
    vi.advanceTimersByTime(40);
    history.markReady();
    await expect(first).resolves.toBe(true);
    await expect(second).resolves.toBe(true);
    // The timers were cleared: nothing is left to fire.
    expect(vi.getTimerCount()).toBe(0);
  });

  it("whenReady resolves false once the timeout passes, and not a moment before", async () => {
    const history = historyWith(4, []);
    let answer: boolean | undefined;
    const waiting = history.whenReady(100).then((ready) => {
      answer = ready;
      return ready;
    });
    await vi.advanceTimersByTimeAsync(99);
    expect(answer).toBeUndefined();
    await vi.advanceTimersByTimeAsync(1);
    await expect(waiting).resolves.toBe(false);
  });

  it("whenReady keeps waiting while a warm-up takes messages in, and gives up one quiet timeout later", async () => {
    const history = historyWith(8, []);
    let answer: boolean | undefined;
    const waiting = history.whenReady(100).then((ready) => {
      answer = ready;
      return ready;
    });
    // Each 100 ms the head moved: a slow warm-up is still a warm-up.
    for (let seq = 1; seq <= 3; seq++) {
      await vi.advanceTimersByTimeAsync(90);
      history.append(entry(seq));
      await vi.advanceTimersByTimeAsync(10);
      expect(answer).toBeUndefined();
    }
    // Then nothing for a whole timeout: false.
    await vi.advanceTimersByTimeAsync(99);
    expect(answer).toBeUndefined();
    await vi.advanceTimersByTimeAsync(1);
    await expect(waiting).resolves.toBe(false);
  });

  it("a waiter that timed out stays false; one still waiting resolves true on markReady", async () => {
    const history = historyWith(4, []);
    const short = history.whenReady(10);
    const long = history.whenReady(1000);
    await vi.advanceTimersByTimeAsync(10);
    await expect(short).resolves.toBe(false);
    history.markReady();
    await expect(long).resolves.toBe(true);
  });
});
