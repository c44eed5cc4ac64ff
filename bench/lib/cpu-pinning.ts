/**
 * Where each benchmark process runs: the server under test alone on one core, everything else
 * (orchestrator, load workers, publisher, and the broker when the broker is not the server under
 * test) on the other. Without this the generator and the server fight over the same cores, and a
 * peer's tail latency says as much about the scheduler as about the peer.
 *
 * Pinning uses `taskset` (util-linux). The orchestrator pins itself to the load core at start, so
 * every child it forks inherits that; the server under test is started through
 * `taskset -c <server core>`, which execs it (same pid, so its /proc figures are its own).
 */
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import os from "node:os";

/** The core the server under test runs on. */
export const SERVER_CPU = 0;
/** The core the load generator, the publisher and the broker run on. */
export const LOAD_CPU = 1;

/** Pin this process (all its threads) to the load core; fail clearly where that cannot be done. */
export function pinSelfToLoadCore(): void {
  if (os.cpus().length < 2)
    throw new Error(
      "the benchmark pins the server and the load to two different cores: this machine has one",
    );
  try {
    execFileSync("taskset", ["-a", "-cp", String(LOAD_CPU), String(process.pid)], { stdio: "ignore" });
  } catch (error) {
    throw new Error("`taskset` (util-linux) is needed to pin the benchmark's processes to cores", {
      cause: error,
    });
  }
}

/** The command line that runs `command args` on the server core. */
export function onServerCore(command: string, args: string[]): { command: string; args: string[] } {
  return { command: "taskset", args: ["-c", String(SERVER_CPU), command, ...args] };
}

export interface CoreSample {
  busyTicks: number;
  totalTicks: number;
}

/** The core's time counters from /proc/stat (user, nice, system, idle, iowait, irq, softirq, steal). */
export function coreSample(cpu: number): CoreSample {
  const line = readFileSync("/proc/stat", "utf8")
    .split("\n")
    .find((candidate) => candidate.startsWith(`cpu${cpu} `));
  if (!line) throw new Error(`/proc/stat has no cpu${cpu} line`);
  const [user, nice, system, idle, iowait, irq, softirq, steal] = line
    .trim()
    .split(/\s+/)
    .slice(1, 9)
    .map(Number);
  const busyTicks = (user ?? 0) + (nice ?? 0) + (system ?? 0) + (irq ?? 0) + (softirq ?? 0) + (steal ?? 0);
  return { busyTicks, totalTicks: busyTicks + (idle ?? 0) + (iowait ?? 0) };
}

/** How busy the core was between two samples, in percent. */
export function coreBusyPercent(from: CoreSample, to: CoreSample): number {
  const total = to.totalTicks - from.totalTicks;
  return total <= 0 ? 0 : ((to.busyTicks - from.busyTicks) / total) * 100;
}
