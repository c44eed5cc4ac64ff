/**
 * The seed's JavaScript client example, unchanged (test/fixtures/seed-client.js, checked byte for
 * byte against the seed by test/integration/seed-client.test.ts), runs in Chromium with the
 * browser's own WebSocket and logs a line for each of the four data frame types. As in the Node
 * test, the only substitution is the URL in the usage line: tests never listen on port 8000.
 */
import { readFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { withChromium } from "../helpers/browser.js";
import { SEED_UPSTREAM } from "../helpers/seed-payloads.js";
import { withGateway } from "../helpers/with-gateway.js";

const FIXTURE = path.resolve(import.meta.dirname, "../fixtures/seed-client.js");

const stack = withGateway();
const chromium = withChromium();

describe("the seed's JavaScript client example in Chromium", () => {
  it("logs price updates, signals, trades and portfolio updates", async () => {
    const { running, publisher } = stack;
    const page = await chromium.browser.newPage();
    const lines: string[] = [];
    const errors: string[] = [];
    page.on("console", (message) => (message.type() === "error" ? errors : lines).push(message.text()));
    page.on("pageerror", (error) => errors.push(error.message));
    // Any page of the gateway's origin will do; the example needs no HTML.
    await page.goto(`${running.httpUrl}/healthz`);
    const script = readFileSync(FIXTURE, "utf8").replace(
      "'ws://localhost:8000/ws'",
      JSON.stringify(running.wsUrl),
    );
    expect(script).toContain(running.wsUrl);
    await page.addScriptTag({ content: script });

    await expect.poll(() => lines).toContain("WebSocket connected");
    publisher.publish("market.prices.AAPL", JSON.stringify(SEED_UPSTREAM.aaplTick));
    publisher.publish("strategy.signals.s", JSON.stringify(SEED_UPSTREAM.signal));
    publisher.publish("execution.trades.t", JSON.stringify(SEED_UPSTREAM.trade));
    publisher.publish("portfolio.updates", JSON.stringify(SEED_UPSTREAM.portfolio));
    for (const line of [
      "AAPL: $150.25 (+0.33%)",
      "Signal: BUY AAPL @ $150.25 (confidence: 0.85)",
      "Trade: BUY 10 AAPL @ $150.25",
      "Portfolio: 1 positions, P&L: $12.5",
    ]) {
      await expect.poll(() => lines, { timeout: 5000 }).toContain(line);
    }
    // Its ping gets the seed's pong.
    await page.evaluate("client.ping()");
    await expect.poll(() => lines).toContain("Pong received");
    expect(errors, JSON.stringify(errors)).toEqual([]);
    await page.evaluate("client.disconnect()");
    await page.close();
  });
});
