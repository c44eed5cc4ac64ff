/**
 * Longer than 250 lines: one channel's conflation state (latest values, owed keys, flush groups)
 * and the operations on it, which share that state; the flush algorithms are in group-flush.ts.
 *
 * Delivery of one conflated channel's valid messages to its subscribers, by the plugin's policy
 * (immediate channels have LosslessDelivery):
 *
 * - conflate, per key: the latest message per key, one frame per changed key each interval;
 * - conflate, merged: the latest message per key, and each interval one frame per client holding
 *   only the changed keys it wants. Clients that want the same keys share the same bytes.
 *
 * Frames are encoded once per distinct content, never once per client. Clients are flushed in
 * groups of one interval (FlushGroup): the channel's, or the one a client chose with
 * `interval_ms`, widened while the client is degraded (`intervalOf`).
 *
 * On an account-scoped channel (the plugin has `account`), a client whose token does not list a
 * message's account never gets that message: not live, not in a snapshot.
 */
import type { Logger } from "pino";
import type { ClientSession } from "../client-session.js";
import type { ChannelLatency } from "../latency/channel-latency.js";
import { earliest, type StageStamp } from "../latency/stage-stamp.js";
import type { ConflatedChannel } from "../plugin.js";
import type { SubscriptionStateView } from "../protocol.js";
import type { SubscriptionIndex } from "../subscription-index.js";
import { type Audience, audienceOf } from "./audience.js";
import type { Delivery, DeliveryCounters } from "./delivery.js";
import { FlushGroup } from "./flush-group.js";
import { FrameBuilder } from "./frame-builder.js";
import { type FlushTarget, flushMerged, flushPerKey, NO_KEY } from "./group-flush.js";
import { OwedKeys } from "./owed-keys.js";

export class ConflatedDelivery implements Delivery, FlushTarget {
  readonly counters: DeliveryCounters = { framesOut: 0, keysEvicted: 0, framesFailed: 0 };
  private readonly builder: FrameBuilder;
  /**
   * Conflation state: latest message per key, least recently updated first (bounded by
   * maxConflatedKeys).
   */
  readonly latest = new Map<string, unknown>();
  /** One group per interval in force, by interval; the channel's own is always there. */
  private readonly groups = new Map<number, FlushGroup>();
  /** Keys whose frames were skipped for lagging clients: their next flush carries them. */
  private readonly owed = new OwedKeys();
  /** When the latest message of each key was received and validated (timing on). */
  private readonly stamps = new Map<string, StageStamp>();
  /** When the group flush under way began: its frames were queued then (timing on). */
  private flushStartedAt = 0;
  private started = false;

  constructor(
    private readonly channel: ConflatedChannel,
    readonly index: SubscriptionIndex,
    private readonly logger: Logger,
    private readonly maxConflatedKeys: number,
    /** Per-stage timing (undefined with GATEWAY_TIMING=off). */
    private readonly timing?: ChannelLatency,
  ) {
    this.builder = new FrameBuilder(channel.plugin.name, this.counters, logger);
  }

  get name(): string {
    return this.channel.plugin.name;
  }

  get plugin(): ConflatedChannel["plugin"] {
    return this.channel.plugin;
  }

  get settings(): ConflatedChannel["settings"] {
    return this.channel.settings;
  }

  /** The channel's own interval (the plugin's delivery.intervalMs, resolved at load). */
  get defaultIntervalMs(): number {
    return this.channel.intervalMs;
  }

  /** The interval in force for a client: the one it chose, or the channel's, widened while degraded. */
  intervalOf(session: ClientSession): number {
    const chosen = session.intervals?.get(this.name) ?? this.defaultIntervalMs;
    return chosen * session.degradeFactor;
  }

  start(): void {
    this.started = true;
    this.groupFor(this.defaultIntervalMs);
  }

  stop(): void {
    this.started = false;
    for (const group of this.groups.values()) group.stop();
  }

  /**
   * Change what decides a client's interval (its choice, its degradation) through `change`, and
   * move it to the group of its new interval: it is owed what changed for it in the old group
   * since that group's last flush, so the move loses nothing. Groups nobody is in any more are
   * removed at their next flush.
   */
  move(session: ClientSession, change: () => void): void {
    const before = this.intervalOf(session);
    change();
    this.moveFrom(session, before);
  }

