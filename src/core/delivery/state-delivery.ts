/**
 * Longer than 250 lines: one state channel's books (state per key, the view clients see, what each
 * flush group and each lagging client holds) and the operations on them, which share that state.
 *
 * Delivery of a state channel (plugin.ts StatePlugin; DESIGN §9): per key (a symbol), the whole
 * state upstream sends, as a snapshot followed by sequenced deltas, and the view clients see of it
 * (an order book's top `depth` levels). Clients get a snapshot frame of the view, then update
 * frames that turn the view at `prev_sequence` into the view at `sequence`, each checksummed.
 *
 * - Sequencing: a delta must follow the key's last sequence. One at or below it (a redelivery),
 *   or before any snapshot, is ignored and counted; one past it (a gap) makes the key unusable:
 *   its subscribers are told in-band (`state_status`, stale, `upstream_gap`) and get nothing more
 *   for it until the next upstream snapshot, which goes to them as a snapshot frame.
 * - Positions are the upstream's sequences, and a frame's `sequence` is that of the last message
 *   that changed the view, or of the last upstream snapshot (one that changed nothing clients see
 *   still goes to them, as a snapshot frame): two gateways fed by one subject, even one started
 *   long after the other, send immediate clients the same frames from the newer one's first
 *   snapshot on (interval clients' updates are merged on each gateway's own timer).
 * - Immediate clients get one update per change of the view; a client that chose `interval_ms`
 *   is in the flush group of that interval, which sends one update per changed key per interval,
 *   the diff from the view the group last sent (or, for a client that subscribed since, from the
 *   view of its snapshot).
 * - A client that falls behind (its queue past WEBSOCKET_CONFLATED_DROP_BYTES) is skipped, never
 *   disconnected for this: once its queue is down to half of that, it gets a fresh snapshot of
 *   each key it missed, and continues from there. No client ever gets an update whose
 *   `prev_sequence` is not the last sequence it received for that key.
 */
import type { Logger } from "pino";
import type { ClientSession } from "../client-session.js";
import { encodeFrame } from "../frame-encoder.js";
import type { ChannelLatency } from "../latency/channel-latency.js";
import type { StageStamp } from "../latency/stage-stamp.js";
import type { StateChannel } from "../plugin.js";
import { isoNow, type SubscriptionStateView } from "../protocol.js";
import type { SubscriptionIndex } from "../subscription-index.js";
import type { Delivery, DeliveryCounters } from "./delivery.js";
import { FlushGroup } from "./flush-group.js";
import { FrameBuilder } from "./frame-builder.js";

/** How often lagging clients are looked at, to re-snapshot those whose queue has drained. */
const RESYNC_CHECK_MS = 100;

/** What a state channel counts beyond frames: upstream order and slow-client recoveries. */
export interface StateCounters extends DeliveryCounters {
  /** Deltas that skipped a sequence: the key was unusable until the next snapshot. */
  gaps: number;
  /** Messages at or below the key's last sequence: ignored. */
  redelivered: number;
  /** Deltas for a key with no snapshot yet: ignored. */
  beforeSnapshot: number;
  /** Deltas for a key waiting for a snapshot after a gap: ignored. */
  whileStale: number;
  /** Snapshots sent to clients that had fallen behind, once they drained. */
  resyncs: number;
}

/** One key's state and the view its clients were last sent. */
interface KeyBook {
  state: unknown;
  /** The last upstream sequence taken in. */
  sequence: number;
  /** False after a gap, until the next snapshot. */
  usable: boolean;
  /**
   * The view at `emitted` (the sequence of the last message that changed it, or of the last
   * upstream snapshot), and the message of that sequence.
   */
  view: unknown;
  checksum: number;
  emitted: number;
  emittedMessage: unknown;
  /** When the message of `emitted` was received and validated (timing on). */
  emittedStamp: StageStamp | undefined;
  /**
   * The snapshot frame of the view at `emitted`, built for the first client that needs it and
   * sent as it is to every other (a reset sends one to every subscriber; a resync, to each client
   * that fell behind). Dropped when the view moves on.
   */
  snapshotFrame?: Buffer;
}

/** A view some client holds: its sequence and the view itself (views are immutable). */
interface HeldView {
  sequence: number;
  view: unknown;
}

