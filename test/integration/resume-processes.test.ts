/**
 * Resume across gateway crashes, with real gateway processes (`tsx src/main.ts`), a real
 * nats-server with JetStream and real WebSocket clients. A client receives trades while 1,000 are
 * published at a steady pace; the gateway it is connected to is SIGKILLed at a random point;
 * publishing goes on; the client reconnects (to the restarted gateway, or to a second instance
 * already running) and subscribes with `since` = the last (seq, epoch) it received. It must end up
 * with every trade exactly once, in order: t-0..t-999, no duplicates, seq strictly increasing.
 *
 * The kill point is drawn from a seed, logged; set RESUME_SEED to replay a run.
 */
import type { NatsConnection } from "@nats-io/transport-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  exactnessProblems,
  GatewayProcess,
  SteadyPublisher,
  seededRandom,
  stopGatewayProcesses,
  TradeReader,
  tradePayload,
} from "../helpers/gateway-process.js";
import { NatsServer } from "../helpers/nats-server.js";

const TOTAL = 1000;
const EXPECTED = Array.from({ length: TOTAL }, (_, index) => `t-${index}`);
const SEED = Number(process.env.RESUME_SEED ?? Date.now() % 2 ** 31);
const random = seededRandom(SEED);

/** Gateways without auto-subscribe: a new connection gets nothing before its resume is answered. */
function gatewayEnv(nats: NatsServer, extra: Record<string, string> = {}): Record<string, string> {
  return { NATS_URL: nats.url, WEBSOCKET_AUTO_SUBSCRIBE: "false", NATS_RECONNECT_WAIT_MS: "100", ...extra };
}

/** How many trades the client has when its gateway is killed: between 100 and 800. */
function killPoint(test: string): number {
  const point = 100 + Math.floor(random() * 701);
  console.log(`[resume-processes] ${test}: seed ${SEED}, gateway killed after ${point} trades received`);
  return point;
}

describe("resume across gateway processes (JetStream)", () => {
  let nats: NatsServer;
  let publisher: NatsConnection;
  const readers: TradeReader[] = [];

  beforeAll(async () => {
    nats = await NatsServer.start({ jetstream: true });
    publisher = await nats.client();
  });

  afterAll(async () => {
    for (const reader of readers) await reader.close().catch(() => undefined);
    await stopGatewayProcesses();
    await publisher?.close();
    await nats?.remove();
  });

  function publishTrades(): SteadyPublisher {
    return new SteadyPublisher(TOTAL, (index) => {
      publisher.publish("execution.trades.crash", tradePayload(`t-${index}`, "AAPL", 100 + index));
    });
  }

  it("across a gateway SIGKILL and restart on the same port", async () => {
    const killAt = killPoint("restart");
    const a = await GatewayProcess.start(gatewayEnv(nats), { name: "gateway A" });
    const reader = new TradeReader();
    readers.push(reader);
    const first = await reader.connect(a.wsUrl);
    expect(first).toMatchObject({ type: "subscribed", channel: "trades", recovered: true });

    const publishing = publishTrades();
    await reader.until(() => reader.trades.length >= killAt, `${killAt} trades`);
    expect(await a.kill("SIGKILL")).toEqual({ code: null, signal: "SIGKILL" });
    await reader.closed();
    const lastBeforeCrash = reader.last as { seq: number; epoch: string };

    // Publishing goes on while the gateway is down and while it starts again.
    const restarted = await GatewayProcess.start(gatewayEnv(nats), {
      port: a.port,
      name: "gateway A (restarted)",
    });
    const ack = await reader.connect(restarted.wsUrl);
    expect(ack).toMatchObject({ type: "subscribed", channel: "trades", recovered: true });
    expect((ack.position as { epoch: string }).epoch).toBe(lastBeforeCrash.epoch);

    await publishing.done;
    await reader.until(() => reader.trades.at(-1)?.trade_id === `t-${TOTAL - 1}`, "the last trade");
    // A ping round trip: anything the gateway still owed (a duplicate) would arrive before the pong.
    await reader.client?.drainUntilPong();

    expect(exactnessProblems(reader.trades, EXPECTED)).toEqual([]);
    expect(reader.unexpected).toEqual([]);
    // The replay announced as many frames as it sent, all after the position resumed from.
    const replay = reader.replays.at(-1);
    expect(replay?.frame.count).toBe(replay?.tradesBefore);
    expect(replay?.tradesBefore).toBeGreaterThan(0);
    await reader.close();
  }, 60_000);

  it("across two gateway instances: A is SIGKILLed, the client resumes on B", async () => {
    const killAt = killPoint("two instances");
    // B keeps only 100 trades in memory: the resume, a few hundred trades back, comes from JetStream.
    const [a, b] = await Promise.all([
      GatewayProcess.start(gatewayEnv(nats), { name: "gateway A" }),
      GatewayProcess.start(gatewayEnv(nats, { WEBSOCKET_HISTORY_SIZE: "100" }), { name: "gateway B" }),
    ]);
    const reader = new TradeReader();
    readers.push(reader);
    const first = await reader.connect(a.wsUrl);
    expect(first).toMatchObject({ type: "subscribed", recovered: true });

    const publishing = publishTrades();
    await reader.until(() => reader.trades.length >= killAt, `${killAt} trades`);
    await a.kill("SIGKILL");
    await reader.closed();
    const lastBeforeCrash = reader.last as { seq: number; epoch: string };

    // Reconnect once a few hundred more trades are out, so that B must reach beyond its ring.
    await publishing.untilPublished(killAt + 300);
    const ack = await reader.connect(b.wsUrl);
    expect(ack).toMatchObject({ type: "subscribed", channel: "trades", recovered: true });
    // Both instances count positions in the same epoch: the stream's.
    expect((ack.position as { epoch: string }).epoch).toBe(lastBeforeCrash.epoch);

    await publishing.done;
    await reader.until(() => reader.trades.at(-1)?.trade_id === `t-${TOTAL - 1}`, "the last trade");
    await reader.client?.drainUntilPong();

    expect(exactnessProblems(reader.trades, EXPECTED)).toEqual([]);
    expect(reader.unexpected).toEqual([]);
    const replay = reader.replays.at(-1);
    expect(replay?.frame.count).toBe(replay?.tradesBefore);
    expect(replay?.tradesBefore).toBeGreaterThan(100);
    expect(b.running).toBe(true);
    await reader.close();
  }, 60_000);
});
