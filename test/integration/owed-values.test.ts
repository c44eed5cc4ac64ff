/**
 * Owed values: a price frame skipped for a client that reads too slowly is not forgotten. The next
 * flush the client can take carries the latest value of every key it was owed, including symbols
 * that never ticked again, so nothing stays stale on that client without a word.
 *
 * On loopback the kernel absorbs several MB per socket before the gateway sees a backlog, so the
 * test fills the lagging client's queue with signals until the gateway reports it, in bounded
 * batches, with a reading client as the witness that each batch was processed.
 */
import type { Socket } from "node:net";
import { describe, expect, it } from "vitest";
import type { ClientSession } from "../../src/core/client-session.js";
import { fillBacklog } from "../helpers/backlog.js";
import { flushChannel, waitForIngest } from "../helpers/gateway.js";
import type { Frame } from "../helpers/test-client.js";
import { withGateway } from "../helpers/with-gateway.js";

const DROP_BYTES = 64 * 1024;
const SYMBOLS = Array.from({ length: 20 }, (_, i) => `S${i}`);

describe("owed values on a conflated channel", () => {
  const stack = withGateway({
    env: {
      WEBSOCKET_AUTO_SUBSCRIBE: "false",
      WEBSOCKET_PRICE_UPDATE_INTERVAL: "3600",
      WEBSOCKET_CONFLATED_DROP_BYTES: String(DROP_BYTES),
      WEBSOCKET_MAX_BUFFERED_BYTES: String(64 * 1024 * 1024),
    },
  });

  it("a client that lagged gets the latest value of every symbol it watches, including those that never ticked again", async () => {
    const { running, publisher } = stack;
    const witness = await stack.connect({ query: { client_id: "witness" }, record: false });
    const lagging = await stack.connect({ query: { client_id: "lagging" }, record: false });
    for (const client of [witness, lagging]) {
      await client.request({ type: "subscribe", channel: "price_updates", symbols: SYMBOLS });
      await client.request({ type: "subscribe", channel: "signals" });
    }
    const session = running.gateway.endpoint.clients.get("lagging") as ClientSession;
    const raw = (lagging.socket as unknown as { _socket: Socket })._socket;
    raw.pause();

    // Fill the lagging client's queue past WEBSOCKET_CONFLATED_DROP_BYTES with lossless signals.
    const signals = await fillBacklog(session, witness, publisher, DROP_BYTES);
    expect(session.socket.bufferedAmount).toBeGreaterThan(DROP_BYTES);

    // Two flushes while it lags: every symbol ticks once, then only S0 ticks again.
    const tick = (symbol: string, price: number) =>
      publisher.publish(`market.prices.${symbol}`, JSON.stringify({ symbol, price }));
    for (const [position, symbol] of SYMBOLS.entries()) tick(symbol, 100 + position);
    await waitForIngest(running, publisher, "price_updates", SYMBOLS.length);
    flushChannel(running, "price_updates");
    tick("S0", 99);
    await waitForIngest(running, publisher, "price_updates", SYMBOLS.length + 1);
    flushChannel(running, "price_updates");
    const metrics = await (await fetch(`${running.httpUrl}/metrics`)).text();
    expect(metrics).toContain("gateway_frames_dropped_total 2");
    // The witness, reading all along, got both flushes as they were.
    const witnessPrices = witness.frames.filter((frame) => frame.type === "price_update");
    expect(witnessPrices.map((frame) => Object.keys(frame.symbols as object).length)).toEqual([
      SYMBOLS.length,
      1,
    ]);

    // It reads again and drains its backlog; then a flush with nothing new still pays the debt.
    raw.resume();
    await lagging.next("signal", (frame) => frame.price === signals, 20_000);
    for (let attempt = 0; session.socket.bufferedAmount > 0; attempt++) {
      expect(attempt, "the backlog did not drain").toBeLessThan(200);
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    flushChannel(running, "price_updates");
    const owed = await lagging.next("price_update");
    const expected = Object.fromEntries(
      SYMBOLS.map((symbol, position) => [symbol, { price: symbol === "S0" ? 99 : 100 + position }]),
    );
    expect((owed as Frame).symbols).toEqual(expected);
    expect(Object.keys(owed.symbols as object)).toEqual([...SYMBOLS].sort());
    // Paid once: the next flush with nothing new sends nothing to anybody.
    flushChannel(running, "price_updates");
    const after = await lagging.drainUntilPong();
    expect(after.filter((frame) => frame.type === "price_update")).toEqual([]);
  }, 90_000);
});