/** The clients that chose one interval, and what they hold. */
class StateGroup {
  readonly timer: FlushGroup;
  /** Per key, the view the group's last flush (or the key's last reset) left its clients with. */
  readonly base = new Map<string, HeldView>();
  /**
   * Clients that hold another view than the base: a snapshot since (a subscribe or a resync), or
   * an update the base did not get. Removed once they hold the base's again.
   */
  readonly personal = new Map<ClientSession, Map<string, HeldView>>();

  constructor(readonly intervalMs: number) {
    this.timer = new FlushGroup(intervalMs);
  }
}

export class StateDelivery implements Delivery {
  readonly counters: StateCounters = {
    framesOut: 0,
    keysEvicted: 0,
    framesFailed: 0,
    gaps: 0,
    redelivered: 0,
    beforeSnapshot: 0,
    whileStale: 0,
    resyncs: 0,
  };
  /** Every key's book, least recently updated first (bounded by maxKeys). */
  private readonly books = new Map<string, KeyBook>();
  private readonly groups = new Map<number, StateGroup>();
  /** Clients skipped for being behind, and the keys they are owed a snapshot of. */
  private readonly lagging = new Map<ClientSession, Set<string>>();
  private resyncTimer: NodeJS.Timeout | undefined;
  private started = false;
  private readonly builder: FrameBuilder;

  constructor(
    private readonly channel: StateChannel,
    private readonly index: SubscriptionIndex,
    private readonly logger: Logger,
    private readonly limits: {
      /** WEBSOCKET_MAX_CONFLATED_KEYS: the most keys the channel remembers. */
      maxKeys: number;
      /** WEBSOCKET_CONFLATED_DROP_BYTES: past it a client is skipped; at half of it, resynced. */
      dropBytes: number;
    },
    /** Per-stage timing (undefined with GATEWAY_TIMING=off). */
    private readonly timing?: ChannelLatency,
  ) {
    this.builder = new FrameBuilder(channel.plugin.name, this.counters, logger);
  }

  /** Build one frame of plugin code: a failure costs that frame only (frame-builder.ts). */
  private build(make: () => unknown): Buffer | undefined {
    return this.builder.build(make);
  }

  get name(): string {
    return this.channel.plugin.name;
  }

  start(): void {
    this.started = true;
    for (const group of this.groups.values()) this.startGroup(group);
    this.resyncTimer ??= setInterval(() => this.resyncDrained(), RESYNC_CHECK_MS);
    this.resyncTimer.unref();
  }

  stop(): void {
    this.started = false;
    for (const group of this.groups.values()) group.timer.stop();
    clearInterval(this.resyncTimer);
    this.resyncTimer = undefined;
  }

  /** A validated upstream message: a snapshot or a delta of one key. */
  accept(message: unknown, _position?: unknown, stamp?: StageStamp): void {
    const { plugin, settings } = this.channel;
    const { state: hooks } = plugin;
    const key = plugin.key(message, settings);
    const sequence = hooks.sequence(message);
    const book = this.books.get(key);
    if (hooks.isSnapshot(message)) {
      if (book !== undefined && sequence <= book.sequence) {
        this.counters.redelivered++;
        return;
      }
      const state = hooks.apply(undefined, message, settings);
      if (book?.usable && this.change(key, book, state, sequence, message, stamp)) return;
      // A first snapshot, one after a gap, or one that left the view as it was: every subscriber
      // starts again from it. The last case keeps instances in agreement: a gateway that starts
      // now starts at this snapshot's sequence, and one that has run for hours, whose clients last
      // heard of an earlier sequence (deltas below the view changed nothing they see), moves them
      // to the same one.
      this.reset(key, state, sequence, message, stamp);
      return;
    }
    if (book === undefined) {
      this.counters.beforeSnapshot++;
      return;
    }
    if (sequence <= book.sequence) {
      this.counters.redelivered++;
      return;
    }
    if (!book.usable) {
      this.counters.whileStale++;
      return;
    }
    if (sequence !== book.sequence + 1) {
      this.gap(key, book, sequence);
      return;
    }
    this.change(key, book, hooks.apply(book.state, message, settings), sequence, message, stamp);
  }

