/**
 * Resume on a 3-node NATS cluster with JetStream (streams replicated 3 times), with two real
 * gateway processes A and B on it and real WebSocket clients:
 *
 * (a) gateway A is SIGKILLed while trades flow; the client resumes on B with `since` and ends up
 *     with every trade exactly once, in order (positions are the stream's, the same on A and B);
 * (b) the NATS node a restarted gateway A is connected to is killed while trades flow; a client
 *     that stays connected to A through the failover gets every trade exactly once, in order: the
 *     gateway's ordered consumer continues from its last sequence after the reconnect;
 * (c) that node back, the node holding a fresh gateway C's live (ordered, R1) consumer is killed:
 *     C's client must likewise get every trade exactly once, in order, without reconnecting.
 *
 * In (b) and (c) the publisher publishes through JetStream (an ack per trade, retried with the same
 * Nats-Msg-Id until acknowledged): while the stream elects a new leader, a plain NATS publish can
 * be lost by NATS itself before any gateway sees it, and that is not what this test is about.
 * Kill points are drawn from a seed, logged; set RESUME_SEED to replay a run.
 */
import {
  type ConsumerInfo,
  type JetStreamClient,
  type JetStreamManager,
  jetstream,
  jetstreamManager,
} from "@nats-io/jetstream";
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
import type { NatsServer } from "../helpers/nats-server.js";
import { withGateway } from "../helpers/with-gateway.js";

const TOTAL = 1000;
const killPoint = killPoints("resume-cluster");
/** JetStream on nats-server 2.9 needs a meta leader before streams can be created. */
const READY_TIMEOUT_MS = 30_000;

function expectedIds(prefix: string): string[] {
  return Array.from({ length: TOTAL }, (_, index) => `${prefix}-${index}`);
}

