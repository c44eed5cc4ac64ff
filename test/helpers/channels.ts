/**
 * The bundled plugins' channels as a client sees them, in the gateway's order (plugin folders by
 * name): every one of them, and the ones a new connection starts subscribed to by default
 * (order_books keeps itself out: clients pick the books they want).
 */
export const BUNDLED_CHANNELS = ["order_books", "portfolio", "price_updates", "signals", "trades"];
export const AUTO_SUBSCRIBED_CHANNELS = ["portfolio", "price_updates", "signals", "trades"];
/** The welcome's `subscriptions` of a connection on the auto-subscribe default. */
export const DEFAULT_SUBSCRIPTIONS: Record<string, "*" | string[]> = {
  order_books: [],
  portfolio: "*",
  price_updates: "*",
  signals: "*",
  trades: "*",
};
