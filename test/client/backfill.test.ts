/**
 * The SDK's `backfill` option, against the real gateway and a real nats-server: a client that
 * opens with no position in a lossless channel gets that channel's latest frames (at most the
 * number asked for, oldest first), a `recovered` event, then live frames, each once.
 */
import { describe, expect, it } from "vitest";
import type { TradeExecutedFrame } from "../../src/client/node.js";
import { MANUAL_FLUSH, withGateway } from "../helpers/with-gateway.js";
import type { ClientRecorder } from "./helpers/recorder.js";
import { recordedClient } from "./helpers/sdk.js";

const stack = withGateway({ gateway: false, env: { ...MANUAL_FLUSH, NATS_JETSTREAM: "off" } });

function publishTrade(quantity: number, on = stack): void {
  on.publisher.publish(
    "execution.trades.AAPL",
    JSON.stringify({ symbol: "AAPL", side: "BUY", quantity, price: 100 }),
  );
}

const quantities = (events: ClientRecorder) =>
  events.all("trade_executed").map((frame: TradeExecutedFrame) => frame.quantity);

/** Publish trades 1..count and wait until the gateway has dispatched the last one. */
async function tradesBefore(count: number): Promise<string> {
  const running = await stack.startGateway();
  const witness = await stack.connect({ url: running.wsUrl, record: false });
  for (let quantity = 1; quantity <= count; quantity++) publishTrade(quantity);
  await witness.next("trade_executed", (frame) => frame.quantity === count);
  return running.wsUrl;
}

describe("backfill", () => {
  it("replays the latest frames of a channel on the first connection, then goes on live", async () => {
    const url = await tradesBefore(8);
    // signals holds nothing yet: nothing to replay there, and nothing is asked for.
    const { sdk, events } = recordedClient(stack, { url, backfill: { trades: 5, signals: 3 } });
    sdk.connect();
    expect(await events.next("recovered")).toEqual({ channel: "trades", count: 5 });
    expect(quantities(events)).toEqual([4, 5, 6, 7, 8]);
    publishTrade(9);
    await events.next("trade_executed", (frame) => frame.quantity === 9);
    expect(quantities(events)).toEqual([4, 5, 6, 7, 8, 9]);
    expect(events.all("recovered")).toEqual([{ channel: "trades", count: 5 }]);
    expect(events.all("gap")).toEqual([]);
  });

  it("replays what there is when the channel holds fewer frames than asked for", async () => {
    const url = await tradesBefore(3);
    const { sdk, events } = recordedClient(stack, { url, backfill: { trades: 20 } });
    sdk.connect();
    expect(await events.next("recovered")).toEqual({ channel: "trades", count: 3 });
    expect(quantities(events)).toEqual([1, 2, 3]);
  });

  it("resumes from the positions the application passes instead, when it has one for the channel", async () => {
    const url = await tradesBefore(6);
    const first = recordedClient(stack, { url });
    first.sdk.connect();
    await first.events.next("open");
    const head = first.sdk.positions.trades;
    if (head === undefined) throw new Error("the welcome reported no head for trades");
    const { sdk, events } = recordedClient(stack, {
      url,
      backfill: { trades: 5 },
      positions: { trades: { seq: head.seq - 2, epoch: head.epoch } },
    });
    sdk.connect();
    expect(await events.next("recovered")).toEqual({ channel: "trades", count: 2 });
    expect(quantities(events)).toEqual([5, 6]);
  });
});

describe("backfill from JetStream (positions are the stream's sequence)", () => {
  const jetstream = withGateway({ env: MANUAL_FLUSH, jetstream: true });

  it("replays the latest frames of the stream", async () => {
    const witness = await jetstream.connect();
    for (let quantity = 1; quantity <= 8; quantity++) publishTrade(quantity, jetstream);
    await witness.next("trade_executed", (frame) => frame.quantity === 8);
    const { sdk, events } = recordedClient(jetstream, {
      url: jetstream.running.wsUrl,
      backfill: { trades: 5 },
    });
    sdk.connect();
    expect(await events.next("recovered")).toEqual({ channel: "trades", count: 5 });
    expect(quantities(events)).toEqual([4, 5, 6, 7, 8]);
  });
});