  /**
   * Send a client that just subscribed a snapshot of each key it asked for that has a usable
   * book, and tell it which asked-for keys are stale; it holds those views from now on. A client
   * whose interval changed must be sent every key it holds (its new group's base is not its own).
   */
  snapshot(session: ClientSession, symbols: SubscriptionStateView | "*"): void {
    const keys = symbols === "*" ? [...this.books.keys()] : symbols.filter((key) => this.books.has(key));
    const owed = this.lagging.get(session);
    for (const key of keys) {
      owed?.delete(key);
      const book = this.books.get(key) as KeyBook;
      if (book.usable) this.sendSnapshot(session, key, book);
      else session.send(this.staleFrame(key, book), true);
    }
    if (owed?.size === 0) this.lagging.delete(session);
    // Make sure the group of the interval the client chose exists and runs.
    const intervalMs = this.intervalOf(session);
    if (intervalMs !== undefined) this.groupFor(intervalMs);
  }

  /** The interval a client chose for this channel, or undefined for every change at once. */
  intervalOf(session: ClientSession): number | undefined {
    return session.intervals?.get(this.name);
  }

  /** Flush every interval group now (tests). */
  flush(): void {
    for (const group of this.groups.values()) this.flushGroup(group);
  }

  /**
   * The view changed (or may have): emit the update to immediate clients, and to groups later.
   * False when the view is as it was (nothing was sent; the book took the state and sequence in).
   */
  private change(
    key: string,
    book: KeyBook,
    state: unknown,
    sequence: number,
    message: unknown,
    stamp: StageStamp | undefined,
  ): boolean {
    const { state: hooks } = this.channel.plugin;
    const { settings } = this.channel;
    book.state = state;
    book.sequence = sequence;
    this.touch(key, book);
    const view = hooks.view(state, settings);
    const changes = hooks.diff(book.view, view, settings);
    if (changes === undefined) return false;
    const prevSequence = book.emitted;
    book.snapshotFrame = undefined;
    book.view = view;
    book.checksum = hooks.checksum(view, settings);
    book.emitted = sequence;
    book.emittedMessage = message;
    book.emittedStamp = stamp;
    for (const group of this.groups.values()) group.timer.changed.add(key);
    const frame = this.build(() =>
      this.channel.plugin.toUpdate(
        key,
        changes,
        { sequence, prevSequence, checksum: book.checksum },
        message,
        settings,
      ),
    );
    if (frame === undefined) return true;
    const queuedAt = stamp === undefined ? 0 : (this.timing?.now() ?? 0);
    let queued = false;
    this.index.forEachRecipient(this.name, key, (session) => {
      if (this.intervalOf(session) === undefined && this.sendUpdate(session, key, frame, stamp))
        queued = true;
    });
    // Once per frame, however many clients it went to; immediate: it waited for no interval.
    if (queued && stamp !== undefined) this.timing?.queued(stamp, queuedAt, false);
    return true;
  }

  /**
   * A first snapshot, one after a gap, or one that left the view as it was: every subscriber
   * starts again from it.
   */
  private reset(
    key: string,
    state: unknown,
    sequence: number,
    message: unknown,
    stamp: StageStamp | undefined,
  ): void {
    const { state: hooks } = this.channel.plugin;
    const { settings } = this.channel;
    const view = hooks.view(state, settings);
    const book: KeyBook = {
      state,
      sequence,
      usable: true,
      view,
      checksum: hooks.checksum(view, settings),
      emitted: sequence,
      emittedMessage: message,
      emittedStamp: stamp,
    };
    this.touch(key, book);
    for (const group of this.groups.values()) {
      group.base.set(key, { sequence, view });
      group.timer.changed.delete(key);
      for (const held of group.personal.values()) held.delete(key);
    }
    const queuedAt = stamp === undefined ? 0 : (this.timing?.now() ?? 0);
    let queued = false;
    this.index.forEachRecipient(this.name, key, (session) => {
      this.lagging.get(session)?.delete(key);
      if (this.sendSnapshot(session, key, book)) queued = true;
    });
    if (queued && stamp !== undefined) this.timing?.queued(stamp, queuedAt, false);
  }

