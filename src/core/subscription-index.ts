/**
 * Who wants what: per channel, the sessions subscribed to every symbol and, per symbol, the
 * sessions subscribed to it. Delivery asks "who gets key K on channel C" and touches only those
 * sessions, never the whole client list.
 *
 * This is also the one place where the subscription semantics of DESIGN.md section 4 live.
 */
import type { ChannelSubscription, ClientSession } from "./client-session.js";
import type { SubscriptionStateView } from "./protocol.js";

export interface ChannelSubscribers {
  all: Set<ClientSession>;
  bySymbol: Map<string, Set<ClientSession>>;
}

export type UnsubscribeResult = { ok: true; state: SubscriptionStateView } | { ok: false; conflict: true };

export class SubscriptionIndex {
  private readonly channels = new Map<string, ChannelSubscribers>();

  constructor(channelNames: readonly string[]) {
    for (const name of channelNames) this.channels.set(name, { all: new Set(), bySymbol: new Map() });
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

  /** The auto-subscribe default: "*" on every channel, replaced by the first explicit subscribe. */
  subscribeImplicitly(session: ClientSession): void {
    for (const channel of this.channels.keys()) {
      this.setState(session, channel, "*");
      session.implicit.add(channel);
    }
  }

  /** Subscribe to all (`"*"`) or add symbols. Returns the resulting state. */
  subscribe(session: ClientSession, channel: string, symbols: "*" | string[]): SubscriptionStateView {
    if (session.implicit.delete(channel)) this.setState(session, channel, undefined);
    const current = session.subscriptions.get(channel);
    if (symbols === "*" || current === "*") {
      this.setState(session, channel, "*");
    } else {
      const next = new Set(current ?? []);
      for (const symbol of symbols) next.add(symbol);
      this.setState(session, channel, next);
    }
    return this.view(session, channel);
  }

  /**
   * Leave the channel (`"*"`) or remove symbols. Removing single symbols from a `"*"` subscription
   * is a conflict: the gateway does not keep "all except" lists.
   */
  unsubscribe(session: ClientSession, channel: string, symbols: "*" | string[]): UnsubscribeResult {
    const current = session.subscriptions.get(channel);
    // A refused request changes nothing, not even whether the channel is still on the default.
    if (symbols !== "*" && current === "*") return { ok: false, conflict: true };
    session.implicit.delete(channel);
    if (symbols === "*") {
      this.setState(session, channel, undefined);
    } else if (current !== undefined) {
      const next = new Set(current);
      for (const symbol of symbols) next.delete(symbol);
      this.setState(session, channel, next.size > 0 ? next : undefined);
    }
    return { ok: true, state: this.view(session, channel) };
  }

  /** Forget a session entirely (on disconnect). */
  removeSession(session: ClientSession): void {
    for (const channel of [...session.subscriptions.keys()]) this.setState(session, channel, undefined);
    session.implicit.clear();
  }

  view(session: ClientSession, channel: string): SubscriptionStateView {
    const state = session.subscriptions.get(channel);
    if (state === undefined) return [];
    return state === "*" ? "*" : [...state];
  }

  /** Replace one channel's state, keeping the index in step with the session. */
  private setState(session: ClientSession, channel: string, next: ChannelSubscription | undefined): void {
    const subscribers = this.subscribers(channel);
    const previous = session.subscriptions.get(channel);
    if (previous === "*") {
      subscribers.all.delete(session);
    } else if (previous !== undefined) {
      for (const symbol of previous) {
        const sessions = subscribers.bySymbol.get(symbol);
        sessions?.delete(session);
        if (sessions?.size === 0) subscribers.bySymbol.delete(symbol);
      }
    }
    if (next === undefined) {
      session.subscriptions.delete(channel);
      return;
    }
    session.subscriptions.set(channel, next);
    if (next === "*") {
      subscribers.all.add(session);
      return;
    }
    for (const symbol of next) {
      let sessions = subscribers.bySymbol.get(symbol);
      if (!sessions) {
        sessions = new Set();
        subscribers.bySymbol.set(symbol, sessions);
      }
      sessions.add(session);
    }
  }
}