  /** The client's interval was `before` and may have changed: move it to its new group. */
  moveFrom(session: ClientSession, before: number): void {
    const after = this.intervalOf(session);
    if (after === before) return;
    const pending = this.groups.get(before)?.changed;
    if (pending && pending.size > 0) this.owed.owe(session, pending);
    this.groupFor(after);
  }

  private groupFor(intervalMs: number): FlushGroup {
    let group = this.groups.get(intervalMs);
    if (!group) {
      group = new FlushGroup(intervalMs);
      this.groups.set(intervalMs, group);
    }
    if (this.started) group.start(() => this.flushGroupSafely(group));
    return group;
  }

  private flushGroupSafely(group: FlushGroup): void {
    // A plugin whose toFrame throws on some data must not take the timer (or the process) down.
    try {
      this.flushGroup(group);
      if (group.intervalMs !== this.defaultIntervalMs && this.countMembers(this.inGroup(group)) === 0) {
        group.stop();
        this.groups.delete(group.intervalMs);
      }
    } catch (error) {
      this.logger.error(
        { err: error, channel: this.name },
        "conflation flush failed; keys of this interval dropped",
      );
    }
  }

  /** A validated inbound message. */
  accept(message: unknown, _position?: unknown, stamp?: StageStamp): void {
    const { plugin } = this.channel;
    // Build the frame and ask its account once now, so that a message the plugin cannot render
    // (or place) is rejected at ingest (counted as plugin_error) instead of breaking every later
    // flush and snapshot while it is its key's latest value.
    plugin.toFrame(message, new Date(), this.settings);
    plugin.account?.(message, this.settings);
    const slot = plugin.key(message, this.settings) ?? NO_KEY;
    // Re-insert so that iteration order follows recency: the first key is the stalest.
    this.latest.delete(slot);
    this.latest.set(slot, message);
    if (stamp !== undefined) this.stamps.set(slot, stamp);
    for (const group of this.groups.values()) group.changed.add(slot);
    if (this.latest.size > this.maxConflatedKeys) this.evictStalest();
  }

  audienceOf(message: unknown): Audience {
    return audienceOf(this.channel, message);
  }

  /** Upstream keeps inventing keys (symbols, accounts): forget the one not updated for longest. */
  private evictStalest(): void {
    const stalest = this.latest.keys().next().value as string;
    this.latest.delete(stalest);
    this.stamps.delete(stalest);
    for (const group of this.groups.values()) group.changed.delete(stalest);
    this.counters.keysEvicted++;
  }

  /** Send a newly subscribed client the latest known values of what it just subscribed to. */
  snapshot(session: ClientSession, symbols: SubscriptionStateView | "*"): void {
    if (this.latest.size === 0) return;
    const slots = (
      symbols === "*" ? [...this.latest.keys()] : symbols.filter((symbol) => this.latest.has(symbol))
    ).filter((slot) => this.snapshotAllowed(session, slot));
    if (slots.length === 0) return;
    const now = new Date();
    const group = this.groupFor(this.intervalOf(session));
    for (const slot of slots) {
      if (group.changed.has(slot)) group.recordSnapshot(session, slot, this.latest.get(slot));
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
      const frame = this.build(() => this.channel.plugin.toFrame(this.latest.get(slot), now, this.settings));
      this.sendBuilt(session, frame, [slot]);
    }
  }

  /**
   * May the session's snapshot carry this key? A plugin whose `account` throws on the value costs
   * that key (counted as a failed frame), never the subscribe or the connect that asked.
   */
  private snapshotAllowed(session: ClientSession, slot: string): boolean {
    try {
      return this.audienceOf(this.latest.get(slot))(session);
    } catch (error) {
      this.build(() => {
        throw error;
      });
      return false;
    }
  }

  /**
   * Build and encode one frame. Plugin code runs here (toFrame, mergeFrames), and it may throw or
   * return what JSON cannot hold (a BigInt, a cycle): that costs this frame and a counted error
   * (gateway_frames_failed_total), never the flush, the connection or the process.
   */
  build(make: () => unknown): Buffer | undefined {
    return this.builder.build(make);
  }

