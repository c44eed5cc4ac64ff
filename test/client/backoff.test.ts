/**
 * The reconnect schedule with an injected random source: exact, so its bounds can be checked
 * deterministically (the acceptance test in reconnect.test.ts observes the real thing).
 */
import { describe, expect, it } from "vitest";
import { backoffOptions } from "../../src/client/backoff.js";
import { backoffCeiling, backoffDelay, DEFAULT_BACKOFF, ReconnectBackoff } from "../../src/client/index.js";

const OPTIONS = { initialDelayMs: 100, factor: 3, maxDelayMs: 5000, stableAfterMs: 1000 };

describe("backoff schedule", () => {
  it("the ceiling is min(cap, initial * factor^(attempt-1))", () => {
    expect([1, 2, 3, 4, 5, 6].map((attempt) => backoffCeiling(attempt, OPTIONS))).toEqual([
      100, 300, 900, 2700, 5000, 5000,
    ]);
    // No overflow far out: Infinity is capped too.
    expect(backoffCeiling(10_000, OPTIONS)).toBe(5000);
  });

  it("full jitter: the delay is random * ceiling, from 0 up to the ceiling", () => {
    expect(backoffDelay(3, OPTIONS, () => 0)).toBe(0);
    expect(backoffDelay(3, OPTIONS, () => 0.5)).toBe(450);
    expect(backoffDelay(3, OPTIONS, () => 0.999_999)).toBe(900);
    expect(backoffDelay(50, OPTIONS, () => 0.999_999)).toBe(5000);
  });

  it("counts attempts from 1 and starts over after reset()", () => {
    const draws = [0.9, 0.1, 0.5, 0.99, 0.2];
    const backoff = new ReconnectBackoff(OPTIONS, () => draws.shift() as number);
    expect([backoff.next(), backoff.next(), backoff.next(), backoff.next()]).toEqual([
      { attempt: 1, delayMs: 90 },
      { attempt: 2, delayMs: 30 },
      { attempt: 3, delayMs: 450 },
      { attempt: 4, delayMs: 2673 },
    ]);
    backoff.reset();
    expect(backoff.next()).toEqual({ attempt: 1, delayMs: 20 });
  });

  it("a refusal with Retry-After waits that plus up to as much again, however many refusals came before", () => {
    const backoff = new ReconnectBackoff(OPTIONS, () => 0.5);
    for (let attempt = 0; attempt < 6; attempt++) backoff.next();
    // Attempt 7's backoff ceiling is the 5 s cap (a 2.5 s draw); the gateway said 1 s.
    expect(backoff.next(1000)).toEqual({ attempt: 7, delayMs: 1500 });
    // Without Retry-After the count stands where the refusals left it.
    expect(backoff.next()).toEqual({ attempt: 8, delayMs: 2500 });
  });

  it("defaults: 500 ms, doubling, capped at 30 s, reset after 10 s open", () => {
    expect(backoffOptions()).toEqual(DEFAULT_BACKOFF);
    expect(DEFAULT_BACKOFF).toEqual({
      initialDelayMs: 500,
      factor: 2,
      maxDelayMs: 30_000,
      stableAfterMs: 10_000,
    });
  });

  it("refuses settings that make no schedule", () => {
    expect(() => backoffOptions({ factor: 0.5 })).toThrow(/factor/);
    expect(() => backoffOptions({ initialDelayMs: -1 })).toThrow(/initialDelayMs/);
    expect(() => backoffOptions({ initialDelayMs: 1000, maxDelayMs: 10 })).toThrow(/maxDelayMs/);
    expect(() => backoffOptions({ stableAfterMs: Number.NaN })).toThrow(/stableAfterMs/);
  });
});
