/**
 * The dashboard served at `/`: live prices, a depth ladder of one symbol's order book, signals,
 * trades and the portfolio of the gateway that serves it, built on the client SDK (reconnection,
 * keep-alive and validation included), a generic live panel for every other channel the gateway
 * announces, and the gateway's latency per channel (GET /websocket/latency).
 *
 * Query parameters: `token_url` (an endpoint of this origin that answers with a fresh JWT, asked
 * again before each expiry) or `token` (a fixed JWT), for WEBSOCKET_AUTH=jwt, and `client_id`.
 * The token travels in the first `auth` frame, never in the WebSocket URL.
 */
import { GatewayClient } from "../client/index.js";
import { BACKFILL_ITEMS, signalsFeed, tradesFeed } from "./activity-feed.js";
import { channelsWithoutPanel, channelTable } from "./channel-panel.js";
import { connectionIndicator } from "./connection-indicator.js";
import { depthLadder } from "./depth-ladder.js";
import { el } from "./dom.js";
import { latencyLegend, latencyPanel } from "./latency-panel.js";
import { portfolioPanel } from "./portfolio-panel.js";
import { pricesTable } from "./prices-table.js";
import { deliveryNotice, intervalSelector, staleMarker } from "./stream-quality.js";
import { subscriptionControls } from "./subscription-controls.js";
import { tokenSource } from "./token.js";

const params = new URLSearchParams(location.search);
let client: GatewayClient;
try {
  client = new GatewayClient({
    url: `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/ws`,
    clientId: params.get("client_id") ?? undefined,
    token: tokenSource(params),
    // A dashboard should come back quickly after a deploy, but not hammer a gateway that is down.
    backoff: { initialDelayMs: 500, maxDelayMs: 10_000 },
    // The feeds start with the latest signals and trades, replayed from the channels' history.
    backfill: { signals: BACKFILL_ITEMS, trades: BACKFILL_ITEMS },
  });
} catch (error) {
  // A malformed ?client_id= or ?token_url= (refused up front): say so instead of a blank page.
  document.body.append(el("p", { class: "message fatal" }, `Cannot start: ${(error as Error).message}`));
  throw error;
}

/**
 * A panel. With `channel`, it is greyed out, and says why, while the gateway reports that
 * channel stale; `tools` go on the title's line.
 */
function card(
  title: string,
  content: HTMLElement,
  options: { className?: string; channel?: string; tools?: HTMLElement } = {},
): HTMLElement {
  const { className = "", channel, tools } = options;
  const section = el("section", { class: `card ${className}` });
  section.append(el("div", { class: "card-head" }, el("h2", {}, title), tools));
  if (channel !== undefined) {
    section.dataset.channel = channel;
    section.append(staleMarker(client, section, channel));
  }
  section.append(el("div", { class: "card-body" }, content));
  return section;
}

const invalid = el("p", { class: "message" });
client.on("error", (error) => {
  invalid.textContent = `Ignored a ${error.kind === "invalid_frame" ? "malformed frame" : "token problem"}: ${error.message}`;
});

/** The channels with a panel of their own below. */
const DEDICATED = new Set(["price_updates", "order_books", "portfolio", "signals", "trades"]);
/** Panels of the other channels, added as the gateway announces them (once each). */
const generic = new Map<string, HTMLElement>();
const subscriptionsCard = card("Subscriptions", el("div", {}, subscriptionControls(client), invalid), {
  className: "wide",
});
client.on("open", ({ welcome }) => {
  for (const channel of channelsWithoutPanel(welcome, DEDICATED)) {
    if (generic.has(channel)) continue;
    const panel = card(channel, channelTable(client, channel), { className: "wide", channel });
    generic.set(channel, panel);
    subscriptionsCard.before(panel);
  }
});

const book = depthLadder(client);

document.body.append(
  el(
    "header",
    {},
    el("h1", {}, el("span", { class: "logo" }, "◆"), " Trading stream"),
    connectionIndicator(client),
    deliveryNotice(client),
    el(
      "nav",
      {},
      el("a", { href: "/docs/asyncapi/" }, "Protocol"),
      el("a", { href: "/docs" }, "REST API"),
      el("a", { href: "/websocket/status" }, "Status"),
    ),
  ),
  el(
    "main",
    {},
    card("Prices", pricesTable(client), {
      className: "prices-card",
      channel: "price_updates",
      tools: intervalSelector(client),
    }),
    card("Order book", book.ladder, { className: "book-card", channel: "order_books", tools: book.picker }),
    card("Portfolio", portfolioPanel(client), { className: "portfolio-card", channel: "portfolio" }),
    card("Signals", signalsFeed(client), { channel: "signals" }),
    card("Trades", tradesFeed(client), { channel: "trades" }),
    card("Latency", latencyPanel(client), { className: "wide latency-card", tools: latencyLegend() }),
    subscriptionsCard,
  ),
);

// For tests and curious people: the page's client, from the devtools console.
(globalThis as { gateway?: GatewayClient }).gateway = client;
client.connect();
