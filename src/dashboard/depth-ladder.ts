/**
 * A depth ladder: the top levels per side of one symbol's order book, live. Asks above (the best
 * ask nearest the middle), the spread, bids below (the best bid nearest the middle); each level's
 * price and size with a bar as long as its size relative to the largest size shown.
 *
 * The ladder subscribes to the order_books channel for the chosen symbol only (choosing another
 * unsubscribes the old one) and draws the SDK's verified book (client.orderBook: every checksum
 * matched, no update missed), never the frames themselves. A book the gateway reports stale is
 * greyed out with a label; a resync (the SDK dropped a broken book and asked for a snapshot) is
 * said for a moment. At most one render per animation frame, however many updates arrive.
 *
 * The symbols are those the prices panel shows (price_updates frames), sorted; the first one is
 * chosen until the user picks another.
 */
import type { GatewayClient, OrderBookFailureReason, OrderBookView, PriceLevel } from "../client/index.js";
import { el } from "./dom.js";

const CHANNEL = "order_books";
/** Levels shown per side. */
export const LADDER_LEVELS = 10;
/** How long "Resyncing" stays up at least, so that a person sees it. */
const RESYNC_NOTICE_MS = 2000;

/** Why the SDK dropped a book, in words. */
const RESYNC_REASONS: Record<OrderBookFailureReason, string> = {
  gap: "an update was missed",
  checksum_mismatch: "a checksum did not match",
  no_snapshot: "an update came before its snapshot",
};

const sizeFormat = new Intl.NumberFormat("en-US", { maximumFractionDigits: 8 });
const priceFormats = new Map<number, Intl.NumberFormat>();

/** Prices with a fixed number of decimals (at least 2), grouped like the prices panel's. */
function priceText(value: number, decimals: number): string {
  let format = priceFormats.get(decimals);
  if (format === undefined) {
    format = new Intl.NumberFormat("en-US", {
      minimumFractionDigits: decimals,
      maximumFractionDigits: decimals,
    });
    priceFormats.set(decimals, format);
  }
  return format.format(value);
}

/** Decimals a price is written with (150.245 -> 3), as JSON carries it. */
function decimalsOf(value: number): number {
  const text = String(value);
  if (text.includes("e")) return Math.min(8, Math.max(0, -Math.floor(Math.log10(Math.abs(value))) + 2));
  const dot = text.indexOf(".");
  return dot === -1 ? 0 : text.length - dot - 1;
}

/** One ladder row: its cells, made once and updated in place. */
interface LevelRow {
  element: HTMLTableRowElement;
  price: HTMLTableCellElement;
  size: HTMLTableCellElement;
  bar: HTMLSpanElement;
}

function levelRow(side: "ask" | "bid"): LevelRow {
  const price = el("td", { class: "price" });
  const size = el("td", { class: "size" });
  const bar = el("span", { class: "bar" });
  const element = el(
    "tr",
    { class: `level ${side}`, hidden: "" },
    price,
    size,
    el("td", { class: "depth" }, bar),
  );
  return { element, price, size, bar };
}

