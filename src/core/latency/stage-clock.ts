/**
 * The clock every latency stamp is read from: performance.now(), monotonic milliseconds with
 * sub-microsecond resolution, a double (no BigInt allocation as with process.hrtime.bigint()), so a
 * stamp is a plain number. Differences of stamps are the stage durations; nothing the system clock
 * does (NTP steps) can make one negative.
 *
 * Wall-clock time (the `gw_rx`/`gw_tx` on the wire, the upstream lag against a publisher's time) is
 * a stamp plus an offset: performance.timeOrigin at start, moved only when the system clock is
 * seen to have stepped by more than STEP_MS (checked at most once per time slot, `recalibrate`).
 * Two stamps converted with the same offset keep their order, so gw_rx <= gw_tx always holds.
 */

/** A system clock step smaller than this is not followed (Date.now() itself has 1 ms resolution). */
const STEP_MS = 2;

export class StageClock {
  private offsetMs = performance.timeOrigin;

  /** Monotonic milliseconds. */
  now(): number {
    return performance.now();
  }

  /** A stamp as wall-clock milliseconds since the epoch (fractional). */
  wallMs(stamp: number): number {
    return stamp + this.offsetMs;
  }

  /** A stamp as wall-clock microseconds since the epoch, an integer (the wire's gw_rx, gw_tx). */
  wallMicros(stamp: number): number {
    return Math.round((stamp + this.offsetMs) * 1000);
  }

  /**
   * Follow a step of the system clock (NTP, an operator), so that wall times stay wall times.
   * Returns the step followed, in ms (0: none).
   */
  recalibrate(): number {
    const drift = Date.now() - (performance.now() + this.offsetMs);
    if (drift <= STEP_MS && drift >= -STEP_MS) return 0;
    this.offsetMs += drift;
    return drift;
  }
}
