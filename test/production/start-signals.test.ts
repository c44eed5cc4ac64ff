/**
 * `npm start` stops as a whole on SIGTERM and on SIGINT sent to the npm process alone (as a
 * supervisor, `kill`, or `timeout` sends them): npm forwards the signal to its script, which `exec`s
 * tsx (no shell in between to swallow it), tsx relays it to the gateway's node process, and the
 * gateway shuts down gracefully ("shutdown complete"). Afterwards the port no longer answers and no
 * process of the tree survives.
 *
 * Each start runs `prestart` (build:dashboard) first, as `npm start` does: a few seconds each.
 */
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { freePort } from "../helpers/free-port.js";

const ROOT = path.resolve(import.meta.dirname, "../..");
/** The SIGTERM drain, shortened: the test is about the tree exiting, not about the drain's length. */
const DRAIN_MS = 1000;
const EXIT_WITHIN_MS = 15_000;

const started: { child: ChildProcess; tree: Set<number> }[] = [];

afterEach(() => {
  // Whatever survived a failed test: by PID, the npm process and every descendant seen.
  for (const { child, tree } of started.splice(0)) {
    for (const pid of [child.pid, ...tree])
      if (pid !== undefined && alive(pid)) {
        try {
          process.kill(pid, "SIGKILL");
        } catch {}
      }
  }
});

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Every descendant of `pid` now (`ps --ppid`, recursively). */
function descendants(pid: number): number[] {
  const result = spawnSync("ps", ["-o", "pid=", "--ppid", String(pid)], { encoding: "utf8" });
  const children = result.stdout
    .split("\n")
    .map((line) => Number(line.trim()))
    .filter((child) => child > 0);
  return children.flatMap((child) => [child, ...descendants(child)]);
}

function commandOf(pid: number): string {
  return spawnSync("ps", ["-o", "args=", "-p", String(pid)], { encoding: "utf8" }).stdout.trim();
}

async function answers(url: string): Promise<boolean> {
  return fetch(url, { signal: AbortSignal.timeout(1000) }).then(
    (response) => response.status === 200,
    () => false,
  );
}

async function startNpm(port: number) {
  const env: Record<string, string | undefined> = {
    ...process.env,
    PORT: String(port),
    HOST: "127.0.0.1",
    SHUTDOWN_DRAIN_MS: String(DRAIN_MS),
    LOG_LEVEL: "info",
  };
  // The demo: no NATS of the environment, no demo switch either way.
  delete env.NATS_URL;
  delete env.GATEWAY_DEMO;
  const child = spawn("npm", ["start"], { cwd: ROOT, env, stdio: ["ignore", "pipe", "pipe"] });
  const entry = { child, tree: new Set<number>() };
  started.push(entry);
  let output = "";
  for (const stream of [child.stdout, child.stderr])
    stream?.on("data", (chunk: Buffer) => (output += chunk.toString()));
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once("exit", (code, signal) => resolve({ code, signal })),
  );
  const health = `http://127.0.0.1:${port}/healthz`;
  const deadline = Date.now() + 30_000;
  while (!(await answers(health))) {
    if (child.exitCode !== null) throw new Error(`npm start exited (${child.exitCode}):\n${output}`);
    if (Date.now() > deadline) throw new Error(`npm start not answering ${health} in 30 s:\n${output}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  const pid = child.pid;
  if (pid === undefined) throw new Error("npm start has no PID");
  for (const descendant of descendants(pid)) entry.tree.add(descendant);
  return { pid, tree: entry.tree, output: () => output, exit, health };
}

describe("npm start: a signal to the npm process stops the whole tree", () => {
  for (const signal of ["SIGTERM", "SIGINT"] as const) {
    it(`${signal}: the gateway shuts down, npm exits, the port stops answering, no process survives`, async () => {
      const port = await freePort();
      const gateway = await startNpm(port);
      const tree = [...gateway.tree];
      // npm, its script (tsx, exec'd in place of the shell) and the gateway's node process at least.
      expect(tree.length, tree.map((pid) => `${pid} ${commandOf(pid)}`).join("\n")).toBeGreaterThanOrEqual(2);
      expect(tree.map(commandOf).some((command) => command.includes("src/main.ts"))).toBe(true);

      // No shell between npm and tsx, to swallow the signal (checked last: the behaviour first).
      const shells = tree.filter((pid) => /^(\/bin\/)?sh -c/.test(commandOf(pid)));
      const sent = Date.now();
      process.kill(gateway.pid, signal);
      const exit = await Promise.race([
        gateway.exit,
        new Promise<never>((_, reject) =>
          setTimeout(
            () =>
              reject(
                new Error(`npm still running ${EXIT_WITHIN_MS} ms after ${signal}:\n${gateway.output()}`),
              ),
            EXIT_WITHIN_MS,
          ),
        ),
      ]);
      const survivors = () => tree.filter(alive);
      while (survivors().length > 0 && Date.now() - sent < EXIT_WITHIN_MS)
        await new Promise((resolve) => setTimeout(resolve, 100));
      expect(
        survivors().map((pid) => `${pid} ${commandOf(pid)}`),
        `processes of npm start's tree still running ${Date.now() - sent} ms after ${signal}`,
      ).toEqual([]);
      expect(await answers(gateway.health)).toBe(false);
      expect(exit).toEqual({ code: 0, signal: null });
      // The last log lines come through pipes: they may arrive after the exit event.
      for (let waited = 0; !gateway.output().includes("shutdown complete") && waited < 2000; waited += 50)
        await new Promise((resolve) => setTimeout(resolve, 50));
      expect(gateway.output()).toContain(`"signal":"${signal}"`);
      expect(gateway.output()).toContain("shutdown complete");
      expect(shells).toEqual([]);
    }, 60_000);
  }
});