/** The ladder (the card's content) and its symbol picker (on the card's title line). */
export function depthLadder(client: GatewayClient): { ladder: HTMLElement; picker: HTMLElement } {
  const select = el("select", { "aria-label": "Order book symbol", "data-testid": "book-symbol" });
  const picker = el("label", { class: "picker" }, "Symbol ", select);

  const askRows = Array.from({ length: LADDER_LEVELS }, () => levelRow("ask"));
  const bidRows = Array.from({ length: LADDER_LEVELS }, () => levelRow("bid"));
  const spread = el("span", { class: "spread-value", "data-testid": "book-spread" });
  const spreadBps = el("span", { class: "muted" });
  const table = el(
    "table",
    { class: "grid ladder" },
    el("thead", {}, el("tr", {}, el("th", {}, "Price"), el("th", {}, "Size"), el("th", {}, ""))),
    // Rows top to bottom: the 10th ask first, the best ask last, next to the spread.
    el("tbody", { "data-testid": "book-asks" }, ...askRows.map((row) => row.element)),
    el(
      "tbody",
      { class: "spread" },
      el("tr", {}, el("td", { colspan: "3" }, "Spread ", spread, " ", spreadBps)),
    ),
    el("tbody", { "data-testid": "book-bids" }, ...bidRows.map((row) => row.element)),
  );
  const status = el("p", { class: "book-status", "data-testid": "book-status", role: "status", hidden: "" });
  const empty = el("p", { class: "empty" });
  const meta = el("p", { class: "book-meta muted", "data-testid": "book-meta" });
  const ladder = el(
    "div",
    { class: "ladder-wrap", "data-testid": "depth-ladder" },
    status,
    table,
    empty,
    meta,
  );

  const symbols = new Set<string>();
  let selected: string | undefined;
  /** The symbol this ladder asked the gateway for. */
  let subscribed: string | undefined;
  /** The user chose a symbol: new symbols no longer move the selection to the first. */
  let picked = false;
  /** Does the gateway serve order books at all (from the welcome)? */
  let served = true;
  let resync: { symbol: string; reason: OrderBookFailureReason; until: number } | undefined;
  let resyncTimer: ReturnType<typeof setTimeout> | undefined;
  let scheduled = false;

  /** At most one render per animation frame: a burst of updates costs one render. */
  const schedule = () => {
    if (scheduled) return;
    scheduled = true;
    requestAnimationFrame(() => {
      scheduled = false;
      render();
    });
  };

  const follow = () => {
    if (!served || selected === undefined || selected === subscribed) return;
    const previous = subscribed;
    subscribed = selected;
    // All symbols already (chosen in the subscription controls): one symbol cannot leave "*".
    if (client.subscriptions[CHANNEL] === "*") return;
    if (previous !== undefined) client.unsubscribe(CHANNEL, [previous]);
    client.subscribe(CHANNEL, [selected]);
  };

  const choose = (symbol: string) => {
    selected = symbol;
    select.value = symbol;
    resync = undefined;
    follow();
    schedule();
  };

  const fillPicker = () => {
    const sorted = [...symbols].sort();
    select.replaceChildren(...sorted.map((symbol) => el("option", { value: symbol }, symbol)));
    if (!picked && sorted[0] !== undefined && sorted[0] !== selected) choose(sorted[0]);
    else if (selected !== undefined) select.value = selected;
  };

  select.addEventListener("change", () => {
    picked = true;
    choose(select.value);
  });

  client.on("price_update", (frame) => {
    let added = false;
    for (const symbol of Object.keys(frame.symbols)) {
      if (symbols.has(symbol)) continue;
      symbols.add(symbol);
      added = true;
    }
    if (added) fillPicker();
  });

  client.on("open", ({ welcome }) => {
    served = welcome.channels.includes(CHANNEL);
    // The SDK subscribes again on every connection; a first connection may only now tell.
    follow();
    schedule();
  });
  client.on("order_book", ({ symbol }) => symbol === selected && schedule());
  client.on("book_stale", ({ symbol }) => symbol === selected && schedule());
  client.on("resync", ({ symbol, reason }) => {
    if (symbol !== selected) return;
    resync = { symbol, reason, until: Date.now() + RESYNC_NOTICE_MS };
    clearTimeout(resyncTimer);
    resyncTimer = setTimeout(schedule, RESYNC_NOTICE_MS);
    schedule();
  });
  // The SDK's books end with their connection, and with an unsubscribe.
  client.on("closed", schedule);
  client.on("unsubscribed", (frame) => frame.channel === CHANNEL && schedule());

  const showLevels = (rows: LevelRow[], levels: readonly PriceLevel[], decimals: number, largest: number) => {
    rows.forEach((row, index) => {
      const level = levels[index];
      row.element.hidden = level === undefined;
      if (level === undefined) return;
      const [price, size] = level;
      row.price.textContent = priceText(price, decimals);
      row.size.textContent = sizeFormat.format(size);
      row.bar.style.width = `${largest > 0 ? (size / largest) * 100 : 0}%`;
    });
  };

  const showBook = (book: OrderBookView) => {
    const asks = book.asks.slice(0, LADDER_LEVELS);
    const bids = book.bids.slice(0, LADDER_LEVELS);
    const shown = [...asks, ...bids];
    const decimals = Math.min(8, Math.max(2, ...shown.map(([price]) => decimalsOf(price))));
    const largest = Math.max(0, ...shown.map(([, size]) => size));
    // Asks top to bottom from the 10th to the best; the rows fill from the bottom (the middle).
    const askOffset = LADDER_LEVELS - asks.length;
    showLevels(askRows.slice(askOffset), [...asks].reverse(), decimals, largest);
    for (const row of askRows.slice(0, askOffset)) row.element.hidden = true;
    showLevels(bidRows, bids, decimals, largest);
    const [bestAsk] = asks[0] ?? [];
    const [bestBid] = bids[0] ?? [];
    if (bestAsk === undefined || bestBid === undefined) {
      spread.textContent = "–";
      spreadBps.textContent = "";
    } else {
      const gap = Number((bestAsk - bestBid).toFixed(decimals));
      spread.textContent = priceText(gap, decimals);
      spreadBps.textContent = `· ${((gap / ((bestAsk + bestBid) / 2)) * 10_000).toFixed(2)} bps`;
    }
    const time = new Date(book.timestamp);
    meta.textContent = `${book.symbol} · sequence ${book.sequence}${
      Number.isNaN(time.getTime()) ? "" : ` · ${time.toLocaleTimeString("en-GB", { hour12: false })}`
    }`;
  };

  const render = () => {
    const book = selected === undefined ? undefined : client.orderBook(selected);
    const resyncing = resync !== undefined && resync.symbol === selected && Date.now() < resync.until;
    if (resync !== undefined && !resyncing) resync = undefined;

    let state: "live" | "stale" | "resync" | "empty";
    if (resyncing && resync !== undefined) {
      state = "resync";
      status.textContent = `Resyncing ${resync.symbol}: ${RESYNC_REASONS[resync.reason]}, fresh snapshot requested`;
    } else if (book?.stale) {
      state = "stale";
      status.textContent = `Stale: upstream skipped an update · showing sequence ${book.sequence} until the next snapshot`;
    } else {
      state = book === undefined ? "empty" : "live";
      status.textContent = "";
    }
    status.hidden = status.textContent === "";
    ladder.dataset.book = state;
    ladder.dataset.symbol = selected ?? "";

    table.hidden = book === undefined;
    empty.hidden = book !== undefined;
    if (book === undefined) {
      meta.textContent = "";
      empty.textContent = !served
        ? "This gateway serves no order books"
        : selected === undefined
          ? "Waiting for symbols…"
          : client.state === "open"
            ? `Waiting for ${selected}'s book…`
            : `${selected}'s book comes back with the connection`;
      return;
    }
    showBook(book);
  };

  render();
  return { ladder, picker };
}
