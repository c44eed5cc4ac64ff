/**
 * Newest-first feeds of signals and trades, bounded so that a long session does not grow the page.
 * Both channels are lossless: on load the page replays their latest frames (the client's
 * `backfill`, see main.ts), so the feeds start full; after a reconnection the SDK resumes them,
 * and the feed says whether what was missed meanwhile was recovered, or may be missing.
 */
import type { GatewayClient, ResumeFailure, SignalFrame, TradeExecutedFrame } from "../client/index.js";
import { el } from "./dom.js";
import * as format from "./format.js";

const MAX_ITEMS = 50;
/** How many of each feed's latest items the page replays on load: one screenful of the feed. */
export const BACKFILL_ITEMS = 20;

/** Why a resume failed, in words (the SDK's `gap` reasons). */
const GAP_REASONS: Record<ResumeFailure | "unknown", string> = {
  epoch_mismatch: "the gateway's history was reset",
  too_old: "the gateway no longer keeps that far back",
  ahead_of_head: "the gateway's history is behind this page",
  replay_limit: "too many were missed to replay",
  upstream_unavailable: "the history was unreachable",
  unknown: "the gateway gave no reason",
};

/**
 * The line above a feed after a reconnection: how many items were recovered, or that some may be
 * missing and why (reload the page, or the system of record, to be sure). The first connection's
 * resume is the backfill on load: it says nothing when it worked (the items are there to see), and
 * why the earlier items are not shown when it did not.
 */
function resumeNotice(client: GatewayClient, channel: string, noun: string): HTMLElement {
  const notice = el("p", { class: "notice", "data-testid": `${channel}-notice`, hidden: "" });
  const show = (state: "recovered" | "gap", text: string) => {
    notice.hidden = false;
    notice.dataset.state = state;
    notice.textContent = `${text} · ${format.clock(new Date().toISOString())}`;
  };
  let connections = 0;
  client.on("open", () => {
    connections++;
  });
  const onLoad = () => connections <= 1;
  client.on("recovered", ({ channel: resumed, count }) => {
    if (resumed !== channel || onLoad()) return;
    show(
      "recovered",
      count === 0
        ? `No ${noun}s missed during the reconnect`
        : `Recovered ${count} ${noun}${count === 1 ? "" : "s"} after reconnect`,
    );
  });
  client.on("gap", ({ channel: resumed, reason }) => {
    if (resumed !== channel) return;
    if (onLoad()) show("gap", `Earlier ${noun}s are not shown: ${GAP_REASONS[reason]} (${reason})`);
    else show("gap", `Some ${noun}s may be missing after reconnect: ${GAP_REASONS[reason]} (${reason})`);
  });
  return notice;
}

function feed(client: GatewayClient, channel: string, noun: string) {
  const emptyText = `No ${noun}s yet`;
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
  const element = el(
    "div",
    {},
    resumeNotice(client, channel, noun),
    el("div", { class: "scroll" }, list, empty),
  );
  return { element, add };
}

export function signalsFeed(client: GatewayClient): HTMLElement {
  const { element, add } = feed(client, "signals", "signal");
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
          el("span", { class: "meter" }, el("span", { class: "bar", style: `width:${confidence}%` })),
          el("span", { class: "confidence-value" }, `${confidence}%`),
        ),
      ),
    );
  });
  return element;
}

export function tradesFeed(client: GatewayClient): HTMLElement {
  const { element, add } = feed(client, "trades", "trade");
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
