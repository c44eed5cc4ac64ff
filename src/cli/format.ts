/**
 * One human-readable line per frame for `gateway tail`: the frame's time, its type, then what a
 * person looks for (symbol, price, change; side and quantity; P&L). Numbers are printed as the
 * gateway sent them, not rounded: a tail is for seeing what is on the wire.
 */
import {
  closeCodeName,
  type OrderBookView,
  type PriceLevel,
  type ServerFrame,
  type UnknownFrame,
} from "../client/index.js";

/** Wide enough for the longest seed type, portfolio_update; longer ones just push the line. */
const TYPE_WIDTH = 16;
const grouped = new Intl.NumberFormat("en-US", { maximumFractionDigits: 20 });

/** "12:00:00.000" (UTC) from an ISO timestamp; the current time when there is none. */
export function timeOf(iso: unknown, now: Date = new Date()): string {
  const date = typeof iso === "string" ? new Date(iso) : now;
  return (Number.isNaN(date.getTime()) ? now : date).toISOString().slice(11, 23);
}

function signed(value: number): string {
  return value > 0 ? `+${value}` : String(value);
}

/** The line for a data frame (or a frame of a type the CLI does not know). */
export function formatFrame(frame: ServerFrame | UnknownFrame): string {
  const { timestamp } = frame as { timestamp?: unknown };
  return `${timeOf(timestamp)}  ${frame.type.padEnd(TYPE_WIDTH)}  ${describe(frame)}`;
}

function describe(frame: ServerFrame | UnknownFrame): string {
  const known = frame as ServerFrame;
  switch (known.type) {
    case "price_update":
      return Object.entries(known.symbols)
        .map(([symbol, quote]) => {
          const parts = [symbol, String(quote.price)];
          if (quote.change !== undefined) parts.push(signed(quote.change));
          if (quote.change_pct !== undefined) parts.push(`(${signed(quote.change_pct)}%)`);
          if (quote.volume !== undefined) parts.push(`vol ${grouped.format(quote.volume)}`);
          return parts.join(" ");
        })
        .join("  |  ");
    case "signal":
      return `${known.signal_type} ${known.symbol} @ ${known.price}  qty ${known.quantity}  confidence ${known.confidence}`;
    case "trade_executed":
      return `${known.side} ${known.quantity} ${known.symbol} @ ${known.price}${known.account === undefined ? "" : `  account ${known.account}`}`;
    case "portfolio_update": {
      const { positions, position_count, total_pnl } = known.data;
      const held = Object.values(positions).map(
        (position) => `${position.symbol} ${position.quantity} (${signed(position.unrealized_pnl)})`,
      );
      const account = known.account === undefined ? "" : `${known.account}  `;
      const count = `${position_count} position${position_count === 1 ? "" : "s"}`;
      return `${account}${count}  P&L ${signed(total_pnl)}${held.length > 0 ? `  ${held.join(", ")}` : ""}`;
    }
    default: {
      const { type: _type, timestamp: _timestamp, ...rest } = frame as UnknownFrame;
      return JSON.stringify(rest);
    }
  }
}

/** Digits after the point as the number prints; undefined when it prints with an exponent. */
function decimalsOf(value: number): number | undefined {
  const text = String(value);
  if (text.includes("e")) return undefined;
  return text.split(".")[1]?.length ?? 0;
}

/**
 * `a - b` to the decimals of its operands: 150.25 - 150.24 is 0.009999999999990905 in binary, and
 * a person reading two prices of two decimals means 0.01.
 */
function difference(a: number, b: number): string {
  const decimals = [decimalsOf(a), decimalsOf(b)];
  if (decimals.includes(undefined)) return String(a - b);
  return String(Number((a - b).toFixed(Math.max(...(decimals as number[])))));
}

/** "150.24 x 300", or "-" for a side with no level. */
function levelOf(level: PriceLevel | undefined): string {
  return level === undefined ? "-" : `${level[0]} x ${level[1]}`;
}

/**
 * The line for an order book the SDK has just verified and applied a frame to (`kind`): its best
 * bid and ask, the spread, and the sequence, e.g.
 * `12:00:00.000  order_book_update    AAPL  bid 150.24 x 300  ask 150.25 x 200  spread 0.01  seq 1001`.
 */
export function formatOrderBook(book: OrderBookView, kind: "snapshot" | "update"): string {
  const bid = book.bids[0];
  const ask = book.asks[0];
  const spread = bid === undefined || ask === undefined ? "-" : difference(ask[0], bid[0]);
  // Snapshot and update lines aligned with each other (both types are longer than TYPE_WIDTH).
  const type = `order_book_${kind}`.padEnd("order_book_snapshot".length);
  return `${timeOf(book.timestamp)}  ${type}  ${book.symbol}  bid ${levelOf(bid)}  ask ${levelOf(ask)}  spread ${spread}  seq ${book.sequence}`;
}

/** "1001 GOING_AWAY: Server shutting down", "1006 (connect ECONNREFUSED 127.0.0.1:8000)". */
export function describeClose(code: number, reason: string, error?: string): string {
  const name = closeCodeName(code);
  let text = name ? `${code} ${name}` : String(code);
  if (reason) text += `: ${reason}`;
  if (error) text += ` (${error})`;
  return text;
}
