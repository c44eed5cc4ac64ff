/**
 * The dashboard at `/`, in Chromium: live prices from the embedded demo feed and from real NATS
 * publishes, signals, trades and the portfolio, a subscribe control that changes which symbols
 * arrive, the depth ladder of one symbol's order book, and the reconnect state when the gateway
 * goes away and comes back. Screenshots are
 * saved to test-results/screenshots/; no console error, no request leaves the gateway.
 */
import { mkdirSync } from "node:fs";
import type { IncomingMessage } from "node:http";
import path from "node:path";
import type { Browser, Page } from "playwright-core";
import { beforeAll, describe, expect, it } from "vitest";
import type { EmbeddedBroker } from "../../src/core/ingest/embedded-broker.js";
import { SimulatedMarket } from "../../src/demo/simulated-market.js";
import { startProxy } from "../client/helpers/sdk.js";
import { webSocketFrame } from "../client/helpers/tcp-proxy.js";
import { bookMessage, forgedUpdate, type Level, publishBook } from "../helpers/book-messages.js";
import { withChromium } from "../helpers/browser.js";
import { freePort } from "../helpers/free-port.js";
import { type RunningGateway, startGateway, waitUntilReady } from "../helpers/gateway.js";
import { pluginsWithNews } from "../helpers/plugins-dir.js";
import { SEED_UPSTREAM } from "../helpers/seed-payloads.js";
import { expiryOf, signToken, TEST_SECRET } from "../helpers/tokens.js";
import { withGateway } from "../helpers/with-gateway.js";

const ARTIFACTS = path.resolve(import.meta.dirname, "../../test-results/screenshots");
/**
 * What Chromium itself logs when a WebSocket connection attempt is refused (no page code
 * involved). The URL carries the SDK's client_id and nothing else (no token).
 */
const REFUSED_CONNECTION =
  /^WebSocket connection to 'ws:\/\/127\.0\.0\.1:\d+\/ws\?client_id=[0-9a-f-]{36}' failed/;

/** The channels of the gateway, each with its panel. */
const CHANNELS = ["price_updates", "portfolio", "signals", "trades"];

const stack = withGateway({ gateway: false });
const chromium = withChromium();

beforeAll(() => {
  mkdirSync(ARTIFACTS, { recursive: true });
});

/** A page of the test's own, closed when the test ends. */
async function newPage(options?: Parameters<Browser["newPage"]>[0]): Promise<Page> {
  return stack.track(await chromium.browser.newPage(options));
}

function natsGateway(): Promise<RunningGateway> {
  return stack.startGateway();
}

/** Open the dashboard, recording console errors, page errors and requests to other origins. */
async function openDashboard(running: RunningGateway) {
  const page = await newPage({ viewport: { width: 1400, height: 1000 } });
  const problems: string[] = [];
  const foreign: string[] = [];
  page.on("pageerror", (error) => problems.push(`pageerror: ${error.message}`));
  page.on("console", (message) => {
    if (message.type() === "error") problems.push(message.text());
  });
  page.on("request", (request) => {
    const target = request.url();
    if (!target.startsWith(running.httpUrl) && !target.startsWith("data:")) foreign.push(target);
  });
  await page.goto(`${running.httpUrl}/`);
  await expectState(page, "Live");
  return { page, problems, foreign };
}

/** The URL of every WebSocket upgrade request the gateway receives from now on. */
function recordUpgrades(running: RunningGateway): string[] {
  const urls: string[] = [];
  running.gateway.fastify.server.on("upgrade", (request: IncomingMessage) => urls.push(request.url ?? ""));
  return urls;
}

/** The dashboard of a gateway of its own, opened through a relay (which can inject frames), once live. */
async function openThroughRelay() {
  const running = await natsGateway();
  const proxy = await startProxy(stack, running.port);
  const page = await newPage({ viewport: { width: 1400, height: 1000 } });
  await page.goto(`http://127.0.0.1:${proxy.port}/`);
  await expectState(page, "Live");
  return { running, proxy, page };
}

async function expectState(page: Page, text: string | RegExp): Promise<void> {
  await expect
    .poll(() => page.getByTestId("connection-state").textContent(), { timeout: 10_000 })
    .toMatch(text);
}

const priceCell = (page: Page, symbol: string) =>
  page.locator(`[data-testid=prices] tr[data-symbol="${symbol}"] td.price`);

function tick(symbol: string, price: number, extra: Record<string, number> = {}): void {
  stack.publisher.publish(`market.prices.${symbol}`, JSON.stringify({ symbol, price, ...extra }));
}

async function shot(page: Page, name: string): Promise<void> {
  await page.screenshot({ path: path.join(ARTIFACTS, name), fullPage: true });
}

