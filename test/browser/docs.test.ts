/**
 * The docs pages render in a real browser: Swagger UI at /docs shows the REST routes, and the
 * AsyncAPI page at /docs/asyncapi shows the channels and messages, with no page errors and no
 * request leaving the gateway (no CDN).
 */
import { mkdirSync } from "node:fs";
import path from "node:path";
import type { Page } from "playwright-core";
import { beforeAll, describe, expect, it } from "vitest";
import { withChromium } from "../helpers/browser.js";
import { withGateway } from "../helpers/with-gateway.js";

const ARTIFACTS = path.resolve(import.meta.dirname, "../../test-results/screenshots");

describe("docs pages in Chromium", () => {
  const stack = withGateway({ publisher: false });
  const chromium = withChromium();

  beforeAll(() => {
    mkdirSync(ARTIFACTS, { recursive: true });
  });

  /** Open a page, recording page errors and any request to another origin. */
  async function open(url: string): Promise<{ page: Page; errors: string[]; foreign: string[] }> {
    const { running } = stack;
    const page = await chromium.browser.newPage();
    const errors: string[] = [];
    const foreign: string[] = [];
    page.on("pageerror", (error) => errors.push(error.message));
    page.on("console", (message) => {
      if (message.type() === "error") errors.push(message.text());
    });
    page.on("request", (request) => {
      const target = request.url();
      if (!target.startsWith(running.httpUrl) && !target.startsWith("data:")) foreign.push(target);
    });
    await page.goto(url, { waitUntil: "load", timeout: 45_000 });
    return { page, errors, foreign };
  }

  it("renders the REST API in Swagger UI at /docs", async () => {
    const { page, errors, foreign } = await open(`${stack.running.httpUrl}/docs`);
    await page.getByText("/websocket/status").first().waitFor();
    const text = (await page.locator("body").textContent()) ?? "";
    for (const route of ["/websocket/status", "/healthz", "/readyz", "/metrics"])
      expect(text).toContain(route);
    expect(text).toContain("Trading stream gateway REST API");
    await page.screenshot({ path: path.join(ARTIFACTS, "docs-swagger.png"), fullPage: true });
    expect(errors).toEqual([]);
    expect(foreign).toEqual([]);
  }, 60_000);

  it("renders the AsyncAPI document at /docs/asyncapi with every channel and message", async () => {
    const { running } = stack;
    const { page, errors, foreign } = await open(`${running.httpUrl}/docs/asyncapi`);
    expect(page.url()).toBe(`${running.httpUrl}/docs/asyncapi/`);
    await page.locator("h1", { hasText: "Trading stream gateway" }).waitFor({ state: "attached" });
    // textContent: the page is large, and innerText would lay it all out.
    const text = (await page.locator("body").textContent()) ?? "";
    for (const channel of [
      "/ws",
      "market.prices.>",
      "strategy.signals.>",
      "execution.trades.>",
      "portfolio.updates",
    ]) {
      expect(text, channel).toContain(channel);
    }
    for (const message of [
      "price_update",
      "signal",
      "trade_executed",
      "portfolio_update",
      "welcome",
      "subscribe",
      "pong",
      "error",
    ]) {
      expect(text, message).toContain(message);
    }
    await page.screenshot({ path: path.join(ARTIFACTS, "docs-asyncapi.png") });
    expect(errors).toEqual([]);
    expect(foreign).toEqual([]);
  }, 60_000);
});
