/**
 * Wall-clock milliseconds with sub-millisecond resolution, comparable across processes on one
 * machine: performance.timeOrigin is the process's start on the wall clock, performance.now()
 * the monotonic time since. Publisher stamps and client receive times both use it.
 */
export function preciseNow(): number {
  return performance.timeOrigin + performance.now();
}
