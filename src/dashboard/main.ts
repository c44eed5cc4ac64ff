/**
 * The dashboard served at `/`: live prices, signals, trades and the portfolio of the gateway that
 * serves it, built on the client SDK (reconnection, keep-alive and validation included).
 *
 * Query parameters: `token_url` (an endpoint of this origin that answers with a fresh JWT, asked
 * again before each expiry) or `token` (a fixed JWT), for WEBSOCKET_AUTH=jwt, and `client_id`.
 * The token travels in the first `auth` frame, never in the WebSocket URL.
 */
import { GatewayClient } from "../client/index.js";
import { signalsFeed, tradesFeed } from "./activity-feed.js";
import { connectionIndicator } from "./connection-indicator.js";
import { el } from "./dom.js";
import { portfolioPanel } from "./portfolio-panel.js";
import { pricesTable } from "./prices-table.js";
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
  });
} catch (error) {
  // A malformed ?client_id= or ?token_url= (refused up front): say so instead of a blank page.
  document.body.append(el("p", { class: "message fatal" }, `Cannot start: ${(error as Error).message}`));
  throw error;
}

function card(title: string, content: HTMLElement, className = ""): HTMLElement {
  return el("section", { class: `card ${className}` }, el("h2", {}, title), content);
}

const invalid = el("p", { class: "message" });
client.on("error", (error) => {
  invalid.textContent = `Ignored a ${error.kind === "invalid_frame" ? "malformed frame" : "token problem"}: ${error.message}`;
});

document.body.append(
  el(
    "header",
    {},
    el("h1", {}, el("span", { class: "logo" }, "◆"), " Trading stream"),
    connectionIndicator(client),
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
    card("Prices", pricesTable(client), "prices-card"),
    card("Portfolio", portfolioPanel(client), "portfolio-card"),
    card("Signals", signalsFeed(client)),
    card("Trades", tradesFeed(client)),
    card("Subscriptions", el("div", {}, subscriptionControls(client), invalid), "wide"),
  ),
);

// For tests and curious people: the page's client, from the devtools console.
(globalThis as { gateway?: GatewayClient }).gateway = client;
client.connect();
