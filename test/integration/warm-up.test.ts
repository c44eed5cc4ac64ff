/**
 * A gateway that starts on a stream that already holds much history reads its ring back from
 * JetStream (the warm-up) before it serves positions. Behind a load balancer, clients reach it
 * during that warm-up and resume with positions its sibling gave them. On a loaded machine the
 * warm-up can take longer than NATS_REPLAY_WAIT_MS (bench:deploy: 5 s for 4,600 of 8,900 messages
 * at 1,000 clients), and that once made the new instance refuse those resumes (ahead_of_head) and
 * then send the rest of its warm-up to every client live, as duplicates. Here NATS_REPLAY_WAIT_MS
 * is far shorter than the warm-up, as it was there: the resume must wait for the warm-up that is
 * still making progress, and get exactly the frames after its position, once each.
 */
import { type JetStreamManager, jetstreamManager } from "@nats-io/jetstream";
import { describe, expect, it } from "vitest";
import { streamEpochOf } from "../helpers/epochs.js";
import { SEED_UPSTREAM } from "../helpers/seed-payloads.js";
import type { Frame, TestClient } from "../helpers/test-client.js";
import { withGateway } from "../helpers/with-gateway.js";

const SUBJECT = "execution.trades.WARM";
/**
 * Messages in the stream before the gateway starts: the whole ring (WEBSOCKET_HISTORY_SIZE). Reading
 * them back takes about 2 s on an idle 2-core machine, several times NATS_REPLAY_WAIT_MS below.
 */
const STORED = 60_000;
/**
 * Far shorter than the warm-up, as 5 s was in bench:deploy; long enough for the warm-up's first
 * messages to arrive on a loaded machine (until they do, the head does not move).
 */
const REPLAY_WAIT_MS = "300";

// A fresh nats-server (and JetStream store) for each test: each fills its own streams.
const stack = withGateway({
  jetstream: true,
  gateway: false,
  scope: "test",
  env: { WEBSOCKET_AUTO_SUBSCRIBE: "false", NATS_JETSTREAM: "required" },
});

function publish(n: number): void {
  stack.publisher.publish(
    SUBJECT,
    JSON.stringify({ ...SEED_UPSTREAM.trade, symbol: "WARM", trade_id: `w-${n}` }),
  );
}

/** A first gateway creates the channels' streams and stops: the history then grows with no gateway. */
async function createStreams(): Promise<JetStreamManager> {
  const first = await stack.startGateway();
  await expect.poll(async () => (await fetch(`${first.httpUrl}/readyz`)).status).toBe(200);
  await stack.close(first);
  return jetstreamManager(stack.publisher);
}

/** Publish `count` messages with `message(n)` and wait until `stream` (empty before) holds them. */
async function store(
  jsm: JetStreamManager,
  stream: string,
  count: number,
  message: (n: number) => void,
): Promise<void> {
  for (let n = 1; n <= count; n++) {
    message(n);
    if (n % 1000 === 0) await stack.publisher.flush();
  }
  await expect
    .poll(async () => (await jsm.streams.info(stream)).state.last_seq, { timeout: 20_000 })
    .toBe(count);
}

/**
 * A gateway started on the stored history (its ring holds STORED, NATS_REPLAY_WAIT_MS far shorter
 * than reading it back), and a client connected to it while it is still reading: not ready yet.
 */
async function clientDuringWarmUp(): Promise<TestClient> {
  const restarted = await stack.startGateway(
    { NATS_REPLAY_WAIT_MS: REPLAY_WAIT_MS, WEBSOCKET_HISTORY_SIZE: String(STORED) },
    { ready: false },
  );
  const client = await stack.connect({ url: restarted.wsUrl });
  expect((await fetch(`${restarted.httpUrl}/readyz`)).status).toBe(503);
  return client;
}

/** The next `count` trade frames. */
async function nextTrades(client: TestClient, count: number): Promise<Frame[]> {
  const trades: Frame[] = [];
  while (trades.length < count) trades.push(await client.next("trade_executed", () => true, 10_000));
  return trades;
}

describe("warm-up after a restart", () => {
  it("a resume that arrives during a warm-up longer than NATS_REPLAY_WAIT_MS gets exactly what follows its position", async () => {
    const jsm = await createStreams();
    await store(jsm, "GATEWAY_TRADES", STORED, publish);
    const { epoch } = await streamEpochOf(jsm, "GATEWAY_TRADES");

    const client = await clientDuringWarmUp();
    const since = STORED - 3;
    const ack = await client.request(
      { type: "subscribe", channel: "trades", since: { seq: since, epoch } },
      "resume",
    );
    expect(ack).toMatchObject({ type: "subscribed", channel: "trades", recovered: true });
    expect(ack.position).toMatchObject({ seq: STORED, epoch });
    publish(STORED + 1);
    const trades = await nextTrades(client, 4);
    expect(trades.map((frame) => [frame.seq, frame.trade_id])).toEqual([
      [STORED - 2, `w-${STORED - 2}`],
      [STORED - 1, `w-${STORED - 1}`],
      [STORED, `w-${STORED}`],
      [STORED + 1, `w-${STORED + 1}`],
    ]);
    const replayed = client.frames.find((frame) => frame.type === "replayed");
    expect(replayed).toMatchObject({ count: 3, position: { seq: STORED } });
    // Nothing of the warm-up went out live: after a ping round trip, no other trade has come.
    const rest = await client.drainUntilPong();
    expect(rest.filter((frame) => frame.type === "trade_executed")).toEqual([]);
  });

  it("one channel's long warm-up does not hold another channel's resumes back", async () => {
    // signals is set up before trades (channels load by name): a long signals warm-up must not
    // leave trades without its stream meanwhile.
    const jsm = await createStreams();
    const signal = JSON.stringify({ ...SEED_UPSTREAM.signal, symbol: "WARM" });
    await store(jsm, "GATEWAY_SIGNALS", STORED, () =>
      stack.publisher.publish("strategy.signals.WARM", signal),
    );
    await store(jsm, "GATEWAY_TRADES", 5, publish);
    const { epoch } = await streamEpochOf(jsm, "GATEWAY_TRADES");

    const client = await clientDuringWarmUp();
    const ack = await client.request({ type: "subscribe", channel: "trades", since: { seq: 2, epoch } });
    expect(ack).toMatchObject({
      type: "subscribed",
      channel: "trades",
      recovered: true,
      position: { seq: 5 },
    });
    expect((await nextTrades(client, 3)).map((frame) => frame.trade_id)).toEqual(["w-3", "w-4", "w-5"]);
  });
});
