/**
 * StreamCache: history entries read back from JetStream, shared by every replay of a channel.
 * Bounded (the entries cached longest ago go first), `null` for positions with nothing to deliver,
 * and one read per starting position at a time: a second replay that needs it joins the read.
 */
import { describe, expect, it } from "vitest";
import type { HistoryEntry } from "../../src/core/history/channel-history.js";
import { type EntryRun, StreamCache } from "../../src/core/history/stream-cache.js";

const entry = (seq: number): HistoryEntry => ({
  seq,
  key: "AAPL",
  account: undefined,
  frame: Buffer.from(`frame ${seq}`),
});

/** A read the test finishes when it likes (every one started so far), counting how often it started. */
function controlledRead() {
  let outstanding: { resolve(run: EntryRun | undefined): void; reject(error: Error): void }[] = [];
  const calls = { count: 0 };
  const read = () => {
    calls.count++;
    return new Promise<EntryRun | undefined>((resolve, reject) => {
      outstanding.push({ resolve, reject });
    });
  };
  const settle = (how: (reader: (typeof outstanding)[number]) => void) => {
    for (const reader of outstanding) how(reader);
    outstanding = [];
  };
  return {
    read,
    calls,
    finish: (run: EntryRun | undefined) => settle((reader) => reader.resolve(run)),
    fail: (error: Error) => settle((reader) => reader.reject(error)),
  };
}

describe("StreamCache entries", () => {
  it("knows the positions put in it, null ones included", () => {
    const cache = new StreamCache(10);
    const five = entry(5);
    cache.put(5, five);
    cache.put(6, null);

    expect(cache.has(5)).toBe(true);
    expect(cache.get(5)).toBe(five);
    expect(cache.has(6)).toBe(true);
    expect(cache.get(6)).toBeNull();
    expect(cache.has(7)).toBe(false);
    expect(cache.get(7)).toBeNull();
  });

  it("keeps the first entry put at a position", () => {
    const cache = new StreamCache(10);
    const first = entry(5);
    cache.put(5, first);
    cache.put(5, entry(5));
    cache.put(5, null);
    expect(cache.get(5)).toBe(first);
  });

  it("holds at most `capacity` positions, forgetting those cached longest ago", () => {
    const cache = new StreamCache(3);
    cache.put(30, entry(30));
    cache.put(10, entry(10));
    cache.put(20, null);
    cache.put(40, entry(40));

    expect([10, 20, 30, 40].map((seq) => cache.has(seq))).toEqual([true, true, false, true]);

    cache.put(50, entry(50));
    expect([10, 20, 40, 50].map((seq) => cache.has(seq))).toEqual([false, true, true, true]);
  });

  it("putting a position it already holds forgets nothing", () => {
    const cache = new StreamCache(2);
    cache.put(1, entry(1));
    cache.put(2, entry(2));
    cache.put(1, entry(1));
    expect([cache.has(1), cache.has(2)]).toEqual([true, true]);
  });
});

describe("StreamCache.read", () => {
  it("returns the run read and caches it from the read's first position on", async () => {
    const cache = new StreamCache(10);
    const run: EntryRun = [entry(7), null, entry(9)];

    await expect(cache.read(7, async () => run)).resolves.toBe(run);

    expect([6, 7, 8, 9, 10].map((seq) => cache.has(seq))).toEqual([false, true, true, true, false]);
    expect(cache.get(7)).toBe(run[0]);
    expect(cache.get(8)).toBeNull();
    expect(cache.get(9)).toBe(run[2]);
  });

  it("a second caller of the same position joins the read under way", async () => {
    const cache = new StreamCache(10);
    const source = controlledRead();
    const second = controlledRead();

    const first = cache.read(3, source.read);
    const joined = cache.read(3, second.read);
    const run: EntryRun = [entry(3), entry(4)];
    source.finish(run);
    // Had the second caller started a read of its own, this would be its answer.
    second.finish([entry(3)]);

    await expect(first).resolves.toBe(run);
    await expect(joined).resolves.toBe(run);
    expect(source.calls.count).toBe(1);
    expect(second.calls.count).toBe(0);
  });

  it("reads from another position are not joined", async () => {
    const cache = new StreamCache(10);
    const fromThree = controlledRead();
    const fromFour = controlledRead();

    const three = cache.read(3, fromThree.read);
    const four = cache.read(4, fromFour.read);
    fromThree.finish([entry(3)]);
    fromFour.finish([entry(4), entry(5)]);

    expect((await three)?.map((held) => held?.seq)).toEqual([3]);
    expect((await four)?.map((held) => held?.seq)).toEqual([4, 5]);
    expect([fromThree.calls.count, fromFour.calls.count]).toEqual([1, 1]);
  });

  it("once a read is over, the next caller of that position reads again", async () => {
    const cache = new StreamCache(10);
    const source = controlledRead();

    const first = cache.read(3, source.read);
    source.finish([entry(3)]);
    await first;
    const again = cache.read(3, source.read);
    source.finish([entry(3), entry(4)]);

    expect((await again)?.length).toBe(2);
    expect(source.calls.count).toBe(2);
    expect(cache.has(4)).toBe(true);
  });

  it("a read that did not read (undefined) caches nothing, and the next caller reads again", async () => {
    const cache = new StreamCache(10);
    const source = controlledRead();

    const first = cache.read(3, source.read);
    const joined = cache.read(3, source.read);
    source.finish(undefined);

    await expect(first).resolves.toBeUndefined();
    await expect(joined).resolves.toBeUndefined();
    expect(cache.has(3)).toBe(false);

    const retry = cache.read(3, source.read);
    source.finish([entry(3)]);
    await expect(retry).resolves.toEqual([entry(3)]);
    expect(source.calls.count).toBe(2);
  });

  it("a read that fails fails every caller that joined it, and the next caller reads again", async () => {
    const cache = new StreamCache(10);
    const source = controlledRead();

    const first = cache.read(3, source.read);
    const joined = cache.read(3, source.read);
    source.fail(new Error("stream gone"));

    await expect(first).rejects.toThrow("stream gone");
    await expect(joined).rejects.toThrow("stream gone");
    expect(cache.has(3)).toBe(false);

    const retry = cache.read(3, source.read);
    source.finish([null]);
    await expect(retry).resolves.toEqual([null]);
    expect(source.calls.count).toBe(2);
    expect(cache.has(3)).toBe(true);
  });

  it("a run longer than the cache keeps only its last `capacity` positions", async () => {
    const cache = new StreamCache(2);
    await cache.read(1, async () => [entry(1), entry(2), entry(3)]);
    expect([1, 2, 3].map((seq) => cache.has(seq))).toEqual([false, true, true]);
  });
});
