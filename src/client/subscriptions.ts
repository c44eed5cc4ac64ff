/**
 * What the client wants to be subscribed to, kept locally so that it survives disconnections and
 * is re-sent on every new connection (which starts on the auto-subscribe default again).
 *
 * Only channels the client touched are kept: a channel it never mentioned stays on the gateway's
 * default. The rules mirror the gateway's (docs: subscribe/unsubscribe semantics): the first
 * explicit subscribe replaces the default, later ones add, `"*"` absorbs symbols, unsubscribe
 * without symbols leaves the channel. The gateway's acks are the final word: the client adopts the
 * state each ack reports (see GatewayClient).
 */
import type { SincePosition } from "../core/positions.js";
import { type ClientFrame, SYMBOL_PATTERN } from "../core/protocol.js";

/** A channel's subscription: `"*"` for every symbol, else the symbols (empty: none). */
export type SubscriptionView = "*" | string[];

/** `"*"` or the symbols; an empty set is an explicit "nothing" (the client left the channel). */
type Desired = "*" | ReadonlySet<string>;

export class DesiredSubscriptions {
  private readonly desired = new Map<string, Desired>();

  subscribe(channel: string, symbols: "*" | readonly string[] | undefined): void {
    const current = this.desired.get(channel);
    if (symbols === undefined || symbols === "*" || symbols.includes("*")) this.desired.set(channel, "*");
    // Adding symbols to "*" keeps "*" (the gateway answers with "*" too).
    else if (current === "*") return;
    else this.desired.set(channel, new Set([...(current ?? []), ...symbols]));
  }

  unsubscribe(channel: string, symbols: readonly string[] | undefined): void {
    const current = this.desired.get(channel);
    if (symbols === undefined) this.desired.set(channel, new Set());
    // Single symbols cannot leave "*" (the gateway refuses with SUBSCRIPTION_CONFLICT); nor the
    // default, which is "*" too or nothing.
    else if (current !== undefined && current !== "*")
      this.desired.set(channel, new Set([...current].filter((symbol) => !symbols.includes(symbol))));
  }

  /** Adopt the state the gateway reported for a channel. */
  set(channel: string, view: SubscriptionView): void {
    this.desired.set(channel, view === "*" ? "*" : new Set(view));
  }

  /** Back to the gateway's default for this channel. */
  forget(channel: string): void {
    this.desired.delete(channel);
  }

  get(channel: string): Desired | undefined {
    return this.desired.get(channel);
  }

  channels(): string[] {
    return [...this.desired.keys()];
  }

  /** Every channel the client set explicitly, with sorted symbols. */
  view(): Record<string, SubscriptionView> {
    return Object.fromEntries(
      [...this.desired].map(([channel, desired]) => [channel, desired === "*" ? "*" : [...desired].sort()]),
    );
  }
}

/** Throw on arguments the gateway would refuse anyway: a caller's mistake, better seen at once. */
export function checkSubscriptionArguments(channel: unknown, symbols: unknown): void {
  if (typeof channel !== "string" || channel.length === 0 || channel.length > 64)
    throw new TypeError(`channel must be a string of 1 to 64 characters, got ${JSON.stringify(channel)}`);
  if (symbols === undefined || symbols === "*") return;
  if (!Array.isArray(symbols) || symbols.length === 0)
    throw new TypeError('symbols must be "*" or a non-empty array of symbols');
  for (const symbol of symbols) {
    if (typeof symbol !== "string" || (symbol !== "*" && !SYMBOL_PATTERN.test(symbol)))
      throw new RangeError(
        `Invalid symbol ${JSON.stringify(symbol)}: 1 to 32 of A-Z a-z 0-9 . _ : / - (or "*" for all)`,
      );
  }
}

type SubscriptionFrame = Extract<ClientFrame, { type: "subscribe" | "unsubscribe" }>;