describe("dashboard", () => {
  it("shows prices that change over time from the embedded demo feed", async () => {
    // No NATS_URL: the embedded broker, fed by the simulated market exactly as `npm start` does.
    const demo = stack.track(await startGateway({}));
    const market = new SimulatedMarket(
      (subject, payload) => (demo.gateway.broker as EmbeddedBroker).publish(subject, payload),
      { tickMs: 20, signalEveryMs: 300, tradeEveryMs: 300, portfolioEveryMs: 300 },
    );
    market.start();
    try {
      const { page, problems, foreign } = await openDashboard(demo);
      const rows = page.locator("[data-testid=prices] tbody tr");
      await expect.poll(() => rows.count()).toBe(6);
      const first = await priceCell(page, "AAPL").textContent();
      // Prices move: AAPL's cell shows another value within a few flushes.
      await expect.poll(() => priceCell(page, "AAPL").textContent(), { timeout: 10_000 }).not.toBe(first);
      await expect.poll(() => page.locator("[data-testid=signals] li").count()).toBeGreaterThan(0);
      await expect.poll(() => page.locator("[data-testid=trades] li").count()).toBeGreaterThan(0);
      await expect.poll(() => page.getByTestId("total-pnl").textContent()).toMatch(/^[+−]?[\d,]+\.\d\d$/);
      // The depth ladder: the first symbol's simulated book, ten levels a side.
      await expect.poll(() => page.locator("[data-testid=book-asks] tr:visible").count()).toBe(10);
      expect(await page.locator("[data-testid=book-bids] tr:visible").count()).toBe(10);
      await shot(page, "dashboard-demo.png");
      expect(problems).toEqual([]);
      expect(foreign).toEqual([]);
    } finally {
      market.stop();
    }
  });

  it("opened on a demo that has been trading for a while, every panel is full on load: signals and trades replayed", async () => {
    const demo = stack.track(await startGateway({}));
    const market = new SimulatedMarket(
      (subject, payload) => (demo.gateway.broker as EmbeddedBroker).publish(subject, payload),
      { tickMs: 50, signalEveryMs: 60, tradeEveryMs: 60, portfolioEveryMs: 500 },
    );
    market.start();
    try {
      // More than a feed's backfill of each is in the channels' history before the page loads.
      const watcher = await stack.connect({ url: demo.wsUrl, record: false });
      for (const type of ["signal", "trade_executed"]) {
        let seen = 0;
        await watcher.next(type, () => ++seen === 25, 15_000);
      }
      const { page, problems, foreign } = await openDashboard(demo);
      for (const feed of ["signals", "trades"])
        await expect.poll(() => page.locator(`[data-testid=${feed}] li`).count()).toBeGreaterThanOrEqual(20);
      expect(await page.getByText("No trades yet").isVisible()).toBe(false);
      expect(await page.getByText("No signals yet").isVisible()).toBe(false);
      await expect.poll(() => page.locator("[data-testid=prices] tbody tr").count()).toBe(6);
      await expect.poll(() => page.getByTestId("total-pnl").textContent()).toMatch(/^[+−]?[\d,]+\.\d\d$/);
      await expect.poll(() => page.locator("[data-testid=book-asks] tr:visible").count()).toBe(10);
      // The latency panel: the hop of the trades written to this page and the watcher, in ms.
      await expect
        .poll(() => page.locator('[data-testid=latency] tr[data-channel="trades"] td.hop-p99').textContent())
        .toMatch(/^\d[\d,]*\.?\d*$/);
      // The README's picture of the dashboard (docs/images/dashboard.png) is this screenshot.
      await page.screenshot({
        path: path.join(ARTIFACTS, "dashboard-on-load.png"),
        fullPage: true,
        animations: "disabled",
      });
      expect(problems).toEqual([]);
      expect(foreign).toEqual([]);
    } finally {
      market.stop();
    }
  }, 40_000);

  it("shows prices, signals, trades and the portfolio published to real NATS", async () => {
    const running = await natsGateway();
    const { page, problems } = await openDashboard(running);
    tick("AAPL", 101, { change: 1, change_pct: 1, volume: 1200 });
    await expect.poll(() => priceCell(page, "AAPL").textContent()).toBe("101.00");
    // Count the flashes each element starts from here on (the flash itself lasts 0.9 s, which a
    // loaded machine can outlast before the check runs).
    await page.evaluate(() => {
      // Runs in the page; typed loosely because the tests compile without the DOM's types.
      type Animatable = { animate(...args: unknown[]): unknown };
      const page = globalThis as unknown as {
        Element: { prototype: Animatable };
        flashes: Map<unknown, number>;
      };
      const counts = new Map<unknown, number>();
      const original = page.Element.prototype.animate;
      page.Element.prototype.animate = function (this: Animatable, ...args: unknown[]) {
        counts.set(this, (counts.get(this) ?? 0) + 1);
        return original.apply(this, args);
      };
      page.flashes = counts;
    });
    tick("AAPL", 102.5, { change: 2.5, change_pct: 2.5, volume: 1300 });
    const row = page.locator('[data-testid=prices] tr[data-symbol="AAPL"]');
    await expect.poll(() => priceCell(page, "AAPL").textContent()).toBe("102.50");
    // A rise flashes green (one animation on the price cell), and the change columns are coloured by sign.
    expect(await priceCell(page, "AAPL").getAttribute("data-moved")).toBe("up");
    expect(
      await priceCell(page, "AAPL").evaluate(
        (cell: unknown) =>
          (globalThis as unknown as { flashes: Map<unknown, number> }).flashes.get(cell) ?? 0,
      ),
    ).toBe(1);
    expect(await row.locator("td[data-trend=up]").count()).toBe(2);
    expect(await row.locator("td").allTextContents()).toEqual([
      "AAPL",
      "102.50",
      "+2.50",
      "+2.50%",
      "1,300",
      "–",
      "–",
      expect.stringMatching(/^\d\d:\d\d:\d\d$/),
    ]);

    stack.publisher.publish("strategy.signals.AAPL", JSON.stringify(SEED_UPSTREAM.signal));
    stack.publisher.publish("execution.trades.AAPL", JSON.stringify(SEED_UPSTREAM.trade));
    stack.publisher.publish("portfolio.updates", JSON.stringify(SEED_UPSTREAM.portfolio));
    const signal = page.locator("[data-testid=signals] li").first();
    await expect.poll(() => signal.textContent()).toContain("BUY");
    expect(await signal.textContent()).toContain("AAPL");
    expect(await signal.textContent()).toContain("@ 150.25");
    await expect
      .poll(() => page.locator("[data-testid=trades] li").first().textContent())
      .toContain("10 @ 150.25");
    await expect.poll(() => page.getByTestId("total-pnl").textContent()).toBe("+12.50");
    await shot(page, "dashboard-nats.png");
    expect(problems).toEqual([]);
  });

  it("starts with the last 20 signals and trades the gateway holds, newest first, each signal's confidence as a number beside its bar", async () => {
    const running = await natsGateway();
    const watcher = await stack.connect({ url: running.wsUrl, record: false });
    // 30 of each before the page loads: quantity n, and signal n's confidence (50 + n)%.
    for (let n = 1; n <= 30; n++) {
      stack.publisher.publish(
        "execution.trades.AAPL",
        JSON.stringify({ symbol: "AAPL", side: n % 2 ? "BUY" : "SELL", quantity: n, price: 150.25 }),
      );
      stack.publisher.publish(
        "strategy.signals.MSFT",
        JSON.stringify({
          signal_type: "BUY",
          symbol: "MSFT",
          price: 380.5,
          quantity: n,
          confidence: (50 + n) / 100,
        }),
      );
    }
    await watcher.next("trade_executed", (frame) => frame.quantity === 30);
    await watcher.next("signal", (frame) => frame.quantity === 30);

    const { page, problems } = await openDashboard(running);
    const trades = page.locator("[data-testid=trades] li");
    const signals = page.locator("[data-testid=signals] li");
    await expect.poll(() => trades.count()).toBe(20);
    await expect.poll(() => signals.count()).toBe(20);
    const newestFirst = Array.from({ length: 20 }, (_, index) => 30 - index);
    expect(await trades.locator(".num").allTextContents()).toEqual(newestFirst.map((n) => `${n} @ 150.25`));
    expect(await signals.locator(".num").allTextContents()).toEqual(newestFirst.map((n) => `${n} @ 380.50`));
    const confidence = signals.locator(".confidence-value");
    expect(await confidence.allTextContents()).toEqual(newestFirst.map((n) => `${50 + n}%`));
    expect(await confidence.first().isVisible()).toBe(true);
    // The backfill is what a fresh page shows, not a recovery: no notice, no "No trades yet".
    for (const channel of ["trades", "signals"])
      expect(await page.getByTestId(`${channel}-notice`).isVisible()).toBe(false);
    expect(await page.getByText("No trades yet").isVisible()).toBe(false);
    await shot(page, "dashboard-backfill.png");

    // Live frames go on top of the backfill.
    stack.publisher.publish(
      "execution.trades.AAPL",
      JSON.stringify({ symbol: "AAPL", side: "BUY", quantity: 31, price: 150.25 }),
    );
    await expect.poll(() => trades.count()).toBe(21);
    expect(await trades.locator(".num").first().textContent()).toBe("31 @ 150.25");
    expect(problems).toEqual([]);
  });

  it("shows a generic live panel, the latest frames as a table, for a channel it has no panel for", async () => {
    // The four real plugins and the news fixture: a channel this dashboard was built without.
    const plugins = pluginsWithNews("dashboard-plugins");
    stack.defer(() => plugins.remove());
    const running = await stack.startGateway({}, { pluginsDir: plugins.dir });
    const { page, problems } = await openDashboard(running);
    const table = page.getByTestId("channel-news");
    await expect.poll(() => table.count()).toBe(1);
    for (const headline of ["First story", "Second story"])
      stack.publisher.publish("news.wire", JSON.stringify({ symbol: "AAPL", headline, source: "wire" }));
    const rows = table.locator("tbody tr");
    await expect.poll(() => rows.count()).toBe(2);
    // One column per field of the schema the gateway published for the channel, in its order.
    expect(await table.locator("th").allTextContents()).toEqual([
      "symbol",
      "headline",
      "source",
      "url",
      "timestamp",
      "seq",
      "epoch",
    ]);
    // Newest first; every field of the frame in its column.
    const cells = (row: number) => rows.nth(row).locator("td").allTextContents();
    expect((await cells(0)).slice(0, 4)).toEqual(["AAPL", "Second story", "wire", ""]);
    expect((await cells(1)).slice(0, 4)).toEqual(["AAPL", "First story", "wire", ""]);
    expect((await cells(0))[5]).toBe("2");
    // The panel is the channel's card, greyed out like the others when the channel is stale.
    expect(await page.locator("section[data-channel=news] h2").textContent()).toBe("news");
    await shot(page, "dashboard-generic-panel.png");
    expect(problems).toEqual([]);
  });

  it("changes which symbols arrive with the subscribe controls", async () => {
    const running = await natsGateway();
    const { page, problems } = await openDashboard(running);
    tick("AAPL", 10);
    tick("MSFT", 20);
    await expect.poll(() => priceCell(page, "MSFT").textContent()).toBe("20.00");
    await expect.poll(() => priceCell(page, "AAPL").textContent()).toBe("10.00");

    const control = page.locator('[data-testid=subscriptions] [data-channel="price_updates"]');
    await control.locator("input").fill("AAPL");
    await control.locator("[data-action=subscribe]").click();
    await expect.poll(() => control.locator(".chip").textContent()).toBe("AAPL");
    await expect.poll(() => priceCell(page, "MSFT").count()).toBe(0);

    // MSFT is published first: had it been delivered, its row would be back by the time AAPL's is.
    tick("MSFT", 21);
    tick("AAPL", 11);
    await expect.poll(() => priceCell(page, "AAPL").textContent()).toBe("11.00");
    expect(await priceCell(page, "MSFT").count()).toBe(0);
    await shot(page, "dashboard-subscribed-aapl.png");

    // "None" on a feed leaves the channel, and the feed stops showing what it no longer gets.
    stack.publisher.publish("strategy.signals.AAPL", JSON.stringify(SEED_UPSTREAM.signal));
    const signals = page.getByTestId("signals");
    await expect.poll(() => signals.locator("li").count()).toBe(1);
    await page.locator('[data-testid=subscriptions] [data-channel="signals"] [data-action=none]').click();
    await expect.poll(() => signals.locator("li").count()).toBe(0);
    expect(await page.getByText("Not subscribed to signals").count()).toBe(1);

    await control.locator("[data-action=all]").click();
    await expect.poll(() => control.locator(".chip").textContent()).toBe("all symbols");
    tick("MSFT", 22);
    await expect.poll(() => priceCell(page, "MSFT").textContent()).toBe("22.00");
    expect(problems).toEqual([]);
  });

  it("shows the reconnect countdown while the gateway is down, then live data again", async () => {
    const port = await freePort();
    let running = await stack.startGateway({}, { port });
    const { page, problems } = await openDashboard(running);
    tick("NVDA", 500);
    await expect.poll(() => priceCell(page, "NVDA").textContent()).toBe("500.00");

    // Record every text the connection label shows from now on.
    // Each text the label is given, even several in one task: the added text nodes say it.
    // (A string, because this file is type-checked without the DOM library.)
    await page.evaluate(`
      const label = document.querySelector("[data-testid=connection-state]");
      globalThis.labels = [];
      new MutationObserver((records) => {
        for (const record of records) for (const node of record.addedNodes) globalThis.labels.push(node.textContent);
      }).observe(label, { childList: true });
    `);
    await stack.close(running);
    await expectState(page, /^Reconnecting in \d+\.\d s$/);
    await shot(page, "dashboard-reconnecting.png");

    running = await stack.startGateway({}, { port });
    await expectState(page, "Live");
    tick("NVDA", 505);
    await expect.poll(() => priceCell(page, "NVDA").textContent()).toBe("505.00");
    await shot(page, "dashboard-reconnected.png");

    const labels = (await page.evaluate("globalThis.labels")) as string[];
    expect(labels).toContain("Connection lost");
    expect(labels.at(-1)).toBe("Live");
    // Refused connection attempts while the gateway was down are logged by Chromium itself.
    expect(problems.filter((problem) => !REFUSED_CONNECTION.test(problem))).toEqual([]);
  }, 40_000);

  it("says how many trades it recovered after a dropped connection", async () => {
    const running = await natsGateway();
    const proxy = await startProxy(stack, running.port);
    const watcher = await stack.connect({ url: running.wsUrl, record: false });
    const page = await newPage({ viewport: { width: 1400, height: 1000 } });
    const problems: string[] = [];
    page.on("pageerror", (error) => problems.push(`pageerror: ${error.message}`));
    page.on("console", (message) => {
      if (message.type() === "error") problems.push(message.text());
    });
    await page.goto(`http://127.0.0.1:${proxy.port}/`);
    await expectState(page, "Live");
    const trades = page.locator("[data-testid=trades] li");
    const trade = (quantity: number) =>
      stack.publisher.publish(
        "execution.trades.AAPL",
        JSON.stringify({ symbol: "AAPL", side: "BUY", quantity, price: 150.25 }),
      );
    trade(1);
    await expect.poll(() => trades.count()).toBe(1);
    expect(await page.getByTestId("trades-notice").isVisible()).toBe(false);

    // The network drops; three trades happen while the page cannot reach the gateway.
    proxy.refuse();
    proxy.dropAll();
    await expectState(page, /^(Connection lost|Reconnecting)/);
    for (const quantity of [2, 3, 4]) trade(quantity);
    await watcher.next("trade_executed", (frame) => frame.quantity === 4);
    proxy.accept();

    await expectState(page, "Live");
    await expect
      .poll(() => page.getByTestId("trades-notice").textContent())
      .toMatch(/^Recovered 3 trades after reconnect · \d\d:\d\d:\d\d$/);
    // Newest first, every one once.
    expect(await trades.locator(".num").allTextContents()).toEqual([
      "4 @ 150.25",
      "3 @ 150.25",
      "2 @ 150.25",
      "1 @ 150.25",
    ]);
    await shot(page, "dashboard-trades-recovered.png");
    expect(problems.filter((problem) => !REFUSED_CONNECTION.test(problem))).toEqual([]);
  }, 40_000);

  it("says that trades may be missing when the restarted gateway cannot replay them", async () => {
    const port = await freePort();
    let running = await stack.startGateway({}, { port });
    const { page, problems } = await openDashboard(running);
    stack.publisher.publish("execution.trades.AAPL", JSON.stringify(SEED_UPSTREAM.trade));
    await expect.poll(() => page.locator("[data-testid=trades] li").count()).toBe(1);

    await stack.close(running);
    await expectState(page, /^(Connection lost|Reconnecting)/);
    running = await stack.startGateway({}, { port });
    await expectState(page, "Live");
    await expect
      .poll(() => page.getByTestId("trades-notice").textContent())
      .toMatch(
        /^Some trades may be missing after reconnect: the gateway's history was reset \(epoch_mismatch\) · \d\d:\d\d:\d\d$/,
      );
    expect(await page.getByTestId("trades-notice").getAttribute("data-state")).toBe("gap");
    await shot(page, "dashboard-trades-gap.png");
    expect(problems.filter((problem) => !REFUSED_CONNECTION.test(problem))).toEqual([]);
  }, 40_000);

  it("greys out the panels of stale channels with the reason while NATS is down, and shows them normally once it is back and data flows", async () => {
    // A NATS server of its own: stopping the shared one would disturb the other tests' stack.publisher.
    const own = await stack.startNats();
    const running = await stack.startGateway({ NATS_URL: own.url }, { ready: false });
    await waitUntilReady(running);
    const { page, problems } = await openDashboard(running);
    const panel = (channel: string) => page.locator(`section.card[data-channel="${channel}"]`);
    const stale = (channel: string) => page.getByTestId(`${channel}-stale`);
    const opacity = (channel: string) =>
      panel(channel)
        .locator(".card-body")
        .evaluate(
          // This file is type-checked without the DOM library.
          (body: unknown) =>
            (
              globalThis as unknown as { getComputedStyle(element: unknown): { opacity: string } }
            ).getComputedStyle(body).opacity,
        );
    const upstream = await own.client();
    upstream.publish("market.prices.AAPL", JSON.stringify({ symbol: "AAPL", price: 100 }));
    await expect.poll(() => priceCell(page, "AAPL").textContent()).toBe("100.00");
    await upstream.close();
    for (const channel of CHANNELS) {
      expect(await panel(channel).getAttribute("data-stream")).toBe("live");
      expect(await stale(channel).isVisible()).toBe(false);
    }

    await own.stop();
    for (const channel of CHANNELS) {
      await expect.poll(() => panel(channel).getAttribute("data-stream")).toBe("stale");
      expect(await stale(channel).textContent()).toBe("Stale: the gateway lost its NATS link");
      expect(await stale(channel).isVisible()).toBe(true);
      await expect.poll(() => opacity(channel)).toBe("0.4");
    }
    // The connection to the gateway itself is fine.
    expect(await page.getByTestId("connection-state").textContent()).toBe("Live");
    await shot(page, "dashboard-stale-nats-down.png");

    await own.restart();
    // Trades and signals are live as soon as the link is back...
    for (const channel of ["signals", "trades"]) {
      await expect.poll(() => panel(channel).getAttribute("data-stream")).toBe("live");
      expect(await stale(channel).isVisible()).toBe(false);
    }
    // ...prices once data flows again: until then they say for how long nothing came.
    await expect.poll(() => stale("price_updates").textContent()).toMatch(/^Stale: no data for \d+ s$/);
    expect(await panel("price_updates").getAttribute("data-stream")).toBe("stale");
    const again = await own.client();
    try {
      again.publish("market.prices.AAPL", JSON.stringify({ symbol: "AAPL", price: 101 }));
      await expect.poll(() => priceCell(page, "AAPL").textContent()).toBe("101.00");
    } finally {
      await again.close();
    }
    await expect.poll(() => panel("price_updates").getAttribute("data-stream")).toBe("live");
    expect(await stale("price_updates").isVisible()).toBe(false);
    await expect.poll(() => opacity("price_updates")).toBe("1");
    await shot(page, "dashboard-stale-recovered.png");
    expect(problems).toEqual([]);
  }, 40_000);

  it("says when the gateway slows this page's updates, and sends the interval chosen for prices", async () => {
    const { proxy, page } = await openThroughRelay();
    const notice = page.getByTestId("delivery-notice");
    expect(await notice.isVisible()).toBe(false);

    // What the gateway sends a page that reads too slowly (written on the wire by hand here).
    const status = (degraded: boolean, intervals: Record<string, number>) =>
      proxy.inject(
        webSocketFrame(
          Buffer.from(
            JSON.stringify({
              type: "delivery_status",
              degraded,
              intervals_ms: intervals,
              timestamp: new Date().toISOString(),
            }),
          ),
        ),
      );
    status(true, { price_updates: 6000, portfolio: 10000 });
    await expect
      .poll(() => notice.textContent())
      .toBe("Updates slowed: prices every 6 s, portfolio every 10 s");
    expect(await notice.isVisible()).toBe(true);
    await shot(page, "dashboard-degraded.png");
    status(false, { price_updates: 200, portfolio: 200 });
    await expect.poll(() => notice.isVisible()).toBe(false);

    // The prices panel's interval selector: interval_ms, confirmed by the gateway's ack.
    await page.evaluate(`
      globalThis.acks = [];
      globalThis.gateway.on("subscribed", (ack) => globalThis.acks.push(ack));
    `);
    await page.getByTestId("price_updates-interval").selectOption("1000");
    await expect
      .poll(async () => ((await page.evaluate("globalThis.acks")) as { interval_ms?: number }[]).at(-1))
      .toMatchObject({ channel: "price_updates", symbols: "*", interval_ms: 1000 });
    expect(await page.evaluate("globalThis.gateway.intervals")).toEqual({ price_updates: 1000 });
  });

  it("with WEBSOCKET_AUTH=jwt: streams with ?token= (sent in a frame, not the URL), and says why when there is none", async () => {
    const secured = await stack.startGateway({
      WEBSOCKET_AUTH: "jwt",
      WEBSOCKET_JWT_SECRET: TEST_SECRET,
      // Long enough for a loaded CI machine's browser to send its token frame after the upgrade
      // (300 ms was not), short enough to keep the anonymous half of the test quick.
      WEBSOCKET_AUTH_TIMEOUT_MS: "2000",
    });
    const upgrades = recordUpgrades(secured);
    const page = await newPage();
    const token = await signToken({ sub: "dashboard-user", accounts: ["acct-1"] });
    await page.goto(`${secured.httpUrl}/?token=${token}`);
    await expectState(page, "Live");
    // The connection's own id (the SDK's), not the token's subject.
    expect(await page.getByTestId("connection-detail").textContent()).toMatch(/^client [0-9a-f-]{36}$/);
    expect(upgrades).toEqual([expect.stringMatching(/^\/ws\?client_id=[0-9a-f-]{36}$/)]);

    // No token: the gateway closes with 4408, a code that says "do not retry", and the page says so.
    const anonymous = await newPage();
    await anonymous.goto(`${secured.httpUrl}/`);
    await expectState(anonymous, "Disconnected");
    expect(await anonymous.getByTestId("connection-detail").textContent()).toBe(
      "4408 · AUTH_TIMEOUT · No token within 2000 ms",
    );
    expect(await anonymous.getByRole("button", { name: "Reconnect" }).isVisible()).toBe(true);
    await shot(anonymous, "dashboard-auth-timeout.png");
  });

  it("with ?token_url=: no token in the WebSocket URL, and it keeps streaming across token expiries", async () => {
    const secured = await stack.startGateway({
      WEBSOCKET_AUTH: "jwt",
      WEBSOCKET_JWT_SECRET: TEST_SECRET,
    });
    const upgrades = recordUpgrades(secured);
    const page = await newPage({ viewport: { width: 1400, height: 1000 } });
    const problems: string[] = [];
    page.on("pageerror", (error) => problems.push(`pageerror: ${error.message}`));
    page.on("console", (message) => {
      if (message.type() === "error") problems.push(message.text());
    });
    // The application's token endpoint, on the dashboard's origin: 3-second tokens, as JSON.
    const issued: string[] = [];
    await page.route(
      (url) => url.pathname === "/my-token",
      async (route) => {
        const token = await signToken({ sub: "short-lived", expiresIn: 3 });
        issued.push(token);
        await route.fulfill({ contentType: "application/json", body: JSON.stringify({ token }) });
      },
    );
    await page.goto(`${secured.httpUrl}/?token_url=/my-token`);
    await expectState(page, "Live");
    await page.evaluate(`
      globalThis.closes = [];
      globalThis.refreshes = [];
      globalThis.gateway.on("closed", ({ code }) => globalThis.closes.push(code));
      globalThis.gateway.on("authenticated", ({ expires_at }) => globalThis.refreshes.push(expires_at));
    `);
    const firstExpiry = Date.parse(expiryOf(issued[0] as string));

    // Refreshed before each expiry: a token fetched after the first one had expired is in force,
    // on the same connection.
    await expect
      .poll(() => issued.some((token) => Date.parse(expiryOf(token)) - 3000 > firstExpiry), {
        timeout: 15_000,
      })
      .toBe(true);
    await expect
      .poll(async () => ((await page.evaluate("globalThis.refreshes")) as string[]).at(-1), { timeout: 5000 })
      .toBe(expiryOf(issued.at(-1) as string));
    tick("AMZN", 180);
    await expect.poll(() => priceCell(page, "AMZN").textContent()).toBe("180.00");
    expect(await page.evaluate("globalThis.closes")).toEqual([]);
    expect(await page.getByTestId("connection-state").textContent()).toBe("Live");

    // One connection all along, and its URL holds the client_id only.
    expect(upgrades).toEqual([expect.stringMatching(/^\/ws\?client_id=[0-9a-f-]{36}$/)]);
    for (const token of issued) expect(upgrades[0]).not.toContain(token);
    expect(problems).toEqual([]);
  }, 40_000);
});

