/**
 * Property: whatever the interleaving of publishes, disconnects and reconnects, a client that
 * resumes with the last (seq, epoch) it received ends up with exactly the trades published for its
 * subscription, in order, each once (all its connections concatenated).
 *
 * One nats-server with JetStream and one in-process gateway (WEBSOCKET_AUTO_SUBSCRIBE=false, so a
 * subscription is exactly what the run chose) are shared by every run. Positions are global: a run
 * starts from the head the welcome frame announces, after the gateway has taken in everything
 * earlier runs published, so nothing from before the run leaks in.
 */
import { type JetStreamClient, jetstream } from "@nats-io/jetstream";
import fc from "fast-check";
import { beforeAll, describe, expect, it } from "vitest";
import { exactnessProblems, TradeReader, tradePayload } from "../helpers/gateway-process.js";
import { withGateway } from "../helpers/with-gateway.js";

const SYMBOLS = ["AAPL", "MSFT", "TSLA"] as const;

type Action = { type: "publish"; symbols: string[] } | { type: "disconnect" } | { type: "reconnect" };

const action: fc.Arbitrary<Action> = fc.oneof(
  {
    arbitrary: fc.record({
      type: fc.constant("publish" as const),
      symbols: fc.array(fc.constantFrom(...SYMBOLS), { minLength: 1, maxLength: 12 }),
    }),
    weight: 3,
  },
  { arbitrary: fc.constant({ type: "disconnect" as const }), weight: 1 },
  { arbitrary: fc.constant({ type: "reconnect" as const }), weight: 1 },
);

const filter: fc.Arbitrary<"*" | string[]> = fc.oneof(
  fc.constant("*" as const),
  fc.subarray([...SYMBOLS], { minLength: 1 }),
);

describe("resume property (JetStream, in-process gateway)", () => {
  const stack = withGateway({ jetstream: true, env: { WEBSOCKET_AUTO_SUBSCRIBE: "false" } });
  let js: JetStreamClient;
  /** The stream position of the last trade published by any run. */
  let lastPublished = 0;
  let runs = 0;

  beforeAll(() => {
    js = jetstream(stack.publisher);
  });

  /** Bounded poll: the gateway has taken in every trade published so far (no client event says so). */
  async function gatewayCaughtUp(): Promise<void> {
    const pipeline = stack.running.gateway.pipelines.get("trades");
    if (pipeline?.kind !== "lossless") throw new Error("trades is not a lossless channel");
    const { history } = pipeline;
    const deadline = Date.now() + 5000;
    while (history.head < lastPublished) {
      if (Date.now() > deadline)
        throw new Error(`gateway head ${history.head} short of the last published ${lastPublished}`);
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
  }

  it("a resuming client gets exactly the published trades of its subscription, in order, once", async () => {
    const started = Date.now();
    await fc.assert(
      fc.asyncProperty(
        filter,
        fc.array(action, { minLength: 1, maxLength: 16 }),
        async (symbols, actions) => {
          const run = runs++;
          await gatewayCaughtUp();
          const reader = new TradeReader(symbols);
          const published: { tradeId: string; symbol: string }[] = [];
          try {
            expect(await reader.connect(stack.running.wsUrl)).toMatchObject({ recovered: true });
            let connected = true;
            for (const step of actions) {
              if (step.type === "publish") {
                for (const symbol of step.symbols) {
                  const tradeId = `r${run}-${published.length}`;
                  const ack = await js.publish("execution.trades.property", tradePayload(tradeId, symbol));
                  lastPublished = ack.seq;
                  published.push({ tradeId, symbol });
                }
              } else if (step.type === "disconnect" && connected) {
                await reader.close();
                connected = false;
              } else if (step.type === "reconnect" && !connected) {
                expect(await reader.connect(stack.running.wsUrl)).toMatchObject({ recovered: true });
                connected = true;
              }
            }
            if (!connected)
              expect(await reader.connect(stack.running.wsUrl)).toMatchObject({ recovered: true });

            const expected = published
              .filter(({ symbol }) => symbols === "*" || symbols.includes(symbol))
              .map(({ tradeId }) => tradeId);
            await reader.until(
              () => reader.trades.length >= expected.length,
              `${expected.length} trades`,
              10_000,
            );
            // Anything still owed (a duplicate, a trade of another symbol) arrives before the pong.
            await reader.client?.drainUntilPong();
            expect(exactnessProblems(reader.trades, expected)).toEqual([]);
            expect(reader.trades.map((trade) => trade.trade_id)).toEqual(expected);
            expect(reader.unexpected).toEqual([]);
            for (const replay of reader.replays) expect(replay.frame.count).toBe(replay.tradesBefore);
          } finally {
            await reader.close();
          }
        },
      ),
      { numRuns: 25, interruptAfterTimeLimit: 50_000 },
    );
    expect(Date.now() - started).toBeLessThan(60_000);
  }, 70_000);
});
