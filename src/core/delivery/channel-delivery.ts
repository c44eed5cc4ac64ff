/**
 * Delivery of one conflated channel's valid messages to its subscribers, by the plugin's policy
 * (immediate channels have LosslessDelivery):
 *
 * - conflate, per key: the latest message per key, one frame per changed key each interval;
 * - conflate, merged: the latest message per key, and each interval one frame per client holding
 *   only the changed keys it wants. Clients that want the same keys share the same bytes.
 *
 * Frames are encoded once per distinct content, never once per client.
 *
 * On an account-scoped channel (the plugin has `account`), a client whose token does not list a
 * message's account never gets that message: not live, not in a snapshot.
 */
import type { Logger } from "pino";
import type { ClientSession } from "../client-session.js";
import type { LoadedChannel } from "../plugin.js";
import type { SubscriptionStateView } from "../protocol.js";
import type { SubscriptionIndex } from "../subscription-index.js";
import { type Audience, audienceOf } from "./audience.js";
import type { Delivery, DeliveryCounters } from "./delivery.js";
import { encodeFrame } from "./frame-encoder.js";
import { OwedKeys } from "./owed-keys.js";

/** Key under which conflation keeps messages that are about no key in particular. */
const NO_KEY = "\u0000";

export class ChannelDelivery implements Delivery {
  readonly counters: DeliveryCounters = { framesOut: 0, keysEvicted: 0, framesFailed: 0 };
  private lastFailureLog = 0;
  /**
   * Conflation state: latest message per key, least recently updated first (bounded by
   * maxConflatedKeys), and the keys changed since the last flush.
   */
  private readonly latest = new Map<string, unknown>();
  private readonly changed = new Set<string>();
  /**
   * Pending values a subscribe snapshot already gave a client in this interval, so that the next
   * flush does not repeat them ("only what changed since the client's last frame"). Compared by
   * message identity; cleared at every flush, so it never outlives one interval.
   */
  private readonly snapshotted = new Map<ClientSession, Map<string, unknown>>();
  /** Keys whose frames were skipped for lagging clients: the next flush carries them. */
  private readonly owed = new OwedKeys();
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly channel: LoadedChannel,
    private readonly index: SubscriptionIndex,
    private readonly logger: Logger,
    private readonly maxConflatedKeys: number,
  ) {}

  get name(): string {
    return this.channel.plugin.name;
  }

  readonly conflated = true;

  start(): void {
    if (this.timer) return;
    this.timer = setInterval(() => {
      // A plugin whose toFrame throws on some data must not take the timer (or the process) down.
      try {
        this.flush();
      } catch (error) {
        this.logger.error(
          { err: error, channel: this.name },
          "conflation flush failed; keys of this interval dropped",
        );
      }
    }, this.channel.intervalMs);
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  /** A validated inbound message. */
  accept(message: unknown): void {
    const { plugin } = this.channel;
    // Build the frame once now, so that a message the plugin cannot render is rejected at
    // ingest (counted as plugin_error) instead of breaking every later flush and snapshot.
    plugin.toFrame(message, new Date());
    const slot = plugin.key(message) ?? NO_KEY;
    // Re-insert so that iteration order follows recency: the first key is the stalest.
    this.latest.delete(slot);
    this.latest.set(slot, message);
    this.changed.add(slot);
    if (this.latest.size > this.maxConflatedKeys) this.evictStalest();
  }

  /** Conflated channels are fed by plain subscriptions: no stored positions to skip. */
  skip(): void {}

  private audienceOf(message: unknown): Audience {
    return audienceOf(this.channel.plugin, message);
  }

  /** Upstream keeps inventing keys (symbols, accounts): forget the one not updated for longest. */
  private evictStalest(): void {
    const stalest = this.latest.keys().next().value as string;
    this.latest.delete(stalest);
    this.changed.delete(stalest);
    this.counters.keysEvicted++;
  }

  /** Send a newly subscribed client the latest known values of what it just subscribed to. */
  snapshot(session: ClientSession, symbols: SubscriptionStateView | "*"): void {
    if (this.latest.size === 0) return;
    const slots = (
      symbols === "*" ? [...this.latest.keys()] : symbols.filter((symbol) => this.latest.has(symbol))
    ).filter((slot) => this.audienceOf(this.latest.get(slot))(session));
    if (slots.length === 0) return;
    const now = new Date();
    for (const slot of slots) {
      if (!this.changed.has(slot)) continue;
      const sent = this.snapshotted.get(session) ?? new Map<string, unknown>();
      this.snapshotted.set(session, sent);
      sent.set(slot, this.latest.get(slot));
    }
    if (this.merged) {
      this.sendBuilt(
        session,
        this.build(() => this.merge(slots, now)),
        slots,
      );
      return;
    }
    for (const slot of slots) {
      const frame = this.build(() => this.channel.plugin.toFrame(this.latest.get(slot), now));
      this.sendBuilt(session, frame, [slot]);
    }
  }

  /**
   * Build and encode one frame. Plugin code runs here (toFrame, mergeFrames), and it may throw or
   * return what JSON cannot hold (a BigInt, a cycle): that costs this frame and a counted error
   * (gateway_frames_failed_total), never the flush, the connection or the process.
   */
  private build(make: () => unknown): Buffer | undefined {
    try {
      return encodeFrame(make());
    } catch (error) {
      this.counters.framesFailed++;
      const now = Date.now();
      if (now - this.lastFailureLog >= 1000) {
        this.lastFailureLog = now;
        this.logger.error(
          { err: error, channel: this.name, failed: this.counters.framesFailed },
          "a frame could not be built; skipped",
        );
      }
      return undefined;
    }
  }

  private sendBuilt(session: ClientSession, frame: Buffer | undefined, slots: string[]): void {
    if (frame) this.sendTo(session, frame, slots);
  }

  /** Flush the keys changed since the last interval. Public so tests and shutdown can force it. */
  flush(): void {
    const owed = this.owed.takeAll();
    if (this.changed.size > 0 || owed.size > 0) {
      const changed = [...this.changed];
      this.changed.clear();
      if (this.merged) this.flushMerged(changed, owed);
      else this.flushPerKey(changed, owed);
    }
    this.snapshotted.clear();
  }

  /**
   * The owed keys a session can still be sent: it is open and subscribed to them, and the channel
   * still knows a value. Sorted, so that sessions owed the same keys get the same frame.
   */
  private stillOwed(session: ClientSession, slots: Set<string>, except?: ReadonlySet<string>): string[] {
    const subscription = session.subscriptions.get(this.name);
    if (session.closing || subscription === undefined) return [];
    return [...slots]
      .filter((slot) => this.latest.has(slot) && !except?.has(slot))
      .filter((slot) => subscription === "*" || slot === NO_KEY || subscription.has(slot))
      .sort();
  }

  /** Did this client's subscribe snapshot already carry the slot's current value? */
  private alreadySent(session: ClientSession, slot: string): boolean {
    if (this.snapshotted.size === 0) return false;
    const sent = this.snapshotted.get(session);
    return sent?.has(slot) === true && sent.get(slot) === this.latest.get(slot);
  }

  private get merged(): boolean {
    const { delivery } = this.channel.plugin;
    return delivery.mode === "conflate" && delivery.merge;
  }

  private flushPerKey(changed: string[], owed: Map<ClientSession, Set<string>>): void {
    const now = new Date();
    const frames = new Map<string, Buffer | undefined>();
    const frameOf = (slot: string) => {
      if (!frames.has(slot))
        frames.set(
          slot,
          this.build(() => this.channel.plugin.toFrame(this.latest.get(slot), now)),
        );
      return frames.get(slot);
    };
    for (const slot of changed) {
      const frame = frameOf(slot);
      if (!frame) continue;
      const mayReceive = this.audienceOf(this.latest.get(slot));
      this.index.forEachRecipient(this.name, slot === NO_KEY ? undefined : slot, (session) => {
        if (!mayReceive(session) || this.alreadySent(session, slot)) return;
        this.sendTo(session, frame, [slot]);
        // The latest value just went (or is owed anew): the old debt for it is settled.
        owed.get(session)?.delete(slot);
      });
    }
    for (const [session, slots] of owed) {
      for (const slot of this.stillOwed(session, slots)) {
        const frame = frameOf(slot);
        if (frame && this.audienceOf(this.latest.get(slot))(session)) this.sendTo(session, frame, [slot]);
      }
    }
  }

  private flushMerged(changed: string[], owed: Map<ClientSession, Set<string>>): void {
    const now = new Date();
    const { all, bySymbol } = this.index.subscribers(this.name);
    // Clients that want the same keys get the same bytes: frames are cached by their key list
    // (JSON-encoded, so no key can make two different lists look alike).
    // A frame that failed to build is remembered as null, so it is not tried once per client.
    const shared = new Map<string, Buffer | null>();
    const sendSlots = (session: ClientSession, slots: string[]) => {
      if (slots.length === 0) return;
      const cacheKey = JSON.stringify(slots);
      let frame = shared.get(cacheKey);
      if (frame === undefined) {
        frame = this.build(() => this.merge(slots, now)) ?? null;
        shared.set(cacheKey, frame);
      }
      if (frame) this.sendTo(session, frame, slots);
    };
    const changedSet = new Set(changed);
    let everything: Buffer | null | undefined;
    for (const session of all) {
      const debt = owed.get(session);
      if (debt) {
        owed.delete(session);
        const fresh = changed.filter((slot) => !this.alreadySent(session, slot));
        sendSlots(session, [...fresh, ...this.stillOwed(session, debt, changedSet)]);
      } else if (this.snapshotted.has(session)) {
        sendSlots(
          session,
          changed.filter((slot) => !this.alreadySent(session, slot)),
        );
      } else {
        if (everything === undefined) everything = this.build(() => this.merge(changed, now)) ?? null;
        if (everything) this.sendTo(session, everything, changed);
      }
    }
    const sendOwed = () => {
      for (const [session, debt] of owed) sendSlots(session, this.stillOwed(session, debt));
    };
    if (bySymbol.size === 0) {
      sendOwed();
      return;
    }
    // Which changed keys each symbol-subscribed client wants. `changed` has one order for
    // everybody, so two clients wanting the same keys get equal lists and share one frame.
    // A message about no key in particular is wanted by every subscriber.
    const wanted = new Map<ClientSession, string[]>();
    const want = (session: ClientSession, slot: string) => {
      if (this.alreadySent(session, slot)) return;
      const slots = wanted.get(session);
      if (slots) slots.push(slot);
      else wanted.set(session, [slot]);
    };
    for (const slot of changed) {
      if (slot === NO_KEY) {
        const everyone = new Set<ClientSession>();
        for (const sessions of bySymbol.values()) for (const session of sessions) everyone.add(session);
        for (const session of everyone) want(session, slot);
        continue;
      }
      const sessions = bySymbol.get(slot);
      if (sessions) for (const session of sessions) want(session, slot);
    }
    for (const [session, slots] of wanted) {
      const debt = owed.get(session);
      owed.delete(session);
      sendSlots(session, debt ? [...slots, ...this.stillOwed(session, debt, new Set(slots))] : slots);
    }
    sendOwed();
  }

  /** Queue a conflated frame; a frame skipped for a lagging client leaves it owed these keys. */
  private sendTo(session: ClientSession, frame: Buffer, slots: string[]): void {
    if (session.send(frame, false)) this.counters.framesOut++;
    else if (!session.closing) this.owed.owe(session, slots);
  }

  /** One merged frame from the latest message of each slot (the loader checked mergeFrames exists). */
  private merge(slots: string[], now: Date): unknown {
    const mergeFrames = this.channel.plugin.mergeFrames as NonNullable<
      LoadedChannel["plugin"]["mergeFrames"]
    >;
    return mergeFrames(
      slots.map((slot) => this.latest.get(slot)),
      now,
    );
  }
}
