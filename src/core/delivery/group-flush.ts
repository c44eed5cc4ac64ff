/**
 * The two ways a flush group of a conflated channel is flushed (ConflatedDelivery decides which):
 *
 * - per key: one frame per changed key, the same bytes to every client of the group that wants it;
 * - merged: one frame per client holding only the changed keys it wants; clients that want the
 *   same keys share the same bytes, and "*" subscribers all share one frame.
 *
 * Both also pay what lagging clients of the group are owed (OwedKeys), and skip what a subscribe
 * snapshot already gave a client in this interval.
 */
import type { ClientSession } from "../client-session.js";
import type { AnyPlugin, PluginSettings } from "../plugin.js";
import type { SubscriptionIndex } from "../subscription-index.js";
import type { Audience } from "./audience.js";
import type { FlushGroup } from "./flush-group.js";

/** Key under which conflation keeps messages that are about no key in particular. */
export const NO_KEY = "\u0000";

/** What a flush needs of its channel (ConflatedDelivery). */
export interface FlushTarget {
  readonly name: string;
  readonly plugin: AnyPlugin;
  /** The plugin's settings, which its hooks receive last. */
  readonly settings: PluginSettings;
  readonly index: SubscriptionIndex;
  /** Latest message per key. */
  readonly latest: ReadonlyMap<string, unknown>;
  /** Build and encode a frame; undefined (and counted) when the plugin cannot. */
  build(make: () => unknown): Buffer | undefined;
  /** One merged frame from the latest message of each slot. */
  merge(slots: string[], now: Date): unknown;
  audienceOf(message: unknown): Audience;
  /** The owed keys a session can still be sent, sorted; without `except`. */
  stillOwed(session: ClientSession, slots: Set<string>, except?: ReadonlySet<string>): string[];
  /** Queue a frame; one skipped for a lagging client leaves it owed these keys. True: queued. */
  sendTo(session: ClientSession, frame: Buffer, slots: string[]): boolean;
  /**
   * The frame of these keys went to at least one client in this flush: said once per frame, not
   * per client (latency-recorder.ts).
   */
  frameQueued(slots: string[]): void;
}

export function flushPerKey(
  channel: FlushTarget,
  group: FlushGroup,
  changed: string[],
  owed: Map<ClientSession, Set<string>>,
  inGroup: (session: ClientSession) => boolean,
): void {
  const now = new Date();
  const frames = new Map<string, Buffer | undefined>();
  const frameOf = (slot: string) => {
    if (!frames.has(slot))
      frames.set(
        slot,
        channel.build(() => channel.plugin.toFrame(channel.latest.get(slot), now, channel.settings)),
      );
    return frames.get(slot);
  };
  const queued = new Set<string>();
  for (const slot of changed) {
    const frame = frameOf(slot);
    if (!frame) continue;
    const mayReceive = channel.audienceOf(channel.latest.get(slot));
    const message = channel.latest.get(slot);
    let sent = false;
    channel.index.forEachRecipient(channel.name, slot === NO_KEY ? undefined : slot, (session) => {
      if (!inGroup(session) || !mayReceive(session) || group.alreadySent(session, slot, message)) return;
      if (channel.sendTo(session, frame, [slot])) sent = true;
      // The latest value just went (or is owed anew): the old debt for it is settled.
      owed.get(session)?.delete(slot);
    });
    if (sent) queued.add(slot);
  }
  for (const [session, slots] of owed) {
    for (const slot of channel.stillOwed(session, slots)) {
      const frame = frameOf(slot);
      if (
        frame &&
        channel.audienceOf(channel.latest.get(slot))(session) &&
        channel.sendTo(session, frame, [slot])
      )
        queued.add(slot);
    }
  }
  for (const slot of queued) channel.frameQueued([slot]);
}

export function flushMerged(
  channel: FlushTarget,
  group: FlushGroup,
  changed: string[],
  owed: Map<ClientSession, Set<string>>,
  inGroup: (session: ClientSession) => boolean,
): void {
  const now = new Date();
  const alreadySent = (session: ClientSession, slot: string) =>
    group.alreadySent(session, slot, channel.latest.get(slot));
  const { all, bySymbol } = channel.index.subscribers(channel.name);
  // Clients that want the same keys get the same bytes: frames are cached by their key list
  // (JSON-encoded, so no key can make two different lists look alike).
  // A frame that failed to build is remembered as null, so it is not tried once per client.
  // Whether it went to anybody is kept with the frame, to be said once per frame at the end.
  const shared = new Map<string, { frame: Buffer | null; slots: string[]; queued: boolean }>();
  const sendSlots = (session: ClientSession, slots: string[]) => {
    if (slots.length === 0) return;
    const cacheKey = JSON.stringify(slots);
    let built = shared.get(cacheKey);
    if (built === undefined) {
      built = { frame: channel.build(() => channel.merge(slots, now)) ?? null, slots, queued: false };
      shared.set(cacheKey, built);
    }
    if (built.frame && channel.sendTo(session, built.frame, slots)) built.queued = true;
  };
  const settle = () => {
    if (everythingQueued) channel.frameQueued(changed);
    for (const { slots, queued } of shared.values()) if (queued) channel.frameQueued(slots);
  };
  let everything: Buffer | null | undefined;
  let everythingQueued = false;
  for (const session of all) {
    if (!inGroup(session)) continue;
    const debt = owed.get(session);
    if (debt) {
      owed.delete(session);
      const fresh = changed.filter((slot) => !alreadySent(session, slot));
      // Owed keys beyond the fresh ones: a key whose snapshot was recorded but skipped (the
      // client was lagging) is both "already sent" and owed, and must still go.
      sendSlots(session, [...fresh, ...channel.stillOwed(session, debt, new Set(fresh))]);
    } else if (group.snapshotted.has(session)) {
      sendSlots(
        session,
        changed.filter((slot) => !alreadySent(session, slot)),
      );
    } else if (changed.length > 0) {
      if (everything === undefined) everything = channel.build(() => channel.merge(changed, now)) ?? null;
      if (everything && channel.sendTo(session, everything, changed)) everythingQueued = true;
    }
  }
  const sendOwed = () => {
    for (const [session, debt] of owed) sendSlots(session, channel.stillOwed(session, debt));
  };
  if (bySymbol.size === 0) {
    sendOwed();
    settle();
    return;
  }
  // Which changed keys each symbol-subscribed client wants. `changed` has one order for
  // everybody, so two clients wanting the same keys get equal lists and share one frame.
  // A message about no key in particular is wanted by every subscriber.
  const wanted = new Map<ClientSession, string[]>();
  const want = (session: ClientSession, slot: string) => {
    if (!inGroup(session) || alreadySent(session, slot)) return;
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
    sendSlots(session, debt ? [...slots, ...channel.stillOwed(session, debt, new Set(slots))] : slots);
  }
  sendOwed();
  settle();
}
