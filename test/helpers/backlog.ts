/**
 * Give a client that stopped reading a backlog on the gateway: on loopback the kernel absorbs
 * several MB per socket before the gateway's own queue grows, so signals are published in
 * bounded batches until the gateway reports more than `bytes` queued for that client. A reading
 * client (the witness, subscribed to signals) seeing each batch's last signal proves the gateway
 * processed the batch. Returns how many signals were published (their prices are 1..n).
 */
import type { NatsConnection } from "@nats-io/transport-node";
import type { ClientSession } from "../../src/core/client-session.js";
import type { TestClient } from "./test-client.js";

const BATCH = 500;
const MAX_BATCHES = 400;

export async function fillBacklog(
  session: ClientSession,
  witness: TestClient,
  publisher: NatsConnection,
  bytes: number,
): Promise<number> {
  let signals = 0;
  for (let batch = 0; batch < MAX_BATCHES && session.socket.bufferedAmount <= bytes; batch++) {
    for (let i = 0; i < BATCH; i++) {
      signals++;
      publisher.publish(
        "strategy.signals.fill",
        JSON.stringify({ signal_type: "BUY", symbol: "FILL", price: signals, quantity: 1, confidence: 0.5 }),
      );
    }
    await witness.next("signal", (frame) => frame.price === signals, 10_000);
  }
  return signals;
}

/** One signal of a load: LOAD priced `price`, a counter, so that order and completeness can be checked. */
export function publishLoadSignal(publisher: NatsConnection, price: number): void {
  publisher.publish(
    "strategy.signals.load",
    JSON.stringify({ signal_type: "BUY", symbol: "LOAD", price, quantity: 1, confidence: 0.5 }),
  );
}