/**
 * The frames for one (un)subscribe request, split so that none exceeds the gateway's
 * max_message_bytes (a larger frame would close the connection with 1009, for good). Splitting
 * keeps the meaning: the first subscribe replaces the default, the next ones add. `since` (resume
 * of a lossless channel) goes on the last frame only, so that the replay covers the whole
 * subscription; `interval_ms` (a conflated channel's flush interval) goes on every subscribe frame,
 * so that whichever the gateway applies sets it. Room for both is kept in every frame.
 */
export function subscriptionFrames(
  type: "subscribe" | "unsubscribe",
  channel: string,
  symbols: "*" | readonly string[] | undefined,
  maxBytes: number,
  nextId: () => string,
  since?: SincePosition,
  intervalMs?: number,
): SubscriptionFrame[] {
  const interval = type === "subscribe" ? intervalMs : undefined;
  const room = maxBytes - memberBytes({ since }) - memberBytes({ interval_ms: interval });
  const frames = splitFrames(type, channel, symbols, room, nextId);
  if (interval !== undefined)
    for (const frame of frames) if (frame.type === "subscribe") frame.interval_ms = interval;
  const last = frames.at(-1);
  if (since !== undefined && last?.type === "subscribe") last.since = { seq: since.seq, epoch: since.epoch };
  return frames;
}

/** Conflated channels' flush intervals a client may ask for (the gateway's own floor may be higher). */
export const MAX_INTERVAL_MS = 60_000;

/**
 * Throw on an `intervalMs` the gateway would refuse whatever its configuration: not an integer
 * from 1 to 60,000, or on a channel known to be lossless (every frame is delivered there; only
 * conflated channels have an interval).
 */
export function checkInterval(channel: string, intervalMs: unknown, lossless: boolean): void {
  if (intervalMs === undefined) return;
  if (
    typeof intervalMs !== "number" ||
    !Number.isInteger(intervalMs) ||
    intervalMs < 1 ||
    intervalMs > MAX_INTERVAL_MS
  )
    throw new RangeError(
      `intervalMs must be an integer number of milliseconds up to ${MAX_INTERVAL_MS}, got ${JSON.stringify(intervalMs)}`,
    );
  if (lossless)
    throw new TypeError(
      `intervalMs applies to conflated channels only (price_updates, portfolio): ${channel} is lossless, every frame is delivered as it comes`,
    );
}

const encoder = new TextEncoder();
const bytes = (value: unknown) => encoder.encode(JSON.stringify(value)).length;

/** What one optional member (`"since":{...}`, `"interval_ms":500`) adds to a frame: the comma and the member. */
function memberBytes(member: Record<string, unknown>): number {
  return Object.values(member)[0] === undefined ? 0 : bytes(member) - 1;
}

function splitFrames(
  type: "subscribe" | "unsubscribe",
  channel: string,
  symbols: "*" | readonly string[] | undefined,
  maxBytes: number,
  nextId: () => string,
): SubscriptionFrame[] {
  if (symbols === undefined || symbols === "*") {
    const frame: SubscriptionFrame = { type, channel, id: nextId() };
    if (symbols === "*") frame.symbols = "*";
    return [frame];
  }
  const frames: SubscriptionFrame[] = [];
  let id = nextId();
  let batch: string[] = [];
  let batchBytes = bytes({ type, channel, symbols: [], id });
  for (const symbol of symbols) {
    // One more array element costs the symbol's JSON and, after the first, a comma.
    const cost = bytes(symbol) + (batch.length > 0 ? 1 : 0);
    if (batch.length > 0 && batchBytes + cost > maxBytes) {
      frames.push({ type, channel, symbols: batch, id });
      id = nextId();
      batch = [];
      batchBytes = bytes({ type, channel, symbols: [], id });
      batch.push(symbol);
      batchBytes += bytes(symbol);
      continue;
    }
    batch.push(symbol);
    batchBytes += cost;
  }
  frames.push({ type, channel, symbols: batch, id });
  return frames;
}