  /** A delta skipped a sequence: the key is unusable until the next snapshot, and its clients know. */
  private gap(key: string, book: KeyBook, sequence: number): void {
    this.counters.gaps++;
    this.logger.warn(
      { channel: this.name, key, expected: book.sequence + 1, got: sequence },
      "state channel gap: the key waits for the next upstream snapshot",
    );
    book.usable = false;
    book.state = undefined;
    book.snapshotFrame = undefined;
    for (const group of this.groups.values()) {
      group.base.delete(key);
      group.timer.changed.delete(key);
    }
    const frame = this.staleFrame(key, book);
    this.index.forEachRecipient(this.name, key, (session) => {
      this.lagging.get(session)?.delete(key);
      session.send(frame, true);
    });
  }

  /** Keep the book most recently updated last; forget the stalest past the key limit. */
  private touch(key: string, book: KeyBook): void {
    this.books.delete(key);
    this.books.set(key, book);
    if (this.books.size <= this.limits.maxKeys) return;
    const stalest = this.books.keys().next().value as string;
    this.books.delete(stalest);
    this.counters.keysEvicted++;
    for (const group of this.groups.values()) {
      group.base.delete(stalest);
      group.timer.changed.delete(stalest);
    }
  }

  /** True when the snapshot was queued (the frame of the book's view, shared: KeyBook.snapshotFrame). */
  private sendSnapshot(session: ClientSession, key: string, book: KeyBook): boolean {
    const { plugin, settings } = this.channel;
    book.snapshotFrame ??= this.build(() =>
      plugin.toSnapshot(
        key,
        book.view,
        { sequence: book.emitted, checksum: book.checksum },
        book.emittedMessage,
        settings,
      ),
    );
    const frame = book.snapshotFrame;
    if (frame === undefined) return false;
    if (!this.sendData(session, frame, book.emittedStamp)) {
      if (!session.closing) this.owe(session, key);
      return false;
    }
    this.counters.framesOut++;
    // A client with an interval holds this view until its group's next flush brings it on.
    const intervalMs = this.intervalOf(session);
    if (intervalMs === undefined) return true;
    const group = this.groupFor(intervalMs);
    if (group.base.get(key)?.sequence === book.emitted) {
      group.personal.get(session)?.delete(key);
      return true;
    }
    let held = group.personal.get(session);
    if (held === undefined) {
      held = new Map();
      group.personal.set(session, held);
    }
    held.set(key, { sequence: book.emitted, view: book.view });
    return true;
  }

  /** A data frame, with gw_rx and gw_tx for a client that subscribed with timing. */
  private sendData(session: ClientSession, frame: Buffer, stamp: StageStamp | undefined): boolean {
    return stamp !== undefined && session.timing?.has(this.name)
      ? session.sendTimed(frame, false, stamp.rx)
      : session.send(frame, false);
  }

  /** An update to a client, unless it is behind on the key (it is owed a snapshot instead). */
  /** True when the update went out; a client behind on the key is owed a snapshot instead. */
  private sendUpdate(
    session: ClientSession,
    key: string,
    frame: Buffer,
    stamp: StageStamp | undefined,
  ): boolean {
    if (this.lagging.get(session)?.has(key)) return false;
    if (this.sendData(session, frame, stamp)) {
      this.counters.framesOut++;
      return true;
    }
    if (!session.closing) this.owe(session, key);
    return false;
  }

  private owe(session: ClientSession, key: string): void {
    let owed = this.lagging.get(session);
    if (owed === undefined) {
      owed = new Set();
      this.lagging.set(session, owed);
    }
    owed.add(key);
  }

  /** Clients behind on some keys whose queue has drained get a fresh snapshot of each. */
  private resyncDrained(): void {
    for (const [session, owed] of this.lagging) {
      if (session.closing) {
        this.lagging.delete(session);
        continue;
      }
      if (session.socket.bufferedAmount + session.pendingBytes > this.limits.dropBytes / 2) continue;
      this.lagging.delete(session);
      const subscription = session.subscriptions.get(this.name);
      for (const key of owed) {
        const book = this.books.get(key);
        if (book === undefined || !book.usable || subscription === undefined) continue;
        if (subscription !== "*" && !subscription.has(key)) continue;
        this.counters.resyncs++;
        this.sendSnapshot(session, key, book);
      }
    }
  }

