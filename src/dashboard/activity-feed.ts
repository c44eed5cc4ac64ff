/**
 * Newest-first feeds of signals and trades, bounded so that a long session does not grow the page.
 */
import type { GatewayClient, SignalFrame, TradeExecutedFrame } from "../client/index.js";
import { el } from "./dom.js";
import * as format from "./format.js";

const MAX_ITEMS = 50;

function feed(client: GatewayClient, channel: string, emptyText: string) {
  const list = el("ol", { class: "feed", "data-testid": channel });
  const empty = el("p", { class: "empty" }, emptyText);
  const add = (item: HTMLElement) => {
    empty.remove();
    list.prepend(item);
    while (list.children.length > MAX_ITEMS) list.lastElementChild?.remove();
  };
  // After a (un)subscribe, keep only what the subscription still covers: nothing shown is stale.
  const keep = ({ channel: changed, symbols }: { channel: string; symbols: "*" | string[] }) => {
    if (changed !== channel || symbols === "*") return;
    for (const item of [...list.children] as HTMLElement[])
      if (!symbols.includes(item.dataset.symbol ?? "")) item.remove();
    if (list.children.length === 0) {
      empty.textContent = symbols.length === 0 ? `Not subscribed to ${channel}` : emptyText;
      list.after(empty);
    }
  };
  client.on("subscribed", keep);
  client.on("unsubscribed", keep);
  return { element: el("div", { class: "scroll" }, list, empty), add };
}

export function signalsFeed(client: GatewayClient): HTMLElement {
  const { element, add } = feed(client, "signals", "No signals yet");
  client.on("signal", (signal: SignalFrame) => {
    const confidence = Math.round(signal.confidence * 100);
    add(
      el(
        "li",
        { "data-symbol": signal.symbol },
        el("time", {}, format.clock(signal.timestamp)),
        el("span", { class: `badge ${signal.signal_type.toLowerCase()}` }, signal.signal_type),
        el("strong", {}, signal.symbol),
        el("span", { class: "num" }, `${format.quantity(signal.quantity)} @ ${format.price(signal.price)}`),
        el(
          "span",
          { class: "confidence", title: `confidence ${confidence}%` },
          el("span", { class: "bar", style: `width:${confidence}%` }),
        ),
      ),
    );
  });
  return element;
}

export function tradesFeed(client: GatewayClient): HTMLElement {
  const { element, add } = feed(client, "trades", "No trades yet");
  client.on("trade_executed", (trade: TradeExecutedFrame) => {
    add(
      el(
        "li",
        { "data-symbol": trade.symbol },
        el("time", {}, format.clock(trade.timestamp)),
        el("span", { class: `badge ${trade.side.toLowerCase()}` }, trade.side),
        el("strong", {}, trade.symbol),
        el("span", { class: "num" }, `${format.quantity(trade.quantity)} @ ${format.price(trade.price)}`),
        trade.account ? el("span", { class: "muted" }, trade.account) : null,
      ),
    );
  });
  return element;
}
