/**
 * Failures that escape the core, in the real process (src/main.ts under tsx, as `npm start` and,
 * through production-start.ts, `node dist/main.js` run it) with a real nats-server and the
 * fixture plugin test/fixtures/plugins-rejecting/limits, whose hooks fail on request:
 *
 * - a promise a hook starts and never awaits rejects: logged at error level with the plugin and
 *   channel (read from the stack), or `plugin: "unknown"` when the reason has no stack; the
 *   gateway keeps serving (pong, data frames);
 * - a hook throws synchronously on a message (account(), on a conflated channel): the message is
 *   rejected at ingest as plugin_error and logged with the channel, and costs nothing else. The
 *   other path the brief named, a second `since` re-run once the first resume's gate is released,
 *   runs inside the message handler's own error handling and calls no plugin hook synchronously
 *   (the ring's entries were built at ingest; a JetStream replay builds them inside the resume's
 *   own catch);
 * - a throw in a timer a hook set (an uncaught exception): logged at fatal level with the channel,
 *   and the process exits 1, as Node's docs ask.
 *
 * A conflated message whose account() throws is rejected at ingest (plugin_error), so the
 * connect-time snapshot, a subscribe's snapshot and the flushes never meet it; the suite runs with
 * the auto-subscribe default on to show it.
 */
import path from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { GatewayProcess, stopGatewayProcesses } from "../helpers/gateway-process.js";
import type { TestClient } from "../helpers/test-client.js";
import { withGateway } from "../helpers/with-gateway.js";

const PLUGINS_DIR = path.resolve(import.meta.dirname, "../fixtures/plugins-rejecting");
const REJECTION = "unhandled promise rejection; the gateway keeps serving";
const UNCAUGHT = "uncaught exception; exiting";
const PINO_ERROR = 50;
const PINO_FATAL = 60;

// Gateway processes of the tests' own on one nats-server; clients and processes kept to the end.
const stack = withGateway({ gateway: false, closeAfterEach: false });
// The processes go after the clients and before the publisher and NATS.
beforeAll(() => stack.defer(stopGatewayProcesses));

function publish(symbol: string, value: number, fault?: string): void {
  stack.publisher.publish(`limits.${symbol}`, JSON.stringify({ symbol, account: "ACC-1", value, fault }));
}

function connect(gateway: GatewayProcess): Promise<TestClient> {
  // The committed asyncapi.yaml knows nothing of the fixture's channel: not recorded for the contract check.
  return stack.connect({ url: gateway.wsUrl, record: false });
}

/** The process answers, and streams: pong to a ping, then a fresh value of `symbol`. */
async function stillServing(gateway: GatewayProcess, client: TestClient, symbol: string): Promise<void> {
  expect(gateway.running).toBe(true);
  expect((await client.request({ type: "ping" })).type).toBe("pong");
  publish(symbol, 42);
  const frame = await client.next("limit", (limit) => limit.symbol === symbol && limit.value === 42);
  expect(frame).toMatchObject({ type: "limit", symbol, account: "ACC-1", value: 42 });
}

describe("failures that escape the core (src/main.ts's process handlers)", () => {
  let gateway: GatewayProcess;
  let client: TestClient;

  beforeAll(async () => {
    gateway = await GatewayProcess.start({ NATS_URL: stack.nats.url, PLUGINS_DIR });
    client = await connect(gateway);
    const ack = await client.request({ type: "subscribe", channel: "limits", symbols: "*" });
    expect(ack.type).toBe("subscribed");
  });

  it("an unhandled rejection a plugin's hook started is logged with its plugin and channel, and the gateway keeps serving", async () => {
    publish("AAPL", 1, "reject");
    await expect.poll(() => gateway.logLines(REJECTION).length).toBeGreaterThan(0);
    expect(gateway.logLines(REJECTION)[0]).toMatchObject({
      level: PINO_ERROR,
      plugin: "limits",
      channel: "limits",
      err: { type: "Error", message: "audit service unreachable for AAPL" },
    });
    // The message itself was valid: its frame still went out.
    await client.next("limit", (frame) => frame.symbol === "AAPL" && frame.value === 1);
    await stillServing(gateway, client, "MSFT");
  });

  it("a rejection whose reason has no stack is logged as of an unknown plugin, never guessed", async () => {
    publish("TSLA", 1, "reject_without_stack");
    const unattributed = () => gateway.logLines(REJECTION).filter((line) => line.err === "rejected for TSLA");
    await expect.poll(() => unattributed().length).toBeGreaterThan(0);
    expect(unattributed()[0]).toMatchObject({ level: PINO_ERROR, plugin: "unknown" });
    expect(unattributed()[0]).not.toHaveProperty("channel");
    await stillServing(gateway, client, "MSFT");
  });

  it("a message whose hook throws is dropped at ingest, logged with its channel, and costs nothing else", async () => {
    publish("BAD", 1, "throw_in_account");
    // account() throws on it: rejected at ingest (plugin_error), so no flush, snapshot or
    // connect-time snapshot ever meets it.
    const rejected = () =>
      gateway
        .logLines("invalid upstream message dropped")
        .filter((line) => line.reason === "plugin_error" && line.error === "no account for BAD");
    await expect.poll(() => rejected().length).toBe(1);
    expect(rejected()[0]).toMatchObject({ level: 40, channel: "limits" });

    const late = await connect(gateway);
    const ack = await late.request({ type: "subscribe", channel: "limits", symbols: ["BAD"] });
    expect(ack).toMatchObject({ type: "subscribed", channel: "limits", symbols: ["BAD"] });
    await stillServing(gateway, late, "BAD");
    await stillServing(gateway, client, "MSFT");
  });
});

describe("an uncaught exception", () => {
  it("is logged at fatal level with its plugin and channel, and ends the process with exit code 1", async () => {
    const gateway = await GatewayProcess.start({ NATS_URL: stack.nats.url, PLUGINS_DIR });
    publish("AAPL", 1, "throw_later");
    expect(await gateway.exited).toEqual({ code: 1, signal: null });
    expect(gateway.logLines(UNCAUGHT)).toEqual([
      expect.objectContaining({
        level: PINO_FATAL,
        plugin: "limits",
        channel: "limits",
        origin: "uncaughtException",
        err: expect.objectContaining({ message: "timer failed for AAPL" }),
      }),
    ]);
  });
});
