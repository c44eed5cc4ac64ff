/**
 * One client connection, recorded frame by frame as the bytes arrive, and compared with the
 * recording committed in test/fixtures/recorded/connection.txt: refactors of the core must not
 * change a byte on the wire. Only what differs from run to run is masked: the times the gateway
 * stamps (now) and the epoch of its in-memory positions (random per process). Upstream times
 * (2024-…) stay literal.
 *
 * `RECORD=1 npx vitest run test/integration/recorded-connection.test.ts` writes the recording
 * anew; do that only for a change that is meant to show on the wire, and say so in its commit.
 */
import { readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import WebSocket from "ws";
import { flushChannel, waitForIngest } from "../helpers/gateway.js";
import { SEED_UPSTREAM } from "../helpers/seed-payloads.js";
import { withGateway } from "../helpers/with-gateway.js";

const RECORDING = path.resolve(import.meta.dirname, "../fixtures/recorded/connection.txt");
/** Times the gateway stamps: any ISO-8601 UTC time after the seed's 2024 examples. */
const GATEWAY_TIME = /"20(2[5-9]|[3-9]\d)-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z"/g;
/** The in-memory epoch wherever a frame names one (src/core/epochs.ts: m + 11 base64url). */
const MEMORY_EPOCH = /"epoch":"m[A-Za-z0-9_-]{11}"/g;

function mask(frame: string): string {
  return frame.replace(GATEWAY_TIME, '"<now>"').replace(MEMORY_EPOCH, '"epoch":"<epoch>"');
}

describe("a recorded client connection", () => {
  // Intervals of a minute: conflated frames go out when the test flushes, never on a timer.
  const stack = withGateway({
    env: { WEBSOCKET_PRICE_UPDATE_INTERVAL: "60", WEBSOCKET_PORTFOLIO_UPDATE_INTERVAL: "60" },
  });
  let socket: WebSocket;
  const frames: string[] = [];
  /** The gateway's in-memory epoch, from the welcome, unmasked: the resume below names it. */
  let epoch = "";
  const waiters: (() => void)[] = [];

  /** Resolve once `count` frames in all have arrived. */
  const received = (count: number) =>
    new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${frames.length} of ${count} frames arrived`)), 5000);
      const check = () => {
        if (frames.length < count) return waiters.push(check);
        clearTimeout(timer);
        resolve();
      };
      check();
    });
  const flush = (channel: string) => flushChannel(stack.running, channel);
  const send = (frame: unknown) => socket.send(typeof frame === "string" ? frame : JSON.stringify(frame));

  it("is byte for byte the committed recording", async () => {
    const { running, publisher } = stack;
    socket = stack.track(new WebSocket(`${running.wsUrl}?client_id=recorded`), { client: true });
    socket.on("message", (data) => {
      const text = data.toString();
      if (frames.length === 0) epoch = JSON.parse(text).positions.trades.epoch;
      frames.push(mask(text));
      for (const wake of waiters.splice(0)) wake();
    });
    await received(1); // welcome

    publisher.publish("market.prices.AAPL", JSON.stringify(SEED_UPSTREAM.aaplTick));
    publisher.publish("market.prices.MSFT", JSON.stringify(SEED_UPSTREAM.msftTick));
    await waitForIngest(running, publisher, "price_updates", 2);
    flush("price_updates");
    await received(2);
    publisher.publish("strategy.signals.momentum", JSON.stringify(SEED_UPSTREAM.signal));
    await received(3);
    publisher.publish("execution.trades.acct-1", JSON.stringify(SEED_UPSTREAM.trade));
    await received(4);
    publisher.publish("portfolio.updates", JSON.stringify(SEED_UPSTREAM.portfolio));
    await waitForIngest(running, publisher, "portfolio", 1);
    flush("portfolio");
    await received(5);

    // Subscriptions: an ack each, then the snapshot of a conflated channel or the resume of a
    // lossless one.
    send({ type: "subscribe", channel: "price_updates", symbols: ["AAPL"], id: 1 });
    await received(7);
    // The trade went out on this connection already: recovered, nothing to replay, then replayed.
    send({ type: "subscribe", channel: "trades", since: { seq: 0, epoch }, id: "resume" });
    await received(9);
    send({ type: "subscribe", channel: "signals", since: { seq: 0, epoch: "another" }, id: "stale" });
    await received(10);
    send({ type: "subscribe", channel: "price_updates", symbols: ["MSFT"], interval_ms: 1000, id: 2 });
    await received(12);
    send({ type: "unsubscribe", channel: "signals", id: 3 });
    send({ type: "ping", id: 4 });
    await received(14);

    // Bad frames: one error frame each, and the connection stays open.
    send("{not json");
    send({ type: "launch" });
    send({ type: "subscribe", channel: "trades", interval_ms: 1000 });
    send({ type: "subscribe", channel: "nope" });
    send({ type: "ping" });
    await received(19);

    const recording = `${frames.join("\n")}\n`;
    if (process.env.RECORD === "1") writeFileSync(RECORDING, recording);
    expect(recording).toBe(readFileSync(RECORDING, "utf8"));
  });
});
