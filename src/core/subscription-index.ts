/**
 * Who wants what: per channel, the sessions subscribed to every symbol and, per symbol, the
 * sessions subscribed to it. Delivery asks "who gets key K on channel C" and touches only those
 * sessions, never the whole client list.
 *
 * This is also the one place where the subscription semantics (docs/protocol.md, "Protocol
 * decisions") live.
 * Every change is incremental (only the symbols a request names are touched), and a session's
 * symbol count is bounded, so no request can make the index expensive to update.
 */
import {
  type ChannelSubscription,
  type ClientSession,
  NO_CHANNELS,
  NOT_SUBSCRIBED,
} from "./client-session.js";
import { ownMap, ownSet, sharedMap, sharedSet } from "./copy-on-write.js";
import { ALL_KEYS, DeliveryCoverage, type HistoryHead } from "./history/delivery-coverage.js";
import type { SubscriptionStateView } from "./protocol.js";

export interface ChannelSubscribers {
  all: Set<ClientSession>;
  bySymbol: Map<string, Set<ClientSession>>;
}

export type SubscribeResult =
  | { ok: true; state: SubscriptionStateView }
  | { ok: false; reason: "TOO_MANY_SYMBOLS" };
export type UnsubscribeResult =
  | { ok: true; state: SubscriptionStateView }
  | { ok: false; reason: "SUBSCRIPTION_CONFLICT" };

export class SubscriptionIndex {
  private readonly channels = new Map<string, ChannelSubscribers>();
  /**
   * The auto-subscribe default on every channel, shared by the sessions on it until their first
   * change (copy-on-write.ts): the state of most connections, held once instead of per connection.
   */
  private readonly everyChannelAll: ReadonlyMap<string, ChannelSubscription>;
  private readonly everyChannelImplicit: ReadonlySet<string>;

  constructor(
    channelNames: readonly string[],
    /** WEBSOCKET_MAX_SYMBOLS_PER_CLIENT: symbols one session may hold across channels. */
    private readonly maxSymbolsPerSession: number,
    /** The history of each lossless channel: subscriptions to them are tracked in coverage. */
    private readonly historyOf: (channel: string) => HistoryHead | undefined = () => undefined,
    /** The channels of the auto-subscribe default (a plugin may keep its channel out of it). */
    private readonly defaultChannels: readonly string[] = channelNames,
  ) {
    for (const name of channelNames) this.channels.set(name, { all: new Set(), bySymbol: new Map() });
    this.everyChannelAll = sharedMap(defaultChannels.map((name) => [name, "*"]));
    this.everyChannelImplicit = sharedSet(defaultChannels);
  }

  subscribers(channel: string): ChannelSubscribers {
    const subscribers = this.channels.get(channel);
    if (!subscribers) throw new Error(`unknown channel ${channel}`);
    return subscribers;
  }

  /** Call `visit` once for every session that should get a message with this key on this channel. */
  forEachRecipient(channel: string, key: string | undefined, visit: (session: ClientSession) => void): void {
    const { all, bySymbol } = this.subscribers(channel);
    for (const session of all) visit(session);
    if (key !== undefined) {
      const sessions = bySymbol.get(key);
      if (sessions) for (const session of sessions) visit(session);
      return;
    }
    // A message about no key in particular goes to every subscriber of the channel, once.
    const seen = new Set<ClientSession>();
    for (const sessions of bySymbol.values()) {
      for (const session of sessions) {
        if (seen.has(session)) continue;
        seen.add(session);
        visit(session);
      }
    }
  }

  /** The auto-subscribe default: "*" on its channels, replaced by the first explicit subscribe. */
  subscribeImplicitly(session: ClientSession, channels: readonly string[] = this.defaultChannels): void {
    if (this.isEveryChannel(channels) && session.subscriptions.size === 0 && session.implicit.size === 0) {
      session.subscriptions = this.everyChannelAll;
      session.implicit = this.everyChannelImplicit;
      for (const channel of channels) this.joinAll(session, channel);
      return;
    }
    for (const channel of channels) {
      this.subscribeAll(session, channel);
      this.ownImplicit(session).add(channel);
    }
  }

  /** Subscribe to all (`"*"`) or add symbols. Nothing changes when the result would be too big. */
  subscribe(session: ClientSession, channel: string, symbols: "*" | string[]): SubscribeResult {
    const replacesDefault = session.implicit.has(channel);
    const current = replacesDefault ? undefined : session.subscriptions.get(channel);
    if (symbols !== "*" && current !== "*") {
      const added = symbols.filter((symbol) => !current?.has(symbol)).length;
      if (session.symbolCount + added > this.maxSymbolsPerSession)
        return { ok: false, reason: "TOO_MANY_SYMBOLS" };
    }
    if (replacesDefault) {
      this.ownImplicit(session).delete(channel);
      this.leave(session, channel);
    }
    if (symbols === "*") this.subscribeAll(session, channel);
    else if (current !== "*") this.addSymbols(session, channel, symbols);
    return { ok: true, state: this.view(session, channel) };
  }

