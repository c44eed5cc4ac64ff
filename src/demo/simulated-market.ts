/**
 * A small simulated market for the demo start and `npm run feed`: random-walk prices for a handful
 * of symbols, occasional signals and trades, a portfolio whose P&L follows the prices, and an
 * order book per symbol around its price (simulated-books.ts). It publishes exactly what upstream
 * services would, as JSON on the default subjects.
 */
import { SimulatedBooks, type SimulatedBooksOptions } from "./simulated-books.js";

export type Publish = (subject: string, payload: string) => void;

const SYMBOLS: Record<string, number> = {
  AAPL: 150.25,
  MSFT: 380.5,
  GOOGL: 141.8,
  AMZN: 178.2,
  NVDA: 495.1,
  TSLA: 242.6,
};

interface Quote {
  price: number;
  open: number;
  high: number;
  low: number;
  close: number;
  volume: number;
}

export interface SimulatedMarketOptions {
  /** Milliseconds between price ticks (each tick moves one random symbol). */
  tickMs?: number;
  signalEveryMs?: number;
  tradeEveryMs?: number;
  portfolioEveryMs?: number;
  subjects?: Partial<Record<"prices" | "signals" | "trades" | "portfolio" | "books", string>>;
  /** The order books' rates and depth (their subject is `subjects.books`). */
  books?: Omit<SimulatedBooksOptions, "subject">;
}

const round = (value: number, digits = 2) => Math.round(value * 10 ** digits) / 10 ** digits;
const pick = <T>(items: T[]): T => items[Math.floor(Math.random() * items.length)] as T;

export class SimulatedMarket {
  private readonly quotes = new Map<string, Quote>();
  private readonly holdings = new Map<string, { quantity: number; average: number }>();
  private timers: NodeJS.Timeout[] = [];
  private readonly books: SimulatedBooks;

  constructor(
    private readonly publish: Publish,
    private readonly options: SimulatedMarketOptions = {},
  ) {
    for (const [symbol, price] of Object.entries(SYMBOLS)) {
      this.quotes.set(symbol, { price, open: price, high: price, low: price, close: price, volume: 0 });
    }
    this.holdings.set("AAPL", { quantity: 10, average: 148.1 });
    this.holdings.set("NVDA", { quantity: 4, average: 470.0 });
    this.books = new SimulatedBooks(
      publish,
      [...this.quotes.keys()],
      (symbol) => (this.quotes.get(symbol) as Quote).price,
      { ...options.books, subject: this.subject("books") },
    );
  }

  start(): void {
    const { tickMs = 100, signalEveryMs = 4000, tradeEveryMs = 6000, portfolioEveryMs = 2000 } = this.options;
    this.timers = [
      setInterval(() => this.tick(), tickMs),
      setInterval(() => this.signal(), signalEveryMs),
      setInterval(() => this.trade(), tradeEveryMs),
      setInterval(() => this.portfolio(), portfolioEveryMs),
    ];
    for (const timer of this.timers) timer.unref();
    for (const symbol of this.quotes.keys()) this.tick(symbol);
    this.portfolio();
    this.books.start();
  }

  stop(): void {
    for (const timer of this.timers) clearInterval(timer);
    this.timers = [];
    this.books.stop();
  }

  private subject(kind: "prices" | "signals" | "trades" | "portfolio" | "books", tail?: string): string {
    const defaults = {
      prices: "market.prices",
      books: "market.books",
      signals: "strategy.signals",
      trades: "execution.trades",
      portfolio: "portfolio.updates",
    };
    const base = this.options.subjects?.[kind] ?? defaults[kind];
    return tail ? `${base}.${tail}` : base;
  }

  private tick(symbol = pick([...this.quotes.keys()])): void {
    const quote = this.quotes.get(symbol) as Quote;
    quote.price = round(Math.max(1, quote.price * (1 + (Math.random() - 0.5) * 0.004)));
    quote.high = Math.max(quote.high, quote.price);
    quote.low = Math.min(quote.low, quote.price);
    quote.volume += Math.floor(Math.random() * 5000);
    const change = round(quote.price - quote.close);
    this.publish(
      this.subject("prices", symbol),
      JSON.stringify({
        symbol,
        price: quote.price,
        change,
        change_pct: round((change / quote.close) * 100),
        volume: quote.volume,
        high: quote.high,
        low: quote.low,
        open: quote.open,
        close: quote.close,
        timestamp: new Date().toISOString(),
      }),
    );
  }

  private signal(): void {
    const symbol = pick([...this.quotes.keys()]);
    this.publish(
      this.subject("signals", symbol),
      JSON.stringify({
        signal_type: pick(["BUY", "SELL", "HOLD"]),
        symbol,
        price: this.quotes.get(symbol)?.price,
        quantity: pick([5, 10, 25, 50]),
        confidence: round(0.5 + Math.random() * 0.5),
        timestamp: new Date().toISOString(),
      }),
    );
  }

  private trade(): void {
    const symbol = pick([...this.quotes.keys()]);
    const side = pick(["BUY", "SELL"] as const);
    const quantity = pick([1, 5, 10]);
    const price = this.quotes.get(symbol)?.price ?? 0;
    const holding = this.holdings.get(symbol) ?? { quantity: 0, average: price };
    if (side === "SELL" && holding.quantity < quantity) return; // nothing to sell: skip this round
    if (side === "BUY") {
      holding.average =
        (holding.average * holding.quantity + price * quantity) / (holding.quantity + quantity);
      holding.quantity += quantity;
    } else {
      holding.quantity -= quantity;
    }
    if (holding.quantity > 0) this.holdings.set(symbol, holding);
    else this.holdings.delete(symbol);
    this.publish(
      this.subject("trades", symbol),
      JSON.stringify({ symbol, side, quantity, price, timestamp: new Date().toISOString() }),
    );
  }

  private portfolio(): void {
    const positions: Record<string, unknown> = {};
    let total = 0;
    for (const [symbol, { quantity, average }] of this.holdings) {
      const market = this.quotes.get(symbol)?.price ?? average;
      const pnl = round((market - average) * quantity);
      total += pnl;
      positions[symbol] = {
        symbol,
        quantity,
        average_price: round(average),
        market_price: market,
        unrealized_pnl: pnl,
        unrealized_pnl_pct: round(((market - average) / average) * 100),
      };
    }
    this.publish(
      this.subject("portfolio"),
      JSON.stringify({
        positions,
        total_pnl: round(total),
        position_count: this.holdings.size,
        timestamp: new Date().toISOString(),
      }),
    );
  }
}
