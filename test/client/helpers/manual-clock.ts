/**
 * A Clock whose timers fire only when the test advances it, so that backoff, stable period and
 * keep-alive can be stepped through exactly while the sockets stay real.
 */
import type { Clock, TimerHandle } from "../../../src/client/node.js";

interface Timer {
  id: number;
  at: number;
  callback: () => void;
}

export class ManualClock implements Clock {
  private time = Date.parse("2025-01-01T00:00:00Z");
  private timers: Timer[] = [];
  private ids = 0;

  now(): number {
    return this.time;
  }

  setTimeout(callback: () => void, ms: number): TimerHandle {
    const timer = { id: ++this.ids, at: this.time + Math.max(0, ms), callback };
    this.timers.push(timer);
    return timer.id;
  }

  clearTimeout(handle: TimerHandle): void {
    this.timers = this.timers.filter((timer) => timer.id !== handle);
  }

  /** Timers not yet fired or cleared. */
  get pending(): number {
    return this.timers.length;
  }

  /** Move time forward by `ms`, firing every timer due on the way, in order. */
  advance(ms: number): void {
    const target = this.time + ms;
    for (;;) {
      const due = this.timers
        .filter((timer) => timer.at <= target)
        .sort((a, b) => a.at - b.at || a.id - b.id);
      const next = due[0];
      if (!next) break;
      this.timers = this.timers.filter((timer) => timer !== next);
      this.time = next.at;
      next.callback();
    }
    this.time = target;
  }
}

/** The system clock, counting the timers it has pending (to prove nothing is scheduled). */
export class CountingClock implements Clock {
  private readonly live = new Set<ReturnType<typeof setTimeout>>();

  now(): number {
    return Date.now();
  }

  setTimeout(callback: () => void, ms: number): TimerHandle {
    const handle = setTimeout(() => {
      this.live.delete(handle);
      callback();
    }, ms);
    this.live.add(handle);
    return handle;
  }

  clearTimeout(handle: TimerHandle): void {
    clearTimeout(handle as ReturnType<typeof setTimeout>);
    this.live.delete(handle as ReturnType<typeof setTimeout>);
  }

  get pending(): number {
    return this.live.size;
  }
}
