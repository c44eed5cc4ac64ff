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
import { jetstreamManager } from "@nats-io/jetstream";
import { beforeAll, describe, expect, it } from "vitest";
import { expectStreamEpochOn } from "../helpers/epochs.js";
import {
  GatewayProcess,
  killPoints,
  SteadyPublisher,
  stopGatewayProcesses,
  TradeReader,
  tradePayload,
} from "../helpers/gateway-process.js";
import { withGateway } from "../helpers/with-gateway.js";

const TOTAL = 1000;
const EXPECTED = Array.from({ length: TOTAL }, (_, index) => `t-${index}`);
const killPoint = killPoints("resume-processes");

/** Gateways without auto-subscribe: a new connection gets nothing before its resume is answered. */
function gatewayEnv(natsUrl: string, extra: Record<string, string> = {}): Record<string, string> {
  return { NATS_URL: natsUrl, WEBSOCKET_AUTO_SUBSCRIBE: "false", NATS_RECONNECT_WAIT_MS: "100", ...extra };
}

describe("resume across gateway processes (JetStream)", () => {
  const stack = withGateway({ jetstream: true, gateway: false });
  // The gateway processes go before NATS does (and after the readers, closed with the clients).
  beforeAll(() => stack.defer(stopGatewayProcesses));

  function publishTrades(): SteadyPublisher {
    return new SteadyPublisher(TOTAL, (index) => {
      stack.publisher.publish("execution.trades.crash", tradePayload(`t-${index}`, "AAPL", 100 + index));
    });
  }

  it("across a gateway SIGKILL and restart on the same port", async () => {
    const killAt = killPoint("restart");
    const a = await GatewayProcess.start(gatewayEnv(stack.nats.url), { name: "gateway A" });
    const reader = stack.track(new TradeReader(), { client: true });
    const first = await reader.connect(a.wsUrl);
    expect(first).toMatchObject({ type: "subscribed", channel: "trades", recovered: true });

    const publishing = publishTrades();
    await reader.until(() => reader.trades.length >= killAt, `${killAt} trades`);
    expect(await a.kill("SIGKILL")).toEqual({ code: null, signal: "SIGKILL" });
    await reader.closed();

    // Publishing goes on while the gateway is down and while it starts again.
    const restarted = await GatewayProcess.start(gatewayEnv(stack.nats.url), {
      port: a.port,
      name: "gateway A (restarted)",
    });
    await reader.resume(restarted.wsUrl);

    await publishing.done;
    await reader.receivedExactly(EXPECTED);
    expect(reader.replayed()).toBeGreaterThan(0);
    await reader.close();
  }, 60_000);

  it("across two gateway instances: A is SIGKILLed, the client resumes on B", async () => {
    const killAt = killPoint("two instances");
    // B keeps only 100 trades in memory: the resume, a few hundred trades back, comes from JetStream.
    const [a, b] = await Promise.all([
      GatewayProcess.start(gatewayEnv(stack.nats.url), { name: "gateway A" }),
      GatewayProcess.start(gatewayEnv(stack.nats.url, { WEBSOCKET_HISTORY_SIZE: "100" }), {
        name: "gateway B",
      }),
    ]);
    // Both instances stamp the stream's short epoch: the same one, derived from the stream.
    const epoch = await expectStreamEpochOn(
      [a.wsUrl, b.wsUrl],
      (url) => stack.connect({ url }),
      await jetstreamManager(stack.publisher),
      "GATEWAY_TRADES",
      "trades",
    );
    const reader = stack.track(new TradeReader(), { client: true });
    const first = await reader.connect(a.wsUrl);
    expect(first).toMatchObject({ type: "subscribed", recovered: true, position: { epoch } });

    const publishing = publishTrades();
    await reader.until(() => reader.trades.length >= killAt, `${killAt} trades`);
    await a.kill("SIGKILL");
    await reader.closed();

    // Reconnect once a few hundred more trades are out, so that B must reach beyond its ring.
    await publishing.untilPublished(killAt + 300);
    // Both instances count positions in the same epoch: the stream's.
    await reader.resume(b.wsUrl);

    await publishing.done;
    await reader.receivedExactly(EXPECTED);
    expect(reader.replayed()).toBeGreaterThan(100);
    expect(b.running).toBe(true);
    await reader.close();
  }, 60_000);
});