/** Publish through JetStream until acknowledged (same msgID on every attempt: stored once). */
async function publishAcked(js: JetStreamClient, tradeId: string, symbol = "AAPL"): Promise<number> {
  const deadline = Date.now() + 20_000;
  for (;;) {
    try {
      const ack = await js.publish("execution.trades.cluster", tradePayload(tradeId, symbol), {
        msgID: tradeId,
      });
      return ack.seq;
    } catch (error) {
      if (Date.now() > deadline) throw new Error(`${tradeId} not acknowledged in time: ${error}`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
}

/** Bounded poll: the stream has a leader and two current replicas (after a node came back). */
async function streamFullyReplicated(jsm: JetStreamManager): Promise<void> {
  const deadline = Date.now() + 20_000;
  let last = "";
  for (;;) {
    try {
      const { cluster } = await jsm.streams.info("GATEWAY_TRADES");
      last = JSON.stringify(cluster);
      const replicas = cluster?.replicas ?? [];
      if (cluster?.leader && replicas.length === 2 && replicas.every((peer) => peer.current && !peer.offline))
        return;
    } catch (error) {
      last = String(error);
    }
    if (Date.now() > deadline) throw new Error(`stream not fully replicated again: ${last}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

/**
 * Bounded poll: the stream's consumers. The consumer-list request can time out for a while after
 * a node came back (its leaders are still being elected): it did in a CI rehearsal on 7 December.
 */
async function consumersOf(jsm: JetStreamManager, stream: string): Promise<ConsumerInfo[]> {
  const deadline = Date.now() + 20_000;
  for (;;) {
    try {
      const consumers: ConsumerInfo[] = [];
      for await (const info of jsm.consumers.list(stream)) consumers.push(info);
      return consumers;
    } catch (error) {
      if (Date.now() > deadline) throw new Error(`consumers of ${stream} not listed in time: ${error}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

describe("resume on a 3-node JetStream cluster (R3 streams)", () => {
  // Publishers on the nodes each test chooses, gateway processes of its own, and everything kept
  // until the last test: each test goes on from the cluster the previous one left.
  const stack = withGateway({
    cluster: 3,
    jetstream: true,
    gateway: false,
    publisher: false,
    closeAfterEach: false,
  });
  let a: GatewayProcess;
  let b: GatewayProcess;
  /** The node (b) kills, restarted by (c). */
  let killedInB: NatsServer | undefined;

  /** A's server list starts with node 0, B's with node 1; both list all three. */
  const envA = () => gatewayEnv([0, 1, 2]);
  const envB = () => gatewayEnv([1, 0, 2]);
  function gatewayEnv(order: number[]): Record<string, string> {
    return {
      NATS_URL: order.map((index) => (stack.cluster[index] as NatsServer).url).join(","),
      NATS_STREAM_REPLICAS: "3",
      NATS_RECONNECT_WAIT_MS: "100",
      // Right after a node restart, a loaded 2-core machine's cluster can take seconds to answer
      // JetStream API requests: resumes here wait for it rather than answer upstream_unavailable.
      NATS_REPLAY_WAIT_MS: "20000",
      WEBSOCKET_AUTO_SUBSCRIBE: "false",
    };
  }

  beforeAll(async () => {
    // The gateway processes go before the cluster does (and after the readers and publishers).
    stack.defer(stopGatewayProcesses);
    [a, b] = await Promise.all([
      GatewayProcess.start(envA(), { name: "gateway A", readyTimeoutMs: READY_TIMEOUT_MS }),
      GatewayProcess.start(envB(), { name: "gateway B", readyTimeoutMs: READY_TIMEOUT_MS }),
    ]);
  }, 2 * READY_TIMEOUT_MS);

  it("(a) A is SIGKILLed while trades flow: the client resumes on B, every trade once, in order", async () => {
    const killAt = killPoint("(a) gateway killed");
    const publisher = stack.track(await (stack.cluster[2] as NatsServer).client());
    // One acknowledged publish first: the stream captures this node's messages from here on
    // (route interest is propagated asynchronously). The client starts after it.
    const warmup = await publishAcked(jetstream(publisher, { timeout: 2000 }), "warmup-a");
    // A and B, first connected to different nodes, stamp the one short epoch of the R3 stream.
    await expectStreamEpochOn(
      [a.wsUrl, b.wsUrl],
      (url) => stack.connect({ url }),
      await jetstreamManager(publisher),
      "GATEWAY_TRADES",
      "trades",
    );

    const reader = stack.track(new TradeReader(), { client: true });
    expect(await reader.connect(a.wsUrl, { startAfter: warmup })).toMatchObject({ recovered: true });

    // Upstream as it is: plain NATS publishes, at a steady pace.
    const publishing = new SteadyPublisher(TOTAL, (index) => {
      publisher.publish("execution.trades.cluster", tradePayload(`a-${index}`));
    });
    await reader.until(() => reader.trades.length >= killAt, `${killAt} trades`);
    await a.kill("SIGKILL");
    await reader.closed();

    // Positions are the stream's: the same epoch on B.
    await reader.resume(b.wsUrl);
    await publishing.done;
    await reader.receivedExactly(expectedIds("a"));
    reader.replayed();
    await reader.close();
  }, 60_000);

  /**
   * While 1,000 trades are published (through JetStream, acknowledged), kill `victim` once the
   * client on `gateway` has a random number of them; the client, staying connected, must get
   * every trade exactly once, in order, on one connection.
   */
  async function survivesNodeLoss(gateway: GatewayProcess, victim: NatsServer, prefix: string, test: string) {
    const killAt = killPoint(test);
    const survivor = stack.cluster.find((node) => node !== victim) as NatsServer;
    const publisher = stack.track(await survivor.client());
    const js = jetstream(publisher, { timeout: 2000 });
    const warmup = await publishAcked(js, `warmup-${prefix}`);

    const reader = stack.track(new TradeReader(), { client: true });
    const ack = await reader.connect(gateway.wsUrl, { startAfter: warmup });
    // The whole ack on failure: its reason and position say why.
    expect(ack, JSON.stringify(ack)).toMatchObject({ recovered: true });

    const publishing = new SteadyPublisher(TOTAL, (index) =>
      publishAcked(js, `${prefix}-${index}`).then(() => {}),
    );
    await reader.until(() => reader.trades.length >= killAt, `${killAt} trades`);
    const logBefore = gateway.output().length;
    await victim.stop();

    await publishing.done;
    // The stream elects a new leader within seconds; give the gateway's live consumer 25 s more.
    await reader
      .until(() => reader.trades.at(-1)?.trade_id === `${prefix}-${TOTAL - 1}`, "the last trade", 25_000)
      .catch((error: Error) => {
        const log = gateway.output().slice(logBefore).split("\n").slice(0, 10).join("\n");
        throw new Error(`${error.message}\n${gateway.name}'s log after the node was killed:\n${log}`);
      });
    await reader.receivedExactly(expectedIds(prefix));
    // The client never noticed: one connection, one subscription, no replay.
    expect(reader.client?.closeEvent).toBeUndefined();
    expect(reader.acks).toHaveLength(1);
    await reader.close();
  }

  it("(b) the NATS node A is connected to is killed: a client staying on A gets every trade once, in order", async () => {
    const restarted = await GatewayProcess.start(envA(), {
      port: a.port,
      name: "gateway A (restarted)",
      readyTimeoutMs: READY_TIMEOUT_MS,
    });
    const used = await restarted.natsServer();
    const victim = stack.cluster.find((node) => used?.endsWith(`:${node.port}`));
    expect(victim, `gateway A connected to ${used}`).toBeDefined();
    killedInB = victim;
    await survivesNodeLoss(restarted, victim as NatsServer, "b", "(b) node A is connected to killed");
    await restarted.waitForOutput("NATS reconnected", 5000);
    expect(await restarted.natsServer()).not.toBe(used);
  }, 60_000);

  it("(c) the NATS node holding a gateway's live consumer is killed: its client gets every trade once, in order", async () => {
    // Bring the node (b) killed back, and wait until every replica of the stream is current again.
    const down = killedInB as NatsServer;
    expect(down).toBeDefined();
    await down.restart();
    const probe = stack.track(await (stack.cluster.find((node) => node !== down) as NatsServer).client());
    // checkAPI false: right after a restart the meta leader may still be in election, and the
    // account-info request the check makes would time out; streamFullyReplicated polls instead.
    const jsm = await jetstreamManager(probe, { timeout: 2000, checkAPI: false });
    await streamFullyReplicated(jsm);

    // A fresh gateway: its live consumer is the newest consumer on the stream (an R1 ordered
    // consumer, placed on one node of the three, whichever the gateway is connected to).
    const c = await GatewayProcess.start(envB(), { name: "gateway C", readyTimeoutMs: READY_TIMEOUT_MS });
    const consumers = await consumersOf(jsm, "GATEWAY_TRADES");
    // (Its waits, the replication's 20 s, the gateway's ready timeout and this list's 20 s, fit in
    // the test's 90 s, so that a slow cluster fails with their messages, not the test's timeout.)
    const newest = consumers.sort((x, y) => Date.parse(y.created) - Date.parse(x.created))[0];
    const host = stack.cluster.find((node) => newest?.cluster?.leader === nodeName(node));
    expect(host, `consumers: ${JSON.stringify(consumers.map((info) => info.cluster))}`).toBeDefined();
    await survivesNodeLoss(c, host as NatsServer, "c", "(c) node holding the live consumer killed");
  }, 90_000);

  function nodeName(node: NatsServer): string {
    return `node-${stack.cluster.indexOf(node)}`;
  }
});
