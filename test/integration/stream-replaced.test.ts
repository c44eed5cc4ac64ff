/**
 * A lossless channel's stream deleted while the gateway runs, against a real nats-server with
 * JetStream, the real gateway and a real socket. The history is lost, so positions start again in
 * a new epoch: the gateway must say so (new epoch on the frames, epoch_mismatch for positions in
 * the old one) and keep delivering, whether it sets the stream up again itself or an operator (or
 * another gateway instance) recreates it at the same moment. What it must never do is go quiet, or stamp the
 * new stream's messages with the old epoch.
 *
 * Each test (each attempt of it) has a stream and a subject of its own, so that only its gateway
 * sees the stream go.
 */
import { jetstreamManager } from "@nats-io/jetstream";
import { describe, expect, it } from "vitest";
import { streamEpochOf } from "../helpers/epochs.js";
import type { RunningGateway } from "../helpers/gateway.js";
import { LinkCutter } from "../helpers/link-cutter.js";
import type { Frame, TestClient } from "../helpers/test-client.js";
import { withGateway } from "../helpers/with-gateway.js";

/** How long a test keeps publishing probes while it waits for the new history's first frame. */
const RECOVERY_TIMEOUT_MS = 20_000;

// Every gateway and client stays until the file ends, as each test's did before there was a fixture.
const stack = withGateway({ jetstream: true, gateway: false, closeAfterEach: false });

/**
 * A gateway whose trades channel has the stream `stream` on `<prefix>.trades.>`, and a subscribed
 * client; `env`: more settings (another NATS_URL).
 */