  private sendBuilt(session: ClientSession, frame: Buffer | undefined, slots: string[]): void {
    if (frame) this.sendTo(session, frame, slots);
  }

  /**
   * Flush every group now, whatever their timers say. For tests, which would otherwise wait an
   * interval; shutdown does not flush (clients are told to go, and resume elsewhere).
   */
  flush(): void {
    for (const group of [...this.groups.values()]) this.flushGroup(group);
  }

  private inGroup(group: FlushGroup): (session: ClientSession) => boolean {
    return (session) => this.intervalOf(session) === group.intervalMs;
  }

  /** Flush the keys changed for one group since its last flush, and what its clients are owed. */
  private flushGroup(group: FlushGroup): void {
    const inGroup = this.inGroup(group);
    if (this.timing !== undefined) this.flushStartedAt = this.timing.now();
    const owed = this.owed.takeWhere(inGroup);
    const changed = [...group.changed];
    group.changed.clear();
    if (this.merged) flushMerged(this, group, changed, owed, inGroup);
    else flushPerKey(this, group, changed, owed, inGroup);
    group.snapshotted.clear();
  }

  /**
   * The owed keys a session can still be sent: it is open and subscribed to them, and the channel
   * still knows a value. Sorted, so that sessions owed the same keys get the same frame.
   */
  stillOwed(session: ClientSession, slots: Set<string>, except?: ReadonlySet<string>): string[] {
    const subscription = session.subscriptions.get(this.name);
    if (session.closing || subscription === undefined) return [];
    return [...slots]
      .filter((slot) => this.latest.has(slot) && !except?.has(slot))
      .filter((slot) => subscription === "*" || slot === NO_KEY || subscription.has(slot))
      .sort();
  }

  private get merged(): boolean {
    return this.channel.merge;
  }

  /** How many subscribers are in a group (a group nobody is in is removed). */
  private countMembers(inGroup: (session: ClientSession) => boolean): number {
    let members = 0;
    const { all, bySymbol } = this.index.subscribers(this.name);
    for (const session of all) if (inGroup(session)) members++;
    const counted = new Set<ClientSession>();
    for (const sessions of bySymbol.values()) {
      for (const session of sessions) {
        if (counted.has(session) || !inGroup(session)) continue;
        counted.add(session);
        members++;
      }
    }
    return members;
  }

  /** Queue a conflated frame; a frame skipped for a lagging client leaves it owed these keys. */
  sendTo(session: ClientSession, frame: Buffer, slots: string[]): boolean {
    if (session.timing?.has(this.name) ? this.sendTimed(session, frame, slots) : session.send(frame, false)) {
      this.counters.framesOut++;
      if (this.owed.size > 0) this.owed.settle(session, slots);
      return true;
    }
    if (!session.closing) this.owed.owe(session, slots);
    return false;
  }

  /** A frame to a client that asked for timing: gw_rx is that of the oldest message it carries. */
  private sendTimed(session: ClientSession, frame: Buffer, slots: string[]): boolean {
    const stamp = earliest(slots.map((slot) => this.stamps.get(slot)));
    return stamp === undefined ? session.send(frame, false) : session.sendTimed(frame, false, stamp.rx);
  }

  /**
   * A frame of these keys went out in the flush under way: observed once, as the oldest message
   * it carries, waited since it was validated until the flush began (latency-recorder.ts).
   */
  frameQueued(slots: string[]): void {
    if (this.timing === undefined) return;
    const stamp = earliest(slots.map((slot) => this.stamps.get(slot)));
    if (stamp !== undefined) this.timing.queued(stamp, this.flushStartedAt, true);
  }

  /** One merged frame from the latest message of each slot (the loader checked mergeFrames exists). */
  merge(slots: string[], now: Date): unknown {
    const mergeFrames = this.channel.plugin.mergeFrames as NonNullable<
      ConflatedChannel["plugin"]["mergeFrames"]
    >;
    return mergeFrames(
      slots.map((slot) => this.latest.get(slot)),
      now,
      this.settings,
    );
  }
}
