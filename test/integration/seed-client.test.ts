/**
 * The seed's JavaScript client example, unchanged (test/fixtures/seed-client.js is the seed's
 * code block byte for byte), runs against the gateway and logs all four kinds of frames.
 *
 * Node 20 has no global WebSocket, so the script runs in a vm context whose `WebSocket` is the
 * `ws` class. The only substitution is the URL in the usage line: the example hard-codes port
 * 8000 and tests never listen on fixed ports.
 */
import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import vm from "node:vm";
import { afterAll, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { SEED_UPSTREAM } from "../helpers/seed-payloads.js";
import { withGateway } from "../helpers/with-gateway.js";

const ROOT = path.resolve(import.meta.dirname, "../..");
const FIXTURE = path.join(ROOT, "test/fixtures/seed-client.js");
/** The user's own description of the protocol, kept verbatim in the repository. */
const SEED = path.join(ROOT, "docs/seed-protocol.md");

describe("the seed's JavaScript client example", () => {
  const stack = withGateway();
  const timers = new Set<NodeJS.Timeout>();

  afterAll(() => {
    for (const timer of timers) clearTimeout(timer);
  });

  it("is the seed's code block, unchanged", () => {
    expect(existsSync(SEED), `seed file expected at ${SEED}`).toBe(true);
    const block = /## JavaScript Example\n\n```javascript\n([\s\S]*?)```/.exec(
      readFileSync(SEED, "utf8"),
    )?.[1];
    expect(readFileSync(FIXTURE, "utf8")).toBe(block);
  });

  it("receives and logs price updates, signals, trades and portfolio updates", async () => {
    const { running, publisher } = stack;
    const lines: string[] = [];
    const errors: unknown[] = [];
    let notify = () => {};
    const logged = (line: string) =>
      new Promise<void>((resolve, reject) => {
        const deadline = setTimeout(
          () => reject(new Error(`never logged "${line}"; logged: ${JSON.stringify(lines)}`)),
          5000,
        );
        const check = () => {
          if (lines.includes(line)) {
            clearTimeout(deadline);
            resolve();
          } else {
            notify = check;
          }
        };
        check();
      });
    const track = (timer: NodeJS.Timeout) => {
      timers.add(timer);
      return timer;
    };
    const context = vm.createContext({
      WebSocket,
      JSON,
      Object,
      console: {
        log: (...args: unknown[]) => {
          lines.push(args.join(" "));
          notify();
        },
        error: (...args: unknown[]) => errors.push(args),
      },
      setTimeout: (fn: () => void, ms: number) => track(setTimeout(fn, ms)),
      setInterval: (fn: () => void, ms: number) => track(setInterval(fn, ms)),
    });
    const script = readFileSync(FIXTURE, "utf8").replace(
      "'ws://localhost:8000/ws'",
      JSON.stringify(running.wsUrl),
    );
    vm.runInContext(`${script}\nglobalThis.__client = client;`, context);

    await logged("WebSocket connected");
    publisher.publish("market.prices.AAPL", JSON.stringify(SEED_UPSTREAM.aaplTick));
    publisher.publish("strategy.signals.s", JSON.stringify(SEED_UPSTREAM.signal));
    publisher.publish("execution.trades.t", JSON.stringify(SEED_UPSTREAM.trade));
    publisher.publish("portfolio.updates", JSON.stringify(SEED_UPSTREAM.portfolio));
    await logged("AAPL: $150.25 (+0.33%)");
    await logged("Signal: BUY AAPL @ $150.25 (confidence: 0.85)");
    await logged("Trade: BUY 10 AAPL @ $150.25");
    await logged("Portfolio: 1 positions, P&L: $12.5");
    expect(errors).toEqual([]);

    // Its ping gets the seed's pong.
    (context.__client as { ping(): void }).ping();
    await logged("Pong received");
    (context.__client as { disconnect(): void }).disconnect();
    await logged("WebSocket disconnected");
  });
});