  private groupFor(intervalMs: number): StateGroup {
    let group = this.groups.get(intervalMs);
    if (group === undefined) {
      group = new StateGroup(intervalMs);
      for (const [key, book] of this.books)
        if (book.usable) group.base.set(key, { sequence: book.emitted, view: book.view });
      this.groups.set(intervalMs, group);
      if (this.started) this.startGroup(group);
    }
    return group;
  }

  private startGroup(group: StateGroup): void {
    group.timer.start(() => {
      try {
        this.flushGroup(group);
      } catch (error) {
        this.logger.error({ err: error, channel: this.name }, "state flush failed");
      }
    });
  }

  /**
   * One update per changed key to the group's clients: the diff from what each holds (the group's
   * base, or a newer snapshot of its own), built once per distinct starting view.
   */
  private flushGroup(group: StateGroup): void {
    const { plugin, settings } = this.channel;
    const keys = [...group.timer.changed];
    group.timer.changed.clear();
    const inGroup = (session: ClientSession) => this.intervalOf(session) === group.intervalMs;
    const flushStartedAt = this.timing?.now() ?? 0;
    for (const key of keys) {
      const book = this.books.get(key);
      const base = group.base.get(key);
      if (book === undefined || !book.usable || base === undefined) continue;
      const current: HeldView = { sequence: book.emitted, view: book.view };
      const frames = new Map<number, Buffer | undefined>();
      const frameFrom = (held: HeldView): Buffer | undefined => {
        if (!frames.has(held.sequence)) {
          const changes = plugin.state.diff(held.view, book.view, settings);
          const position = { sequence: book.emitted, prevSequence: held.sequence, checksum: book.checksum };
          frames.set(
            held.sequence,
            changes === undefined
              ? undefined
              : this.build(() => plugin.toUpdate(key, changes, position, book.emittedMessage, settings)),
          );
        }
        return frames.get(held.sequence);
      };
      // What each client holds after this flush: the current view if it was sent the update, else
      // what it held. A view that changed and changed back within the interval sends nothing, so
      // its clients still hold the old sequence: the base moves only when the update went out.
      const holds = new Map<ClientSession, HeldView>();
      // Starting views whose update went to at least one client: one observation each.
      const queued = new Set<number>();
      this.index.forEachRecipient(this.name, key, (session) => {
        if (!inGroup(session)) return;
        const held = group.personal.get(session)?.get(key) ?? base;
        const frame = held.sequence === book.emitted ? undefined : frameFrom(held);
        const sent = frame !== undefined && this.sendUpdate(session, key, frame, book.emittedStamp);
        if (sent) queued.add(held.sequence);
        holds.set(session, sent ? current : held);
      });
      if (book.emittedStamp !== undefined)
        for (const _frame of queued) this.timing?.queued(book.emittedStamp, flushStartedAt, true);
      const next = base.sequence === book.emitted || frameFrom(base) !== undefined ? current : base;
      group.base.set(key, next);
      for (const [session, held] of holds) {
        let own = group.personal.get(session);
        if (held.sequence === next.sequence) own?.delete(key);
        else {
          if (own === undefined) {
            own = new Map();
            group.personal.set(session, own);
          }
          own.set(key, held);
        }
      }
    }
    // Forget what clients that left the group (or the key) held.
    for (const [session, held] of group.personal) {
      const subscription = session.subscriptions.get(this.name);
      if (session.closing || subscription === undefined || !inGroup(session)) group.personal.delete(session);
      else if (subscription !== "*")
        for (const key of held.keys()) if (!subscription.has(key)) held.delete(key);
      if (held.size === 0) group.personal.delete(session);
    }
    if (this.countMembers(inGroup) === 0) {
      group.timer.stop();
      this.groups.delete(group.intervalMs);
    }
  }

  private countMembers(inGroup: (session: ClientSession) => boolean): number {
    const { all, bySymbol } = this.index.subscribers(this.name);
    for (const session of all) if (inGroup(session)) return 1;
    for (const sessions of bySymbol.values()) for (const session of sessions) if (inGroup(session)) return 1;
    return 0;
  }

  /** `state_status`: the key's view is not current; a snapshot follows when upstream sends one. */
  private staleFrame(key: string, book: KeyBook): Buffer {
    return encodeFrame({
      type: "state_status",
      channel: this.name,
      symbol: key,
      status: "stale",
      reason: "upstream_gap",
      sequence: book.emitted,
      timestamp: isoNow(),
    });
  }
}
