/**
 * Live prices: one row per symbol, sorted, each cell updated in place and flashed green or red
 * when the price moves. Rows of symbols the client no longer subscribes to are removed.
 */
import type { GatewayClient, PriceUpdateFrame } from "../client/index.js";
import { el } from "./dom.js";
import * as format from "./format.js";

type Quote = PriceUpdateFrame["symbols"][string];

interface Row {
  element: HTMLTableRowElement;
  cells: Record<
    "price" | "change" | "change_pct" | "volume" | "high" | "low" | "updated",
    HTMLTableCellElement
  >;
  price: number;
  updates: number;
}

export function pricesTable(client: GatewayClient): HTMLElement {
  const body = el("tbody");
  const empty = el("p", { class: "empty" }, "Waiting for prices…");
  const table = el(
    "table",
    { class: "grid prices", "data-testid": "prices" },
    el(
      "thead",
      {},
      el(
        "tr",
        {},
        ...["Symbol", "Price", "Change", "Change %", "Volume", "High", "Low", "Updated"].map((title) =>
          el("th", {}, title),
        ),
      ),
    ),
    body,
  );
  const rows = new Map<string, Row>();

  const rowFor = (symbol: string): Row => {
    const existing = rows.get(symbol);
    if (existing) return existing;
    const cell = (name: string) => el("td", { class: name });
    const cells = {
      price: cell("num price"),
      change: cell("num"),
      change_pct: cell("num"),
      volume: cell("num muted"),
      high: cell("num muted"),
      low: cell("num muted"),
      updated: cell("num muted"),
    };
    const element = el(
      "tr",
      { "data-symbol": symbol },
      el("td", { class: "symbol" }, symbol),
      cells.price,
      cells.change,
      cells.change_pct,
      cells.volume,
      cells.high,
      cells.low,
      cells.updated,
    );
    const row: Row = { element, cells, price: Number.NaN, updates: 0 };
    rows.set(symbol, row);
    // Keep the table sorted by symbol.
    const after = [...rows.keys()].sort().find((other) => other > symbol);
    body.insertBefore(element, after === undefined ? null : (rows.get(after)?.element ?? null));
    empty.remove();
    return row;
  };

  const update = (symbol: string, quote: Quote, timestamp: string) => {
    const row = rowFor(symbol);
    const moved = Number.isNaN(row.price) ? "flat" : format.direction(quote.price - row.price);
    row.cells.price.textContent = format.price(quote.price);
    row.cells.change.textContent = format.signed(quote.change);
    row.cells.change_pct.textContent = format.signed(quote.change_pct, "%");
    row.cells.change.dataset.trend = format.direction(quote.change);
    row.cells.change_pct.dataset.trend = format.direction(quote.change_pct);
    row.cells.volume.textContent = format.volume(quote.volume);
    row.cells.high.textContent = format.price(quote.high);
    row.cells.low.textContent = format.price(quote.low);
    row.cells.updated.textContent = format.clock(timestamp);
    row.price = quote.price;
    row.updates++;
    row.element.dataset.updates = String(row.updates);
    row.cells.price.dataset.moved = moved;
    if (moved !== "flat") flash(row.cells.price, moved);
  };

  client.on("price_update", (frame) => {
    for (const [symbol, quote] of Object.entries(frame.symbols)) update(symbol, quote, frame.timestamp);
  });

  // After a (un)subscribe the table shows only what is still subscribed.
  const prune = (symbols: "*" | string[]) => {
    if (symbols === "*") return;
    for (const [symbol, row] of rows) {
      if (symbols.includes(symbol)) continue;
      row.element.remove();
      rows.delete(symbol);
    }
    if (rows.size === 0) table.after(empty);
  };
  client.on("subscribed", (frame) => frame.channel === "price_updates" && prune(frame.symbols));
  client.on("unsubscribed", (frame) => frame.channel === "price_updates" && prune(frame.symbols));

  return el("div", { class: "scroll" }, table, empty);
}

const FLASH = { up: "rgb(31 199 126 / 45%)", down: "rgb(255 92 108 / 45%)" };

/**
 * Green or red behind a price that moved, fading out. The Web Animations API restarts it without
 * forcing a layout per cell, which matters when hundreds of symbols change in one frame.
 */
function flash(cell: HTMLElement, moved: "up" | "down"): void {
  cell.animate([{ backgroundColor: FLASH[moved] }, { backgroundColor: "transparent" }], {
    duration: 900,
    easing: "ease-out",
  });
}
