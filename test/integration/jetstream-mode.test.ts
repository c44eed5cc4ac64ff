/**
 * NATS_JETSTREAM against real nats-servers: JetStream is never dropped silently.
 *
 * - What nats.js 3.4 says when the JetStream API is absent, slow or failing, captured from a real
 *   server, and how the gateway classifies it (definite absence vs ask again).
 * - required + a server without JetStream: not ready, the status says why, until the server comes
 *   back with JetStream on the same port; then ready, with the streams' positions.
 * - auto + JetStream appearing later: memory first, then JetStream, a new epoch, told by the status
 *   document and /metrics; a resume from a memory position gets epoch_mismatch.
 * - auto + a JetStream API that does not answer in time: retried, not ready meanwhile, never taken
 *   for "no JetStream"; memory once the server says so for sure.
 *
 * The gateways here run without the fixture's NATS: each test starts its own servers on a port of
 * its choosing, so that one can come back there with other arguments, as a redeployed server does.
 */
import { jetstreamManager } from "@nats-io/jetstream";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { describe, expect, it } from "vitest";
import { isJetStreamAbsent, probeJetStream } from "../../src/core/ingest/jetstream-log.js";
import { MEMORY_EPOCH, streamEpochOf } from "../helpers/epochs.js";
import { freePort } from "../helpers/free-port.js";
import type { RunningGateway } from "../helpers/gateway.js";
import { waitUntilReady } from "../helpers/gateway.js";
import { NatsServer } from "../helpers/nats-server.js";
import { withGateway } from "../helpers/with-gateway.js";

const stack = withGateway({ nats: false, scope: "test" });

/** A nats-server on a fresh port, closed at teardown (or earlier by the test). */
async function natsOn(port: number, jetstream: boolean): Promise<{ close(): Promise<void> }> {
  const server = await NatsServer.start({ port, jetstream });
  return stack.track({ close: () => server.remove() });
}

async function natsClient(port: number): Promise<NatsConnection> {
  return stack.track(await connect({ servers: `nats://127.0.0.1:${port}`, name: "jetstream-mode-test" }));
}

/**
 * A connection that takes $JS.API.INFO on a server without JetStream and answers it with `reply`
 * (a JetStream API error), or never answers when `reply` is undefined: a JetStream API that is
 * there but stuck (a loaded server, a cluster without a meta leader).
 */
async function jsApiResponder(port: number, reply?: object): Promise<NatsConnection> {
  const responder = await natsClient(port);
  responder.subscribe("$JS.API.INFO", {
    callback: (_error, message) => {
      if (reply !== undefined) message.respond(JSON.stringify(reply));
    },
  });
  await responder.flush();
  return responder;
}

async function status(running: RunningGateway) {
  const body = (await (await fetch(`${running.httpUrl}/websocket/status`)).json()) as {
    upstream: {
      state: string;
      history: string | null;
      history_reason?: string;
      histories?: Record<string, string>;
    };
  };
  return body.upstream;
}

async function readyz(running: RunningGateway): Promise<number> {
  return (await fetch(`${running.httpUrl}/readyz`)).status;
}

/** gateway_history_mode's samples that are 1, as "channel=mode", sorted. */
async function historyGauge(running: RunningGateway): Promise<string[]> {
  const text = await (await fetch(`${running.httpUrl}/metrics`)).text();
  return text
    .split("\n")
    .filter((line) => line.startsWith("gateway_history_mode{") && line.endsWith(" 1"))
    .map((line) => {
      const [, channel, mode] = /channel="([^"]+)",mode="([^"]+)"/.exec(line) ?? [];
      return `${channel}=${mode}`;
    })
    .sort();
}

