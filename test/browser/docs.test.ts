/**
 * The docs pages render in a real browser: Swagger UI at /docs shows the REST routes, and the
 * AsyncAPI page at /docs/asyncapi shows the channels and messages, with no page errors and no
 * request leaving the gateway (no CDN). On the AsyncAPI page no Markdown shows as source (no
 * backtick, no placeholder eaten as an HTML tag), no server badge repeats its protocol, and its
 * links to the error codes and the REST document are served by the gateway itself.
 */
import { mkdirSync, readFileSync } from "node:fs";
import path from "node:path";
import type { Page } from "playwright-core";
import { beforeAll, describe, expect, it } from "vitest";
import { withChromium } from "../helpers/browser.js";
import { withGateway } from "../helpers/with-gateway.js";

const ROOT = path.resolve(import.meta.dirname, "../..");
const ARTIFACTS = path.join(ROOT, "test-results/screenshots");

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

  it("shows Markdown as formatted text: no backticks, subject placeholders kept, code as code", async () => {
    const { page } = await open(`${stack.running.httpUrl}/docs/asyncapi/`);
    await page.locator("h1", { hasText: "Trading stream gateway" }).waitFor({ state: "attached" });
    const text = (await page.locator("body").textContent()) ?? "";
    expect(text).not.toContain("`");
    // A placeholder such as <venue or account> is kept, not dropped as an unknown HTML tag.
    expect(text).toContain("execution.trades.<venue or account>");
    expect(await page.locator("code", { hasText: /^execution\.trades\.>$/ }).count()).toBeGreaterThan(0);
  }, 60_000);

  it("labels each server with its protocol and a name that is not the protocol again", async () => {
    const { page } = await open(`${stack.running.httpUrl}/docs/asyncapi/`);
    const servers = page.locator("li[id^='server-']");
    await servers.first().waitFor({ state: "attached" });
    const badges: string[][] = [];
    for (const server of await servers.all())
      badges.push((await server.locator("strong").allTextContents()).map((badge) => badge.trim()));
    expect(badges).toEqual([
      ["ws", "gateway"],
      ["nats", "upstream"],
    ]);
  }, 60_000);

  it("links the error codes and the REST document to pages the gateway serves (200)", async () => {
    const { running } = stack;
    const { page } = await open(`${running.httpUrl}/docs/asyncapi/`);
    await page.locator("h1", { hasText: "Trading stream gateway" }).waitFor({ state: "attached" });
    // As the browser resolves them: relative to the page the gateway served.
    const links = await page.locator("#introduction a").all();
    const hrefs = await Promise.all(
      links.map(async (link) => new URL((await link.getAttribute("href")) ?? "", page.url()).href),
    );
    expect(hrefs).toEqual(
      expect.arrayContaining([
        `${running.httpUrl}/docs/errors.md`,
        `${running.httpUrl}/openapi.json`,
        `${running.httpUrl}/docs/`,
      ]),
    );
    for (const href of hrefs.filter((href) => href.startsWith(running.httpUrl))) {
      const response = await page.request.get(href);
      expect(response.status(), href).toBe(200);
    }
    const errorsPage = await page.request.get(`${running.httpUrl}/docs/errors.md`);
    expect(errorsPage.headers()["content-type"]).toBe("text/markdown; charset=utf-8");
    expect(await errorsPage.text()).toBe(readFileSync(path.join(ROOT, "docs/errors.md"), "utf8"));
    // Only the pages of docs/ itself are served that way: no other file, no sub-folder.
    for (const other of ["/docs/nowhere.md", "/docs/benchmarks%2fbooks.md"])
      expect((await page.request.get(`${running.httpUrl}${other}`)).status(), other).toBe(404);
  }, 60_000);
});

describe("the AsyncAPI page with a plugin dropped in after `npm run docs`", () => {
  const stack = withGateway({ publisher: false, pluginsDir: path.join(ROOT, "test/fixtures/plugins-news") });
  const chromium = withChromium();

  it("appends the plugin's messages, their code spans as code, not backticks", async () => {
    const page = await chromium.browser.newPage();
    const errors: string[] = [];
    page.on("pageerror", (error) => errors.push(error.message));
    await page.goto(`${stack.running.httpUrl}/docs/asyncapi/`, { waitUntil: "load", timeout: 45_000 });
    const live = page.locator("#live-messages");
    await live.waitFor({ state: "attached" });
    expect((await live.textContent()) ?? "").toContain("nats_news");
    // The descriptions (the payload schemas below them are JSON, shown as is).
    const descriptions = await live.locator("p").allTextContents();
    expect(descriptions.join("\n")).toContain("Published by upstream services on news.>");
    expect(descriptions.join("\n")).not.toContain("`");
    expect(await live.locator("code", { hasText: /^news\.>$/ }).count()).toBe(1);
    expect(errors).toEqual([]);
  }, 60_000);
});
