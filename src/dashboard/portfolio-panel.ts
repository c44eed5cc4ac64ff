/**
 * The portfolio with P&L: total, then one row per position. With several accounts (a token for
 * several, or the back office), tabs switch between them.
 */
import type { GatewayClient, PortfolioUpdateFrame } from "../client/index.js";
import { el } from "./dom.js";
import * as format from "./format.js";

const DEFAULT_ACCOUNT = "default";

export function portfolioPanel(client: GatewayClient): HTMLElement {
  const latest = new Map<string, PortfolioUpdateFrame>();
  let selected: string | undefined;
  const tabs = el("div", { class: "tabs" });
  const total = el("div", { class: "total", "data-testid": "total-pnl" }, "–");
  const count = el("div", { class: "muted" });
  const body = el("tbody");
  const table = el(
    "table",
    { class: "grid" },
    el(
      "thead",
      {},
      el("tr", {}, ...["Symbol", "Qty", "Avg", "Market", "P&L", "P&L %"].map((title) => el("th", {}, title))),
    ),
    body,
  );
  const empty = el("p", { class: "empty" }, "Waiting for the portfolio…");

  const render = () => {
    tabs.replaceChildren(
      ...[...latest.keys()].sort().map((account) => {
        const tab = el(
          "button",
          { type: "button", class: account === selected ? "tab active" : "tab" },
          account,
        );
        tab.addEventListener("click", () => {
          selected = account;
          render();
        });
        return tab;
      }),
    );
    tabs.hidden = latest.size < 2;
    const frame = selected === undefined ? undefined : latest.get(selected);
    if (!frame) return;
    empty.remove();
    const { data } = frame;
    total.textContent = format.signed(data.total_pnl);
    total.dataset.trend = format.direction(data.total_pnl);
    count.textContent = `${data.position_count} positions · ${format.clock(frame.timestamp)}`;
    body.replaceChildren(
      ...Object.values(data.positions)
        .sort((a, b) => a.symbol.localeCompare(b.symbol))
        .map((position) =>
          el(
            "tr",
            { "data-symbol": position.symbol },
            el("td", { class: "symbol" }, position.symbol),
            el("td", { class: "num" }, format.quantity(position.quantity)),
            el("td", { class: "num muted" }, format.price(position.average_price)),
            el("td", { class: "num" }, format.price(position.market_price)),
            el(
              "td",
              { class: "num", "data-trend": format.direction(position.unrealized_pnl) },
              format.signed(position.unrealized_pnl),
            ),
            el(
              "td",
              { class: "num", "data-trend": format.direction(position.unrealized_pnl_pct) },
              format.signed(position.unrealized_pnl_pct, "%"),
            ),
          ),
        ),
    );
  };

  // After a (un)subscribe, forget the accounts the subscription no longer covers.
  const keep = ({ channel, symbols }: { channel: string; symbols: "*" | string[] }) => {
    if (channel !== "portfolio" || symbols === "*") return;
    for (const account of [...latest.keys()]) if (!symbols.includes(account)) latest.delete(account);
    if (selected !== undefined && !latest.has(selected)) selected = latest.keys().next().value;
    if (latest.size === 0) {
      total.textContent = "–";
      total.dataset.trend = "flat";
      count.textContent = "";
      body.replaceChildren();
      empty.textContent = symbols.length === 0 ? "Not subscribed to portfolio" : "Waiting for the portfolio…";
      table.after(empty);
    }
    render();
  };
  client.on("subscribed", keep);
  client.on("unsubscribed", keep);

  client.on("portfolio_update", (frame) => {
    const account = frame.account ?? DEFAULT_ACCOUNT;
    latest.set(account, frame);
    selected ??= account;
    render();
  });

  return el(
    "div",
    { class: "portfolio" },
    tabs,
    el("div", { class: "summary" }, el("div", { class: "muted" }, "Unrealized P&L"), total, count),
    el("div", { class: "scroll" }, table, empty),
  );
}
