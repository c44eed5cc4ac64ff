/** Number and time formatting for the dashboard: fixed decimals, signs, tabular figures. */

const money = new Intl.NumberFormat("en-US", { minimumFractionDigits: 2, maximumFractionDigits: 2 });
const whole = new Intl.NumberFormat("en-US", { maximumFractionDigits: 0 });
const compact = new Intl.NumberFormat("en-US", { notation: "compact", maximumFractionDigits: 2 });

export function price(value: number | undefined): string {
  return value === undefined ? "–" : money.format(value);
}

export function signed(value: number | undefined, suffix = ""): string {
  if (value === undefined) return "–";
  const sign = value > 0 ? "+" : value < 0 ? "−" : "";
  return `${sign}${money.format(Math.abs(value))}${suffix}`;
}

export function volume(value: number | undefined): string {
  if (value === undefined) return "–";
  return value >= 100_000 ? compact.format(value) : whole.format(value);
}

export function quantity(value: number): string {
  return Number.isInteger(value) ? whole.format(value) : money.format(value);
}

/** "up", "down" or "flat", for colouring. */
export function direction(value: number | undefined): "up" | "down" | "flat" {
  if (value === undefined || value === 0) return "flat";
  return value > 0 ? "up" : "down";
}

export function clock(iso: string): string {
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? iso : date.toLocaleTimeString("en-GB", { hour12: false });
}
