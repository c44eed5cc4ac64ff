/**
 * With WEBSOCKET_AUTH=jwt, a client sees trades and portfolios of its own accounts only: across
 * 1,000 mixed upstream messages (trades and portfolios of two accounts and of none, prices and
 * signals between them) published to a real nats-server, account A's client never receives one
 * frame of account B's, and the reverse, while both still get every price and signal.
 */
import { describe, expect, it } from "vitest";
import { flushChannel, waitForIngest } from "../helpers/gateway.js";
import type { Frame, TestClient } from "../helpers/test-client.js";
import { signToken, TEST_SECRET } from "../helpers/tokens.js";
import { withGateway } from "../helpers/with-gateway.js";

const TOTAL = 1000;
const ACCOUNTS = ["acct-A", "acct-B", undefined] as const;
type Account = (typeof ACCOUNTS)[number];

const stack = withGateway({
  env: {
    WEBSOCKET_AUTH: "jwt",
    WEBSOCKET_JWT_SECRET: TEST_SECRET,
    // The test flushes portfolio itself, so that every update is accounted for.
    WEBSOCKET_PORTFOLIO_UPDATE_INTERVAL: "3600",
  },
});

/** A deterministic pseudo-random sequence, so that a failure can be replayed. */
function sequence(seed: number): () => number {
  let state = seed;
  return () => {
    state = (state * 1103515245 + 12345) % 2 ** 31;
    return state / 2 ** 31;
  };
}

async function connectAs(sub: string, accounts?: string[]): Promise<TestClient> {
  return stack.connect({ query: { token: await signToken({ sub, accounts }) } });
}

describe("per-account authorization", () => {
  it("across 1,000 mixed messages, A never sees B's trades or portfolio, and B never A's", async () => {
    const { running, publisher } = stack;
    const clientA = await connectAs("client-a", ["acct-A"]);
    const clientB = await connectAs("client-b", ["acct-B"]);
    const everyone = await connectAs("back-office", ["*"]);
    const nobody = await connectAs("market-only");

    const random = sequence(42);
    const published = { trades: new Map<Account, number[]>(), portfolio: 0, prices: 0, signals: 0 };
    for (const account of ACCOUNTS) published.trades.set(account, []);
    const latestPortfolio = new Map<Account, number>();
    for (let n = 0; n < TOTAL; n++) {
      const account = ACCOUNTS[Math.floor(random() * ACCOUNTS.length)];
      const kind = random();
      if (kind < 0.4) {
        // The quantity numbers the trade, so that order and completeness can be checked.
        published.trades.get(account)?.push(n + 1);
        publisher.publish(
          "execution.trades.AAPL",
          JSON.stringify({ symbol: "AAPL", side: "BUY", quantity: n + 1, price: 100, account }),
        );
      } else if (kind < 0.7) {
        published.portfolio++;
        latestPortfolio.set(account, n);
        publisher.publish("portfolio.updates", JSON.stringify({ account, positions: {}, total_pnl: n }));
      } else if (kind < 0.85) {
        published.prices++;
        publisher.publish("market.prices.MSFT", JSON.stringify({ symbol: "MSFT", price: 100 + n }));
      } else {
        published.signals++;
        publisher.publish(
          "strategy.signals.MSFT",
          JSON.stringify({ symbol: "MSFT", signal_type: "HOLD", price: 100, quantity: 1, confidence: 0.5 }),
        );
      }
    }
    const tradesPublished = [...published.trades.values()].reduce((sum, list) => sum + list.length, 0);
    await waitForIngest(running, publisher, "trades", tradesPublished);
    await waitForIngest(running, publisher, "portfolio", published.portfolio);
    await waitForIngest(running, publisher, "signals", published.signals);
    flushChannel(running, "portfolio");

    const received = async (connection: TestClient) => {
      const frames = await connection.drainUntilPong();
      const of = (type: string) => frames.filter((frame) => frame.type === type);
      return {
        tradeQuantities: of("trade_executed").map((frame) => frame.quantity),
        tradeAccounts: new Set(of("trade_executed").map((frame) => frame.account)),
        portfolios: of("portfolio_update").map((frame: Frame) => [
          frame.account,
          (frame.data as { total_pnl: number }).total_pnl,
        ]),
        signals: of("signal").length,
      };
    };
    const [a, b, all, none] = await Promise.all([clientA, clientB, everyone, nobody].map(received));

    expect(a?.tradeQuantities).toEqual(published.trades.get("acct-A"));
    expect(a?.tradeAccounts).toEqual(new Set(["acct-A"]));
    expect(a?.portfolios).toEqual([["acct-A", latestPortfolio.get("acct-A")]]);

    expect(b?.tradeQuantities).toEqual(published.trades.get("acct-B"));
    expect(b?.tradeAccounts).toEqual(new Set(["acct-B"]));
    expect(b?.portfolios).toEqual([["acct-B", latestPortfolio.get("acct-B")]]);

    // A token for every account sees all trades in publishing order, and all three portfolios
    // (the one naming no account belongs to "default" and carries no account field).
    expect(all?.tradeQuantities).toEqual([...published.trades.values()].flat().sort((x, y) => x - y));
    expect(all?.portfolios).toEqual(
      expect.arrayContaining([
        ["acct-A", latestPortfolio.get("acct-A")],
        ["acct-B", latestPortfolio.get("acct-B")],
        [undefined, latestPortfolio.get(undefined)],
      ]),
    );
    // No accounts claim: no account-scoped data at all, but every signal like everybody else.
    expect(none?.tradeQuantities).toEqual([]);
    expect(none?.portfolios).toEqual([]);
    for (const each of [a, b, all, none]) expect(each?.signals).toBe(published.signals);

    // Subscribing to B's portfolio by name does not get A's client round the filter either.
    expect(
      await clientA.request({ type: "subscribe", channel: "portfolio", symbols: ["acct-B"] }, "x"),
    ).toMatchObject({
      type: "subscribed",
    });
    publisher.publish(
      "portfolio.updates",
      JSON.stringify({ account: "acct-B", positions: {}, total_pnl: -1 }),
    );
    await waitForIngest(running, publisher, "portfolio", published.portfolio + 1);
    flushChannel(running, "portfolio");
    expect((await clientA.drainUntilPong()).filter((frame) => frame.type === "portfolio_update")).toEqual([]);

    // A refreshed token that no longer lists acct-A stops A's trades at once.
    const withoutAccounts = await signToken({ sub: "client-a", accounts: [] });
    expect(await clientA.request({ type: "auth", token: withoutAccounts }, "refresh")).toMatchObject({
      type: "authenticated",
    });
    publisher.publish(
      "execution.trades.AAPL",
      JSON.stringify({ symbol: "AAPL", side: "SELL", quantity: 1, price: 100, account: "acct-A" }),
    );
    await waitForIngest(running, publisher, "trades", tradesPublished + 1);
    expect(await everyone.next("trade_executed", (frame) => frame.side === "SELL")).toMatchObject({
      account: "acct-A",
    });
    expect((await clientA.drainUntilPong()).filter((frame) => frame.type === "trade_executed")).toEqual([]);

    await Promise.all([clientA, clientB, everyone, nobody].map((connection) => connection.close()));
  });
});