  /**
   * Leave the channel (`"*"`) or remove symbols. Removing single symbols from a `"*"` subscription
   * is a conflict: the gateway does not keep "all except" lists.
   */
  unsubscribe(session: ClientSession, channel: string, symbols: "*" | string[]): UnsubscribeResult {
    const current = session.subscriptions.get(channel);
    // A refused request changes nothing, not even whether the channel is still on the default.
    if (symbols !== "*" && current === "*") return { ok: false, reason: "SUBSCRIPTION_CONFLICT" };
    if (session.implicit.has(channel)) this.ownImplicit(session).delete(channel);
    if (symbols === "*") this.leave(session, channel);
    else if (current !== undefined) this.removeSymbols(session, channel, symbols);
    return { ok: true, state: this.view(session, channel) };
  }

  /** Forget a session entirely (on disconnect). */
  removeSession(session: ClientSession): void {
    for (const [channel, subscription] of session.subscriptions) {
      if (subscription === "*") this.leaveAll(session, channel);
      else this.removeSymbols(session, channel, [...subscription]);
    }
    // Back to the shared empty state: a shared default is not copied only to be emptied.
    session.subscriptions = NOT_SUBSCRIBED;
    session.implicit = NO_CHANNELS;
  }

  view(session: ClientSession, channel: string): SubscriptionStateView {
    const state = session.subscriptions.get(channel);
    if (state === undefined) return [];
    return state === "*" ? "*" : [...state];
  }

  private subscribeAll(session: ClientSession, channel: string): void {
    this.leave(session, channel);
    this.ownSubscriptions(session).set(channel, "*");
    this.joinAll(session, channel);
  }

  /** Everything but the session's own record of a `"*"` subscription. */
  private joinAll(session: ClientSession, channel: string): void {
    this.subscribers(channel).all.add(session);
    this.coverageOf(session, channel)?.begin(ALL_KEYS);
  }

  /** Everything but the session's own record of leaving a `"*"` subscription. */
  private leaveAll(session: ClientSession, channel: string): void {
    this.subscribers(channel).all.delete(session);
    session.coverage?.get(channel)?.end(ALL_KEYS);
  }

  /** The channels are the default's, in its order: the shared default can stand for them. */
  private isEveryChannel(channels: readonly string[]): boolean {
    return (
      channels.length === this.defaultChannels.length &&
      channels.every((channel, position) => channel === this.defaultChannels[position])
    );
  }

  /** The session's subscriptions, its own from now on, to be changed. */
  private ownSubscriptions(session: ClientSession): Map<string, ChannelSubscription> {
    const own = ownMap(session.subscriptions);
    session.subscriptions = own;
    return own;
  }

  /** The session's channels on the default, its own from now on, to be changed. */
  private ownImplicit(session: ClientSession): Set<string> {
    const own = ownSet(session.implicit);
    session.implicit = own;
    return own;
  }

  /** What the session was sent on a lossless channel (undefined on conflated channels). */
  private coverageOf(session: ClientSession, channel: string): DeliveryCoverage | undefined {
    const history = this.historyOf(channel);
    if (history === undefined) return undefined;
    session.coverage ??= new Map();
    let coverage = session.coverage.get(channel);
    if (coverage === undefined) {
      coverage = new DeliveryCoverage(history);
      session.coverage.set(channel, coverage);
    }
    return coverage;
  }

  private addSymbols(session: ClientSession, channel: string, symbols: string[]): void {
    const { bySymbol } = this.subscribers(channel);
    let current = session.subscriptions.get(channel) as Set<string> | undefined;
    if (!current) {
      current = new Set();
      this.ownSubscriptions(session).set(channel, current);
    }
    const coverage = this.coverageOf(session, channel);
    for (const symbol of symbols) {
      if (current.has(symbol)) continue;
      current.add(symbol);
      coverage?.begin(symbol);
      session.symbolCount++;
      let sessions = bySymbol.get(symbol);
      if (!sessions) {
        sessions = new Set();
        bySymbol.set(symbol, sessions);
      }
      sessions.add(session);
    }
  }

  private removeSymbols(session: ClientSession, channel: string, symbols: Iterable<string>): void {
    const current = session.subscriptions.get(channel);
    if (current === undefined || current === "*") return;
    const { bySymbol } = this.subscribers(channel);
    const coverage = session.coverage?.get(channel);
    for (const symbol of symbols) {
      if (!current.delete(symbol)) continue;
      coverage?.end(symbol);
      session.symbolCount--;
      const sessions = bySymbol.get(symbol);
      sessions?.delete(session);
      if (sessions?.size === 0) bySymbol.delete(symbol);
    }
    if (current.size === 0) this.ownSubscriptions(session).delete(channel);
  }

  /** Drop the channel's subscription, whatever it is. */
  private leave(session: ClientSession, channel: string): void {
    const current = session.subscriptions.get(channel);
    if (current === "*") {
      this.ownSubscriptions(session).delete(channel);
      this.leaveAll(session, channel);
    } else if (current !== undefined) {
      this.removeSymbols(session, channel, [...current]);
    }
  }
}
