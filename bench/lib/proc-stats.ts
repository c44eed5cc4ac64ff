/**
 * CPU time and memory of a process, read from /proc (Linux), so every target (Node or not) is
 * measured the same way from outside.
 */
import { readFileSync } from "node:fs";

const CLOCK_TICKS_PER_SECOND = 100; // sysconf(_SC_CLK_TCK) on Linux x86_64

export interface CpuSample {
  userMs: number;
  systemMs: number;
  at: number;
}

export function cpuSample(pid: number): CpuSample {
  // Fields after the "(comm)" part; utime and stime are fields 14 and 15 of the whole line.
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  const ticksToMs = (ticks: string | undefined) => (Number(ticks) * 1000) / CLOCK_TICKS_PER_SECOND;
  return { userMs: ticksToMs(fields[11]), systemMs: ticksToMs(fields[12]), at: Date.now() };
}

/** CPU used between two samples, as a percentage of one core. */
export function cpuPercent(from: CpuSample, to: CpuSample): { user: number; system: number } {
  const elapsed = Math.max(1, to.at - from.at);
  return {
    user: ((to.userMs - from.userMs) / elapsed) * 100,
    system: ((to.systemMs - from.systemMs) / elapsed) * 100,
  };
}

/** Resident set size in bytes. */
export function rssBytes(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const match = /VmRSS:\s+(\d+) kB/.exec(status);
  return match ? Number(match[1]) * 1024 : 0;
}
