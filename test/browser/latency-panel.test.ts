/**
 * The dashboard's latency panel in Chromium, against a real gateway and nats-server (with
 * JetStream, so that trades carry an upstream time): per channel, the p50 and p99 of the gateway
 * hop and of upstream lag that GET /websocket/latency answered, as figures and as small charts,
 * refreshed by polling.
 */
import { mkdirSync } from "node:fs";
import path from "node:path";
import type { Page, Response } from "playwright-core";
import { beforeAll, describe, expect, it } from "vitest";
import { withChromium } from "../helpers/browser.js";
import { withGateway } from "../helpers/with-gateway.js";

const ARTIFACTS = path.resolve(import.meta.dirname, "../../test-results/screenshots");

const stack = withGateway({ jetstream: true });
const chromium = withChromium();

beforeAll(() => {
  mkdirSync(ARTIFACTS, { recursive: true });
});

interface Figures {
  count: number;
  p50_ms: number | null;
  p99_ms: number | null;
}
interface LatencyDocument {
  channels: Record<
    string,
    { kind: string; hop: Figures; upstream_lag: Figures | null; series: { count: number }[] }
  >;
}

/** Milliseconds as the panel writes them. */
function ms(value: number | null | undefined): string {
  if (value === null || value === undefined) return "–";
  if (value < 10) return value.toFixed(2);
  if (value < 100) return value.toFixed(1);
  return Math.round(value).toLocaleString("en-US");
}

const isLatency = (response: Response) => new URL(response.url()).pathname === "/websocket/latency";

/** The figures of a channel's row, as shown. */
async function row(page: Page, channel: string) {
  const cells = page.locator(`[data-testid=latency] tr[data-channel="${channel}"] td`);
  const texts = await cells.allTextContents();
  return {
    kind: texts[1],
    frames: texts[2],
    hop: [texts[3], texts[4]],
    lag: [texts[6], texts[7]],
  };
}

describe("dashboard: latency panel", () => {
  it("shows each channel's p50 and p99 of the gateway hop and upstream lag from /websocket/latency, with a chart, and follows it", async () => {
    const page = stack.track(await chromium.browser.newPage({ viewport: { width: 1400, height: 1000 } }));
    const problems: string[] = [];
    page.on("pageerror", (error) => problems.push(`pageerror: ${error.message}`));
    page.on("console", (message) => {
      if (message.type() === "error") problems.push(message.text());
    });
    await page.goto(`${stack.running.httpUrl}/`);
    await expect.poll(() => page.getByTestId("connection-state").textContent()).toBe("Live");

    for (let quantity = 1; quantity <= 10; quantity++)
      stack.publisher.publish(
        "execution.trades.AAPL",
        JSON.stringify({ symbol: "AAPL", side: "BUY", quantity, price: 150.25 }),
      );
    await expect.poll(() => page.locator("[data-testid=trades] li").count()).toBe(10);

    // The next poll that counts the ten trades written to this page: the panel shows its figures.
    let document: LatencyDocument | undefined;
    for (;;) {
      const response = await page.waitForResponse(isLatency, { timeout: 10_000 });
      const answered = (await response.json()) as LatencyDocument;
      if ((answered.channels.trades?.hop.count ?? 0) >= 10) {
        document = answered;
        break;
      }
    }
    const trades = document.channels.trades;
    if (trades === undefined) throw new Error("no trades channel in /websocket/latency");
    await expect
      .poll(() => page.locator('[data-testid=latency] tr[data-channel="trades"] td.frames').textContent())
      .toBe(trades.hop.count.toLocaleString("en-US"));
    expect(await row(page, "trades")).toEqual({
      kind: "lossless",
      frames: trades.hop.count.toLocaleString("en-US"),
      hop: [ms(trades.hop.p50_ms), ms(trades.hop.p99_ms)],
      lag: [ms(trades.upstream_lag?.p50_ms), ms(trades.upstream_lag?.p99_ms)],
    });
    // Figures, not dashes: the hop always, and the lag because JetStream timestamps each trade.
    const shown = await row(page, "trades");
    for (const figure of [...shown.hop, ...shown.lag]) expect(figure).toMatch(/^\d[\d,]*(\.\d+)?$/);

    // One row per channel, in name order; a channel with nothing written shows dashes.
    expect(
      await page
        .locator("[data-testid=latency] tbody tr")
        .evaluateAll((rows) =>
          rows.map((element) => (element as unknown as { dataset: { channel: string } }).dataset.channel),
        ),
    ).toEqual(Object.keys(document.channels).sort());
    const signals = await row(page, "signals");
    expect(signals.hop).toEqual(["–", "–"]);

    // The charts: both lines drawn for the trades hop and lag, none where there is nothing.
    for (const stage of ["hop", "lag"]) {
      const chart = page.getByTestId(`latency-chart-trades-${stage}`);
      for (const line of ["p50", "p99"])
        expect(await chart.locator(`path.${line}`).getAttribute("d")).toMatch(/^M[\d.]+ [\d.]+/);
      expect(await chart.locator("text.scale").textContent()).toMatch(/^\d[\d,]*(\.\d+)? ms$/);
    }
    const quiet = page.getByTestId("latency-chart-signals-hop");
    expect(await quiet.locator("path.p99").getAttribute("d")).toBe("");
    expect(await quiet.locator("text.scale").textContent()).toBe("no frames in the window");
    expect(await page.getByTestId("latency-status").textContent()).toMatch(
      /^Last 60 s, estimated from histogram buckets · updated \d\d:\d\d:\d\d$/,
    );
    await page.locator(".latency-card").screenshot({ path: path.join(ARTIFACTS, "dashboard-latency.png") });

    // It follows the endpoint: ten more trades, and a later poll's count is shown.
    for (let quantity = 11; quantity <= 20; quantity++)
      stack.publisher.publish(
        "execution.trades.AAPL",
        JSON.stringify({ symbol: "AAPL", side: "BUY", quantity, price: 150.25 }),
      );
    await expect
      .poll(
        async () =>
          Number(
            (
              (await page
                .locator('[data-testid=latency] tr[data-channel="trades"] td.frames')
                .textContent()) ?? ""
            ).replaceAll(",", ""),
          ),
        { timeout: 10_000 },
      )
      .toBeGreaterThanOrEqual(trades.hop.count + 10);
    expect(problems).toEqual([]);
  });
});
