/**
 * `npm run bench:idle`: idle RSS of the two ways to start the gateway, side by side in one run.
 *
 * - tsx: `tsx src/main.ts`, as `npm start` runs it (TypeScript compiled at load);
 * - production: `node dist/main.js` after `npm run build` (run it first).
 * Each start is measured REPEATS times against its own nats-server with JetStream, with the four
 * plugins loaded and no client: the RSS of the gateway's own process once /readyz answers 200 and
 * IDLE_MS have passed. On its own it writes bench/results/idle-latest.json and prints the table;
 * `npm run bench` measures it as part of the full run and puts it in BENCHMARKS.md.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { freePort } from "../test/helpers/free-port.js";
import { NatsServer } from "../test/helpers/nats-server.js";
import { rssBytes } from "./lib/proc-stats.js";

const ROOT = path.resolve(import.meta.dirname, "..");
const REPEATS = 3;
/** Time after readiness before the sample, so start-up garbage has had its chance to go. */
const IDLE_MS = 5000;
const READY_TIMEOUT_MS = 30_000;
const TSX_LOADER = pathToFileURL(path.join(ROOT, "node_modules/tsx/dist/loader.mjs")).href;

const STARTS = {
  tsx: ["--import", TSX_LOADER, "src/main.ts"],
  production: ["dist/main.js"],
} as const;
export type StartName = keyof typeof STARTS;

async function measure(name: StartName): Promise<number> {
  const nats = await NatsServer.start({ jetstream: true });
  const port = await freePort();
  const child: ChildProcess = spawn(process.execPath, [...STARTS[name]], {
    cwd: ROOT,
    env: {
      PATH: process.env.PATH ?? "",
      NATS_URL: nats.url,
      PORT: String(port),
      HOST: "127.0.0.1",
      LOG_LEVEL: "warn",
    },
    stdio: "ignore",
  });
  try {
    const deadline = Date.now() + READY_TIMEOUT_MS;
    for (;;) {
      const ready = await fetch(`http://127.0.0.1:${port}/readyz`).then(
        (response) => response.status === 200,
        () => false,
      );
      if (ready) break;
      if (Date.now() > deadline) throw new Error(`${name} start not ready within ${READY_TIMEOUT_MS} ms`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    await new Promise((resolve) => setTimeout(resolve, IDLE_MS));
    return rssBytes(child.pid as number);
  } finally {
    child.kill("SIGKILL");
    await nats.remove();
  }
}

const mib = (bytes: number) => bytes / 2 ** 20;
export const median = (values: number[]) =>
  [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] as number;

export interface IdleStarts {
  at: string;
  machine: string;
  idleMs: number;
  /** RSS of each start, one figure per repetition. */
  rssBytes: Record<StartName, number[]>;
}

/** Both starts, REPEATS times each, taking turns. Needs `npm run build` first. */
export async function measureIdleStarts(log: (line: string) => void = console.log): Promise<IdleStarts> {
  if (!existsSync(path.join(ROOT, "dist/main.js")))
    throw new Error("run `npm run build` first: dist/main.js is missing");
  const results: Record<StartName, number[]> = { tsx: [], production: [] };
  for (let round = 1; round <= REPEATS; round++) {
    for (const name of Object.keys(STARTS) as StartName[]) {
      const rss = await measure(name);
      results[name].push(rss);
      log(`  round ${round}/${REPEATS}: ${name.padEnd(10)} idle RSS ${mib(rss).toFixed(1)} MiB`);
    }
  }
  const machine = `${os.cpus().length} x ${os.cpus()[0]?.model ?? "cpu"}, Node ${process.version}`;
  return { at: new Date().toISOString(), machine, idleMs: IDLE_MS, rssBytes: results };
}

/** The Markdown table of a measurement (BENCHMARKS.md carries it). */
export function idleStartsTable(document: IdleStarts): string {
  const row = (name: StartName, command: string) => {
    const values = document.rssBytes[name].map(mib);
    return `| ${command} | ${median(values).toFixed(1)} MiB | ${Math.min(...values).toFixed(1)} to ${Math.max(...values).toFixed(1)} MiB |`;
  };
  return [
    "| Start | Idle RSS (median) | min to max |",
    "| --- | --- | --- |",
    row("tsx", "`npm start` (`tsx src/main.ts`)"),
    row("production", "`node dist/main.js` (production start)"),
  ].join("\n");
}

async function main(): Promise<void> {
  const document = await measureIdleStarts();
  mkdirSync(path.join(ROOT, "bench/results"), { recursive: true });
  writeFileSync(path.join(ROOT, "bench/results/idle-latest.json"), `${JSON.stringify(document, null, 2)}\n`);
  console.log(
    `\n${document.at}, ${document.machine}; ${REPEATS} starts each, RSS ${IDLE_MS / 1000} s after /readyz\n`,
  );
  console.log(idleStartsTable(document));
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) {
  main().catch((error) => {
    console.error(error);
    process.exit(1);
  });
}
