/**
 * `npm run feed` (scripts/feed.ts) started before NATS: one line says NATS is not reachable and how
 * often it retries (no stack trace), the feed keeps retrying, and once a nats-server comes up on
 * that port the simulated market's messages arrive there. Stopped by SIGTERM while still waiting,
 * it exits at once. Every child process is stopped by its PID.
 */
import { type ChildProcess, spawn } from "node:child_process";
import path from "node:path";
import type { NatsConnection } from "@nats-io/transport-node";
import { afterEach, describe, expect, it } from "vitest";
import { NatsServer } from "../helpers/nats-server.js";
import { tsxArgs } from "../helpers/tsx-args.js";

const ROOT = path.resolve(import.meta.dirname, "../..");
const RETRY_MS = 200;
const RETRY_LINE = /^feed: NATS not reachable at nats:\/\/127\.0\.0\.1:\d+ \(.+\); retrying every 0\.2 s$/;

interface Feed {
  child: ChildProcess;
  output: () => string;
  exit: Promise<number | null>;
}

const feeds: Feed[] = [];
const servers: NatsServer[] = [];
const clients: NatsConnection[] = [];

afterEach(async () => {
  for (const client of clients.splice(0)) await client.close().catch(() => undefined);
  for (const feed of feeds.splice(0)) {
    const pid = feed.child.pid;
    if (pid !== undefined && feed.child.exitCode === null && feed.child.signalCode === null) {
      process.kill(pid, "SIGKILL");
      await feed.exit;
    }
  }
  for (const server of servers.splice(0)) await server.remove();
});

/** A port where nothing listens now, and where `server.restart()` starts a nats-server later. */
async function stoppedServer(): Promise<NatsServer> {
  const server = await NatsServer.start();
  servers.push(server);
  await server.stop();
  return server;
}

/** The feed as `npm run feed` runs it (tsx's loader in one node process, so its PID is the feed). */
function startFeed(natsUrl: string): Feed {
  const child = spawn(process.execPath, tsxArgs("scripts/feed.ts"), {
    cwd: ROOT,
    env: { ...process.env, NATS_URL: natsUrl, NATS_RECONNECT_WAIT_MS: String(RETRY_MS), LOG_LEVEL: "info" },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  for (const stream of [child.stdout, child.stderr])
    stream?.on("data", (chunk: Buffer) => (output += chunk.toString()));
  const exit = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  const feed = { child, output: () => output, exit };
  feeds.push(feed);
  return feed;
}

async function until(condition: () => boolean, what: string, output: () => string, ms = 15_000) {
  const deadline = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`${what} not in ${ms} ms; feed output:\n${output()}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

const lines = (text: string) => text.split("\n").filter((line) => line.trim() !== "");
const retryLines = (text: string) =>
  lines(text).filter((line) => line.startsWith("feed: NATS not reachable"));

describe("npm run feed before NATS is up", () => {
  it("says so in one line, retries, and publishes once a nats-server comes up on that port", async () => {
    const server = await stoppedServer();
    const feed = startFeed(server.url);
    await until(() => retryLines(feed.output()).length > 0, "the retry line", feed.output);
    // Several retry periods later: still running, still the one line, no stack trace.
    await new Promise((resolve) => setTimeout(resolve, RETRY_MS * 6));
    expect(feed.child.exitCode).toBeNull();
    expect(lines(feed.output())).toHaveLength(1);
    expect(lines(feed.output())[0]).toMatch(RETRY_LINE);
    expect(feed.output()).toContain(`at ${server.url} `);
    expect(feed.output()).not.toMatch(/^\s+at /m);

    await server.restart();
    const client = await server.client();
    clients.push(client);
    const subscription = client.subscribe("market.prices.>", { max: 3 });
    const subjects: string[] = [];
    const received = (async () => {
      for await (const message of subscription) subjects.push(message.subject);
    })();
    await Promise.race([
      received,
      new Promise((_, reject) =>
        setTimeout(() => reject(new Error(`no prices in 15 s; feed output:\n${feed.output()}`)), 15_000),
      ),
    ]);
    expect(subjects).toHaveLength(3);
    for (const subject of subjects) expect(subject).toMatch(/^market\.prices\./);
    expect(retryLines(feed.output())).toHaveLength(1);
    // Its log line comes through a pipe: it may arrive after the messages do.
    await until(
      () => feed.output().includes("publishing the simulated market into NATS"),
      "the log",
      feed.output,
    );
    expect(feed.output()).not.toMatch(/^\s+at /m);
  }, 40_000);

  it("exits 0 at once on SIGTERM while still waiting for NATS", async () => {
    const server = await stoppedServer();
    const feed = startFeed(server.url);
    await until(() => retryLines(feed.output()).length > 0, "the retry line", feed.output);
    const pid = feed.child.pid;
    if (pid === undefined) throw new Error("the feed has no PID");
    const sent = Date.now();
    process.kill(pid, "SIGTERM");
    expect(await feed.exit).toBe(0);
    expect(Date.now() - sent).toBeLessThan(3_000);
  }, 30_000);
});