/** Poll `read` until `accept` holds (bounded). */
async function eventually<T>(
  read: () => Promise<T>,
  accept: (value: T) => boolean,
  timeoutMs = 20_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await read();
    if (accept(value)) return value;
    if (Date.now() > deadline) throw new Error(`still ${JSON.stringify(value)} after ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

function trade(id: string): string {
  return JSON.stringify({ symbol: "AAPL", side: "BUY", quantity: 1, price: 1, trade_id: id });
}

describe("what the JetStream API answers, from a real server, and how it is classified", () => {
  it("a server without JetStream: JetStreamNotEnabled (503 no responders on $JS.API.INFO), a definite absence", async () => {
    const port = await freePort();
    await natsOn(port, false);
    const connection = await natsClient(port);
    const error = await jetstreamManager(connection, { timeout: 2000 }).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(Error);
    expect((error as Error).name).toBe("JetStreamNotEnabled");
    expect(((error as Error).cause as Error & { isNoResponders(): boolean }).isNoResponders()).toBe(true);
    expect(isJetStreamAbsent(error)).toBe(true);
    expect(await probeJetStream(connection)).toMatchObject({ kind: "absent" });
  });

  it("a JetStream API that does not answer in time: TimeoutError, absence only when the server's own INFO says it runs no JetStream", async () => {
    // A cluster of servers without -js lets $JS.API.INFO time out (nats-server 2.9) instead of
    // answering no responders: the server's INFO is then the definite answer. A timeout from a
    // server whose INFO says it runs JetStream (a loaded one, an election) is asked again.
    const port = await freePort();
    await natsOn(port, false);
    await jsApiResponder(port);
    const connection = await natsClient(port);
    const error = await jetstreamManager(connection, { timeout: 300 }).catch((caught: unknown) => caught);
    expect((error as Error).name).toBe("TimeoutError");
    expect(isJetStreamAbsent(error)).toBe(false);
    expect(connection.info?.jetstream).not.toBe(true);
    expect(await probeJetStream(connection)).toMatchObject({
      kind: "absent",
      reason: /TimeoutError.*INFO says it runs no JetStream/,
    });
  });

  it("API errors: 10008 (temporarily unavailable, a meta leader election) is asked again, 10039 and 10076 (not enabled) are absence", async () => {
    const port = await freePort();
    await natsOn(port, false);
    const unavailable = await jsApiResponder(port, {
      type: "io.nats.jetstream.api.v1.account_info_response",
      error: { code: 503, err_code: 10008, description: "JetStream system temporarily unavailable" },
    });
    const connection = await natsClient(port);
    const transient = await jetstreamManager(connection).catch((caught: unknown) => caught);
    expect(transient).toMatchObject({ name: "JetStreamApiError", code: 10008 });
    expect(isJetStreamAbsent(transient)).toBe(false);
    await unavailable.close();
    const forAccount = await jsApiResponder(port, {
      type: "io.nats.jetstream.api.v1.account_info_response",
      error: { code: 503, err_code: 10039, description: "jetstream not enabled for account" },
    });
    // nats.js turns 10039 into JetStreamNotEnabled, the API error as its cause.
    const absent = await jetstreamManager(connection).catch((caught: unknown) => caught);
    expect(absent).toMatchObject({ name: "JetStreamNotEnabled", cause: { code: 10039 } });
    expect(isJetStreamAbsent(absent)).toBe(true);
    await forAccount.close();
    await jsApiResponder(port, {
      type: "io.nats.jetstream.api.v1.account_info_response",
      error: { code: 503, err_code: 10076, description: "JetStream not enabled" },
    });
    const notEnabled = await jetstreamManager(connection).catch((caught: unknown) => caught);
    expect(notEnabled).toMatchObject({ name: "JetStreamApiError", code: 10076 });
    expect(isJetStreamAbsent(notEnabled)).toBe(true);
  });

  it("a server with JetStream: available", async () => {
    const port = await freePort();
    await natsOn(port, true);
    expect(await probeJetStream(await natsClient(port))).toMatchObject({ kind: "available" });
  });
});

describe("NATS_JETSTREAM=required", () => {
  it("without JetStream: not ready and says why; ready with the streams' positions once the server comes back with it", async () => {
    const port = await freePort();
    const plain = await natsOn(port, false);
    const running = await stack.startGateway(
      { NATS_URL: `nats://127.0.0.1:${port}`, NATS_JETSTREAM: "required" },
      { ready: false },
    );
    const waiting = await eventually(
      () => status(running),
      (upstream) => upstream.history === "waiting" && upstream.history_reason !== undefined,
    );
    expect(waiting).toMatchObject({
      state: "connecting",
      history: "waiting",
      history_reason: expect.stringMatching(/NATS_JETSTREAM=required.*no JetStream/),
      histories: { trades: "waiting", signals: "waiting" },
    });
    expect(await readyz(running)).toBe(503);
    expect(await historyGauge(running)).toEqual(["signals=waiting", "trades=waiting"]);
    // It keeps asking, and never falls back to memory.
    await new Promise((resolve) => setTimeout(resolve, 1500));
    expect(await readyz(running)).toBe(503);
    expect((await status(running)).history).toBe("waiting");

    await stack.close(plain);
    await natsOn(port, true);
    await waitUntilReady(running, 20_000);
    expect(await readyz(running)).toBe(200);
    const upstream = await status(running);
    expect(upstream).toMatchObject({
      state: "connected",
      history: "jetstream",
      histories: { trades: "jetstream", signals: "jetstream" },
    });
    expect(upstream.history_reason).toBeUndefined();
    expect(await historyGauge(running)).toEqual(["signals=jetstream", "trades=jetstream"]);
    const client = await stack.connect({ url: running.wsUrl });
    const welcome = client.frames[0] as { positions?: Record<string, { epoch: string }> };
    // Each channel's epoch: the short hash of its stream's identity.
    const jsm = await jetstreamManager(await natsClient(port));
    expect(welcome.positions?.trades?.epoch).toBe((await streamEpochOf(jsm, "GATEWAY_TRADES")).epoch);
    expect(welcome.positions?.signals?.epoch).toBe((await streamEpochOf(jsm, "GATEWAY_SIGNALS")).epoch);
  });
});