describe("dashboard: depth ladder", () => {
  /** Prices in cents, so that each is written as upstream writes it (15024 -> 150.24). */
  const levels = (fromCents: number, step: number, sizes: number[]): Level[] =>
    sizes.map((size, index) => [(fromCents + step * index) / 100, size]);

  function book(symbol: string, kind: "snapshot" | "delta", sequence: number, bids: Level[], asks: Level[]) {
    publishBook(stack.publisher, bookMessage(kind, symbol, sequence, bids, asks));
  }

  /** What the ladder shows of a side, top row first: "price size" per visible row. */
  async function ladder(page: Page, side: "asks" | "bids"): Promise<string[]> {
    const rows = page.locator(`[data-testid=book-${side}] tr:visible`);
    const prices = await rows.locator("td.price").allTextContents();
    const sizes = await rows.locator("td.size").allTextContents();
    return prices.map((price, index) => `${price} ${sizes[index]}`);
  }

  const spread = (page: Page) => page.getByTestId("book-spread").textContent();
  const status = (page: Page) => page.getByTestId("book-status");

  /** The drawn length of the size bar of a side's row (top row first). */
  async function barWidth(page: Page, side: "asks" | "bids", row: number): Promise<number> {
    const box = await page.locator(`[data-testid=book-${side}] tr:visible .bar`).nth(row).boundingBox();
    return box?.width ?? 0;
  }

  it("shows the top 10 levels per side of the first symbol's verified book, asks above bids, and the spread; an update changes it; another symbol shows its own book", async () => {
    const running = await natsGateway();
    const { page, problems } = await openDashboard(running);
    // Twelve levels per side, listed worst first: the ladder shows the best ten of each.
    const bids = levels(15024, -1, [100, 200, 300, 400, 500, 600, 700, 800, 900, 1000, 5000, 6000]);
    const asks = levels(15025, 1, [250, 200, 150, 300, 350, 400, 450, 500, 550, 600, 7000, 8000]);
    book("AAPL", "snapshot", 1001, [...bids].reverse(), [...asks].reverse());
    book("MSFT", "snapshot", 7, levels(38049, -1, [10, 20, 30]), levels(38051, 1, [15, 25, 35]));
    // The picker offers the symbols the prices panel shows, the first chosen.
    tick("MSFT", 380.5);
    tick("AAPL", 150.25);
    const picker = page.getByTestId("book-symbol");
    await expect.poll(() => picker.locator("option").allTextContents()).toEqual(["AAPL", "MSFT"]);
    expect(await picker.inputValue()).toBe("AAPL");

    // Asks from the 10th down to the best, next to the spread; bids from the best down.
    await expect
      .poll(() => ladder(page, "asks"))
      .toEqual([
        "150.34 600",
        "150.33 550",
        "150.32 500",
        "150.31 450",
        "150.30 400",
        "150.29 350",
        "150.28 300",
        "150.27 150",
        "150.26 200",
        "150.25 250",
      ]);
    const bidsShown = [
      "150.24 100",
      "150.23 200",
      "150.22 300",
      "150.21 400",
      "150.20 500",
      "150.19 600",
      "150.18 700",
      "150.17 800",
      "150.16 900",
      "150.15 1,000",
    ];
    expect(await ladder(page, "bids")).toEqual(bidsShown);
    expect(await spread(page)).toBe("0.01");
    // Bars relative to the largest size shown (1,000; the 11th and 12th levels are not shown).
    const full = await barWidth(page, "bids", 9);
    expect(full).toBeGreaterThan(50);
    expect((await barWidth(page, "bids", 4)) / full).toBeCloseTo(0.5, 1);
    expect((await barWidth(page, "asks", 0)) / full).toBeCloseTo(0.6, 1);
    expect(await status(page).isVisible()).toBe(false);
    await shot(page, "dashboard-depth-ladder.png");

    // The best bid leaves (the 11th enters the top 10) and the best ask's size changes.
    book("AAPL", "delta", 1002, [[150.24, 0]], [[150.25, 900]]);
    await expect.poll(() => spread(page)).toBe("0.02");
    expect((await ladder(page, "asks")).at(-1)).toBe("150.25 900");
    // The other nine bids move up a row; the 11th level is the 10th row now.
    expect(await ladder(page, "bids")).toEqual([...bidsShown.slice(1), "150.14 5,000"]);

    // Another symbol: its book alone, and the order_books subscription is that symbol only.
    await picker.selectOption("MSFT");
    await expect.poll(() => ladder(page, "asks")).toEqual(["380.53 35", "380.52 25", "380.51 15"]);
    expect(await ladder(page, "bids")).toEqual(["380.49 10", "380.48 20", "380.47 30"]);
    expect(await spread(page)).toBe("0.02");
    const chip = page.locator('[data-testid=subscriptions] [data-channel="order_books"] .chip');
    await expect.poll(() => chip.textContent()).toBe("MSFT");
    // AAPL's updates no longer reach the ladder; MSFT's do.
    book("AAPL", "delta", 1003, [[150.23, 0]], []);
    book("MSFT", "delta", 8, [[380.5, 40]], []);
    await expect.poll(async () => (await ladder(page, "bids"))[0]).toBe("380.50 40");
    expect(await ladder(page, "asks")).toEqual(["380.53 35", "380.52 25", "380.51 15"]);
    await shot(page, "dashboard-depth-ladder-msft.png");
    expect(problems).toEqual([]);
  });

  it("greys out a stale book with a label until the next snapshot", async () => {
    const running = await natsGateway();
    const { page, problems } = await openDashboard(running);
    const table = page.locator("[data-testid=depth-ladder] table");
    const opacity = () =>
      table.evaluate(
        // This file is type-checked without the DOM library.
        (element: unknown) =>
          (
            globalThis as unknown as { getComputedStyle(element: unknown): { opacity: string } }
          ).getComputedStyle(element).opacity,
      );
    tick("TSLA", 242.6);
    book("TSLA", "snapshot", 1, levels(24259, -1, [10, 20]), levels(24261, 1, [30, 40]));
    await expect.poll(() => ladder(page, "bids")).toEqual(["242.59 10", "242.58 20"]);
    book("TSLA", "delta", 2, [[242.59, 15]], []);
    await expect.poll(() => ladder(page, "bids")).toEqual(["242.59 15", "242.58 20"]);

    // Upstream skips sequence 3: the gateway says the book is stale, and sends nothing more of it.
    book("TSLA", "delta", 4, [[242.59, 99]], []);
    await expect
      .poll(() => status(page).textContent())
      .toBe("Stale: upstream skipped an update · showing sequence 2 until the next snapshot");
    expect(await status(page).isVisible()).toBe(true);
    await expect.poll(opacity).toBe("0.4");
    // The last verified levels stay, greyed.
    expect(await ladder(page, "bids")).toEqual(["242.59 15", "242.58 20"]);
    await shot(page, "dashboard-depth-ladder-stale.png");

    book("TSLA", "snapshot", 5, levels(24258, -1, [50]), levels(24262, 1, [60]));
    await expect.poll(() => ladder(page, "bids")).toEqual(["242.58 50"]);
    expect(await ladder(page, "asks")).toEqual(["242.62 60"]);
    expect(await spread(page)).toBe("0.04");
    await expect.poll(() => status(page).isVisible()).toBe(false);
    await expect.poll(opacity).toBe("1");
    expect(problems).toEqual([]);
  });

  it("says for a moment that it resyncs a book that failed its checksum, then shows the fresh snapshot", async () => {
    const { proxy, page } = await openThroughRelay();
    tick("NVDA", 495.1);
    book("NVDA", "snapshot", 40, levels(49509, -1, [10, 20]), levels(49511, 1, [30]));
    await expect.poll(() => ladder(page, "bids")).toEqual(["495.09 10", "495.08 20"]);

    // An update that continues the book but whose checksum does not match what it makes.
    const forged = forgedUpdate("NVDA", 40, [[495.09, 999]]);
    proxy.inject(webSocketFrame(Buffer.from(JSON.stringify(forged))));
    await expect
      .poll(() => status(page).textContent())
      .toBe("Resyncing NVDA: a checksum did not match, fresh snapshot requested");
    // The SDK asked again; the gateway's fresh snapshot is what the ladder shows, not the forgery.
    await expect.poll(() => ladder(page, "bids")).toEqual(["495.09 10", "495.08 20"]);
    expect(await ladder(page, "asks")).toEqual(["495.11 30"]);
    await expect.poll(() => status(page).isVisible(), { timeout: 5000 }).toBe(false);
  });
});
