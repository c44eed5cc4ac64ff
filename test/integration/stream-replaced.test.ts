/**
 * A lossless channel's stream deleted while the gateway runs, against a real nats-server with
 * JetStream, the real gateway and a real socket. The history is lost, so positions start again in
 * a new epoch: the gateway must say so (new epoch on the frames, epoch_mismatch for positions in
 * the old one) and keep delivering, whether it sets the stream up again itself or an operator (or
 * another gateway instance) recreates it at the same moment. What it must never do is go quiet, or stamp the
 * new stream's messages with the old epoch.
 *
 * Each test has a stream and a subject of its own, so that only its gateway sees the stream go.
 */
import { jetstreamManager } from "@nats-io/jetstream";
import { describe, expect, it } from "vitest";
import { streamEpochOf } from "../helpers/epochs.js";
import type { RunningGateway } from "../helpers/gateway.js";
import type { Frame, TestClient } from "../helpers/test-client.js";
import { withGateway } from "../helpers/with-gateway.js";

/** How long a test keeps publishing probes while it waits for the new history's first frame. */
const RECOVERY_TIMEOUT_MS = 20_000;

// Every gateway and client stays until the file ends, as each test's did before there was a fixture.
const stack = withGateway({ jetstream: true, gateway: false, closeAfterEach: false });

/** A gateway whose trades channel has the stream `stream` on `<prefix>.trades.>`, and a subscribed client. */
async function setUp(stream: string, prefix: string) {
  const running = await stack.startGateway({
    WEBSOCKET_AUTO_SUBSCRIBE: "false",
    NATS_SUBJECT_TRADES: `${prefix}.trades.>`,
    NATS_STREAM_NAME_TRADES: stream,
  });
  const client = await stack.connect({ url: running.wsUrl });
  await client.request({ type: "subscribe", channel: "trades" });
  let probes = 0;
  const probe = () => {
    const id = `${prefix}-${probes++}`;
    stack.publisher.publish(
      `${prefix}.trades.x`,
      JSON.stringify({ symbol: "AAPL", side: "BUY", quantity: 1, price: 1, trade_id: id }),
    );
    return id;
  };
  const first = probe();
  const old = await client.next("trade_executed", (frame) => frame.trade_id === first);
  const { epoch, identity } = await streamEpochOf(await jetstreamManager(stack.publisher), stream);
  expect(old.epoch).toBe(epoch);
  return { running, client, probe, old, oldIdentity: identity };
}

/** The epoch of the stream `name` as it is now: the short hash of its name and creation time. */
async function epochOfStream(name: string): Promise<string> {
  return (await streamEpochOf(await jetstreamManager(stack.publisher), name)).epoch;
}

/** Publish a probe every 200 ms until a frame of another epoch than `old` arrives. */
async function firstOfNewEpoch(client: TestClient, probe: () => string, old: Frame): Promise<Frame> {
  const deadline = Date.now() + RECOVERY_TIMEOUT_MS;
  for (;;) {
    probe();
    await stack.publisher.flush();
    const fresh = await client
      .next("trade_executed", (frame) => frame.epoch !== old.epoch, 200)
      .catch(() => undefined);
    if (fresh) return fresh;
    if (Date.now() > deadline)
      throw new Error(`no trade of a new epoch within ${RECOVERY_TIMEOUT_MS} ms after the stream went`);
  }
}

/**
 * A position in the old stream is refused, by its epoch and by the long form earlier releases
 * stamped (the old stream's identity, which the gateway still takes for its own stream's epoch).
 */
async function expectOldPositionRefused(
  running: RunningGateway,
  old: Frame,
  oldIdentity: string,
  epoch: unknown,
) {
  for (const since of [old.epoch, oldIdentity]) {
    const back = await stack.connect({ url: running.wsUrl });
    const ack = await back.request({
      type: "subscribe",
      channel: "trades",
      since: { seq: old.seq, epoch: since },
    });
    expect(ack).toMatchObject({ recovered: false, reason: "epoch_mismatch", position: { epoch } });
  }
}

/** Attempts of the racing test (it may be retried once): each gets its own stream. */
let racingAttempts = 0;

describe("a lossless channel's stream deleted while the gateway runs", () => {
  it("the gateway sets it up again and continues in a new epoch; old positions answer epoch_mismatch", async () => {
    const { running, client, probe, old, oldIdentity } = await setUp("DELETED_TRADES", "deleted");
    const jsm = await jetstreamManager(stack.publisher);
    await jsm.streams.delete("DELETED_TRADES");

    const fresh = await firstOfNewEpoch(client, probe, old);
    // The epoch of the stream the gateway created anew: another hash, another creation time.
    expect(fresh).toMatchObject({ seq: 1, epoch: await epochOfStream("DELETED_TRADES") });
    expect(fresh.epoch).not.toBe(old.epoch);
    // Every later trade is in the new epoch, in order.
    const next = probe();
    const after = await client.next("trade_executed", (frame) => frame.trade_id === next);
    expect(after.epoch).toBe(fresh.epoch);
    expect(after.seq as number).toBeGreaterThan(fresh.seq as number);
    await expectOldPositionRefused(running, old, oldIdentity, fresh.epoch);
  }, 60_000);

  // One retry: on nats-server 2.9 the recreation race can leave every consumer of the new stream
  // delivering nothing (jetstream-live-feed.ts); it showed in 1 of 3 full CI rehearsals on
  // 7 December 2026. The assertions are unchanged, and a second failure fails.
  const racing = { timeout: 60_000, retry: 1 };
  it(
    "recreated at once by an operator, racing the gateway's own set-up: the new stream's epoch, its messages from seq 1",
    racing,
    async () => {
      // A stream and subject of its own per attempt, so that a retry starts from nothing.
      racingAttempts++;
      const streamName = `REPLACED_TRADES_${racingAttempts}`;
      const { running, client, probe, old, oldIdentity } = await setUp(
        streamName,
        `replaced${racingAttempts}`,
      );
      // A few more trades, so that the old history is ahead of what the new stream will hold.
      for (let index = 0; index < 5; index++) probe();
      const last = probe();
      await client.next("trade_executed", (frame) => frame.trade_id === last);

      const jsm = await jetstreamManager(stack.publisher);
      const { config } = await jsm.streams.info(streamName);
      await jsm.streams.delete(streamName);
      // The same configuration: whichever of the operator and the gateway creates it first, the
      // other's create is a no-op, and the stream is a new one either way.
      await jsm.streams.add(config);

      const fresh = await firstOfNewEpoch(client, probe, old);
      expect(fresh).toMatchObject({ seq: 1, epoch: await epochOfStream(streamName) });
      expect(fresh.epoch).not.toBe(old.epoch);
      // The 7 trades published before the deletion, and none after, carried the old epoch.
      expect(
        client.frames.filter((frame) => frame.type === "trade_executed" && frame.epoch === old.epoch),
      ).toHaveLength(7);
      await expectOldPositionRefused(running, old, oldIdentity, fresh.epoch);
    },
  );
});