describe("NATS_JETSTREAM=auto", () => {
  it("JetStream appearing later: memory first, then JetStream in a new epoch, told by status and metrics", async () => {
    const port = await freePort();
    const plain = await natsOn(port, false);
    const running = await stack.startGateway({
      NATS_URL: `nats://127.0.0.1:${port}`,
      NATS_JETSTREAM_POLL_MS: "300",
      WEBSOCKET_AUTO_SUBSCRIBE: "false",
    });
    expect(await status(running)).toMatchObject({
      history: "memory",
      history_reason: expect.stringMatching(/JetStreamNotEnabled/),
      histories: { trades: "memory", signals: "memory" },
    });
    expect(await historyGauge(running)).toEqual(["signals=memory", "trades=memory"]);
    const client = await stack.connect({ url: running.wsUrl });
    await client.request({ type: "subscribe", channel: "trades" });
    const before = await natsClient(port);
    before.publish("execution.trades.AAPL", trade("in-memory"));
    const old = await client.next("trade_executed", (frame) => frame.trade_id === "in-memory");
    expect(old).toMatchObject({ seq: 1, epoch: expect.stringMatching(MEMORY_EPOCH) });

    await stack.close(before);
    await stack.close(plain);
    await natsOn(port, true);
    const upstream = await eventually(
      () => status(running),
      (now) => now.history === "jetstream",
    );
    expect(upstream).toMatchObject({
      state: "connected",
      histories: { trades: "jetstream", signals: "jetstream" },
    });
    expect(upstream.history_reason).toBeUndefined();
    expect(await historyGauge(running)).toEqual(["signals=jetstream", "trades=jetstream"]);
    expect(await readyz(running)).toBe(200);

    // The connected client is told by the epoch on its next frame; nothing is stamped in the old one.
    const after = await natsClient(port);
    after.publish("execution.trades.AAPL", trade("in-jetstream"));
    const fresh = await client.next("trade_executed", (frame) => frame.trade_id === "in-jetstream");
    const { epoch } = await streamEpochOf(await jetstreamManager(after), "GATEWAY_TRADES");
    expect(fresh).toMatchObject({ seq: 1, epoch });
    // A position in the memory epoch cannot be resumed: the client starts over.
    const back = await stack.connect({ url: running.wsUrl });
    const refused = await back.request({
      type: "subscribe",
      channel: "trades",
      since: { seq: old.seq, epoch: old.epoch },
    });
    expect(refused).toMatchObject({ recovered: false, reason: "epoch_mismatch" });
  });

  it("a JetStream API that answers 'temporarily unavailable': retried and not ready, never taken for no JetStream; memory once the server says so", async () => {
    const port = await freePort();
    await natsOn(port, false);
    // "Temporarily unavailable" (10008, a meta leader election) says nothing of whether JetStream exists.
    const stuck = await jsApiResponder(port, {
      type: "io.nats.jetstream.api.v1.account_info_response",
      error: { code: 503, err_code: 10008, description: "JetStream system temporarily unavailable" },
    });
    const running = await stack.startGateway({ NATS_URL: `nats://127.0.0.1:${port}` }, { ready: false });
    const waiting = await eventually(
      () => status(running),
      (upstream) => upstream.history_reason !== undefined,
    );
    expect(waiting).toMatchObject({
      history: "waiting",
      history_reason: expect.stringMatching(/JetStream did not answer.*temporarily unavailable/),
      histories: { trades: "waiting", signals: "waiting" },
    });
    expect(await readyz(running)).toBe(503);
    // Several answers later, still waiting: "unavailable" is no "no".
    await new Promise((resolve) => setTimeout(resolve, 3000));
    expect((await status(running)).history).toBe("waiting");
    expect(await readyz(running)).toBe(503);

    await stack.close(stuck);
    await waitUntilReady(running, 20_000);
    expect(await status(running)).toMatchObject({
      history: "memory",
      history_reason: expect.stringMatching(/JetStreamNotEnabled/),
      histories: { trades: "memory", signals: "memory" },
    });
  });
});