async function setUp(stream: string, prefix: string, env: Record<string, string> = {}) {
  const running = await stack.startGateway({
    WEBSOCKET_AUTO_SUBSCRIBE: "false",
    NATS_SUBJECT_TRADES: `${prefix}.trades.>`,
    NATS_STREAM_NAME_TRADES: stream,
    ...env,
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

/**
 * Publish a probe every 200 ms until a frame of another epoch than `old` arrives. On a timeout the
 * error says what the stream `name` held then: whether the probes reached the stream at all tells
 * a stream that stopped capturing its subject from a consumer that stopped delivering.
 */
async function firstOfNewEpoch(
  client: TestClient,
  probe: () => string,
  old: Frame,
  name: string,
): Promise<Frame> {
  const deadline = Date.now() + RECOVERY_TIMEOUT_MS;
  for (;;) {
    probe();
    await stack.publisher.flush();
    const fresh = await client
      .next("trade_executed", (frame) => frame.epoch !== old.epoch, 200)
      .catch(() => undefined);
    if (fresh) return fresh;
    if (Date.now() > deadline) {
      const jsm = await jetstreamManager(stack.publisher);
      const held = await jsm.streams.info(name).then(
        (info) => `created ${info.created}, ${JSON.stringify(info.state)}`,
        (error: Error) => error.message,
      );
      const consumers = await jsm.consumers
        .list(name)
        .next()
        .then(
          (list) =>
            JSON.stringify(
              list.map((consumer) => ({
                created: consumer.created,
                start: consumer.config.opt_start_seq,
                delivered: consumer.delivered.stream_seq,
                pending: consumer.num_pending,
                waiting: consumer.num_waiting,
              })),
            ),
          (error: Error) => error.message,
        );
      throw new Error(
        `no trade of a new epoch within ${RECOVERY_TIMEOUT_MS} ms after the stream went; ${name}: ${held}; consumers ${consumers}`,
      );
    }
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

/** Attempts so far (a test may be retried once, below): each attempt gets its own stream and subject. */
let attempts = 0;
/** A stream name and subject prefix of this attempt's own. */
function fresh(base: string): { stream: string; prefix: string } {
  attempts++;
  return { stream: `${base}_${attempts}`, prefix: `${base.toLowerCase()}${attempts}` };
}

describe("a lossless channel's stream deleted while the gateway runs", () => {
  // One retry: on nats-server 2.9.10 a stream made anew can be left with consumers that deliver
  // nothing (docs/delivery-guarantees.md): its info shows every probe stored, each consumer the
  // gateway made on it 100 pending, a pull request waiting and 0 delivered (the diagnostic of
  // firstOfNewEpoch, run with no retry: 1 failure in 2 to 9 runs of this file, in any of its
  // tests). The assertions are unchanged, and a second failure fails.
  const retried = { timeout: 60_000, retry: 1 };

  it(
    "the gateway sets it up again and continues in a new epoch; old positions answer epoch_mismatch",
    retried,
    async () => {
      const { stream, prefix } = fresh("DELETED_TRADES");
      const { running, client, probe, old, oldIdentity } = await setUp(stream, prefix);
      const jsm = await jetstreamManager(stack.publisher);
      await jsm.streams.delete(stream);

      const first = await firstOfNewEpoch(client, probe, old, stream);
      // The epoch of the stream the gateway created anew: another hash, another creation time.
      expect(first).toMatchObject({ seq: 1, epoch: await epochOfStream(stream) });
      expect(first.epoch).not.toBe(old.epoch);
      // Every later trade is in the new epoch, in order.
      const next = probe();
      const after = await client.next("trade_executed", (frame) => frame.trade_id === next);
      expect(after.epoch).toBe(first.epoch);
      expect(after.seq as number).toBeGreaterThan(first.seq as number);
      await expectOldPositionRefused(running, old, oldIdentity, first.epoch);
    },
  );

  it(
    "replaced while the gateway's NATS link is down: after the link is back, the new stream's epoch and its messages from seq 1",
    retried,
    async () => {
      // The gateway cannot see its consumer deleted; when it reconnects, the client library
      // recreates its ordered consumer on whatever stream has the name now, after the last
      // sequence it delivered. That consumer must not be taken for the old stream's (its messages
      // up to that sequence skipped, the rest stamped with the old epoch).
      const { stream, prefix } = fresh("CUT_TRADES");
      const link = stack.track(await LinkCutter.start(stack.nats.port));
      const { running, client, probe, old, oldIdentity } = await setUp(stream, prefix, {
        NATS_URL: link.url,
        NATS_RECONNECT_WAIT_MS: "100",
      });
      for (let index = 0; index < 5; index++) probe();
      const last = probe();
      await client.next("trade_executed", (frame) => frame.trade_id === last);

      const disconnected = new Promise<void>((resolve) =>
        running.gateway.broker.onEvent((event) => event.type === "disconnected" && resolve()),
      );
      link.cut();
      await disconnected;
      const jsm = await jetstreamManager(stack.publisher);
      const { config } = await jsm.streams.info(stream);
      await jsm.streams.delete(stream);
      await jsm.streams.add(config);
      const reconnected = new Promise<void>((resolve) =>
        running.gateway.broker.onEvent((event) => event.type === "reconnected" && resolve()),
      );
      link.restore();
      await reconnected;

      const first = await firstOfNewEpoch(client, probe, old, stream);
      expect(first).toMatchObject({ seq: 1, epoch: await epochOfStream(stream) });
      expect(
        client.frames.filter((frame) => frame.type === "trade_executed" && frame.epoch === old.epoch),
      ).toHaveLength(7);
      await expectOldPositionRefused(running, old, oldIdentity, first.epoch);
    },
  );

  it(
    "recreated at once by an operator, racing the gateway's own set-up: the new stream's epoch, its messages from seq 1",
    retried,
    async () => {
      const { stream, prefix } = fresh("REPLACED_TRADES");
      const { running, client, probe, old, oldIdentity } = await setUp(stream, prefix);
      // A few more trades, so that the old history is ahead of what the new stream will hold.
      for (let index = 0; index < 5; index++) probe();
      const last = probe();
      await client.next("trade_executed", (frame) => frame.trade_id === last);

      const jsm = await jetstreamManager(stack.publisher);
      const { config } = await jsm.streams.info(stream);
      await jsm.streams.delete(stream);
      // The same configuration: whichever of the operator and the gateway creates it first, the
      // other's create is a no-op, and the stream is a new one either way.
      await jsm.streams.add(config);

      const first = await firstOfNewEpoch(client, probe, old, stream);
      expect(first).toMatchObject({ seq: 1, epoch: await epochOfStream(stream) });
      expect(first.epoch).not.toBe(old.epoch);
      // The 7 trades published before the deletion, and none after, carried the old epoch.
      expect(
        client.frames.filter((frame) => frame.type === "trade_executed" && frame.epoch === old.epoch),
      ).toHaveLength(7);
      await expectOldPositionRefused(running, old, oldIdentity, first.epoch);
    },
  );
});
