/**
 * The gateway's latency figures: every channel's stage histograms (channel-latency.ts), the rolling
 * window they share (WINDOW_SLOTS slots of SLOT_MS, so the last minute), and the frames queued
 * since the last socket flush, which that flush settles.
 *
 * Once per frame per flush, not once per client: a delivery reports a frame with `queued` once,
 * when it went to at least one client, however many it went to; the OutboundWriter calls `written`
 * once per flush, after its writes, and every frame queued since is observed with that time. A
 * frame written to 1,000 clients by one flush is one observation, and the hot loop over clients
 * carries no timing work at all. Pending frames are kept in two reused arrays: nothing is allocated
 * per frame once they have grown.
 *
 * Off (GATEWAY_TIMING=off, a benchmark switch) the gateway builds no recorder at all.
 */
import type { ChannelKind } from "../plugin.js";
import { ChannelLatency } from "./channel-latency.js";
import { quantileMs } from "./histogram-buckets.js";
import type { ChannelLatencyReport, LatencyDocument, SeriesPoint, StageFigures } from "./latency-document.js";
import { StageClock } from "./stage-clock.js";
import { StageHistogram } from "./stage-histogram.js";
import type { StageStamp } from "./stage-stamp.js";

/** One slot of the rolling window. */
export const SLOT_MS = 5000;
/** Slots in the rolling window: SLOT_MS x WINDOW_SLOTS is the minute the endpoint reports. */
export const WINDOW_SLOTS = 12;

export class LatencyRecorder {
  readonly clock = new StageClock();
  /**
   * Every socket flush's duration, from its first write to the end of its last (all channels):
   * the part of the queue stage that grows with the clients a flush writes to. With `socketWrites`
   * it gives the cost of one socket write, the floor under the hop of a flush's last client.
   */
  readonly flushes = new StageHistogram(1); // /metrics only: no rolling window of its own
  /** Socket writes made by flushes since start (one per client per flush). */
  socketWrites = 0;
  private readonly channels = new Map<string, ChannelLatency>();
  /** Frames queued since the last flush: their channel, and rx, validated, queued, waited (0 or 1). */
  private pendingChannels: ChannelLatency[] = [];
  private pendingStamps: number[] = [];
  private slot = 0;
  /** Slots that have begun since start, up to WINDOW_SLOTS. */
  private slotsUsed = 1;
  /** When the current slot ends: in stage-clock time, and as wall-clock ms (a multiple of SLOT_MS). */
  private slotEnd: number;
  private slotEndWallMs: number;

  constructor() {
    const now = this.clock.now();
    const wall = this.clock.wallMs(now);
    this.slotEndWallMs = Math.floor(wall / SLOT_MS) * SLOT_MS + SLOT_MS;
    this.slotEnd = now + (this.slotEndWallMs - wall);
  }

  /** A channel's histograms (made on first use). */
  channel(name: string, kind: ChannelKind, publishedAt: boolean): ChannelLatency {
    let channel = this.channels.get(name);
    if (channel === undefined) {
      channel = new ChannelLatency(this, name, kind, publishedAt, WINDOW_SLOTS);
      this.channels.set(name, channel);
    }
    return channel;
  }

  all(): Iterable<ChannelLatency> {
    return this.channels.values();
  }

  /** The upstream's publish time of a message just received, in wall-clock ms (fractional). */
  upstreamLag(channel: ChannelLatency, rx: number, publishedWallMs: number): void {
    this.advance(rx);
    const lag = this.clock.wallMs(rx) - publishedWallMs;
    // A publisher whose clock runs ahead of ours gives a negative lag: it counts as none.
    channel.lag.observe(Math.max(lag, 0), this.slot);
  }

  /**
   * A frame built from the message of `stamp` went to at least one client's outbound queue at
   * `queuedAt`; `waited` when it was held for an interval flush (conflated, state by interval).
   */
  queued(channel: ChannelLatency, stamp: StageStamp, queuedAt: number, waited: boolean): void {
    this.pendingChannels.push(channel);
    this.pendingStamps.push(stamp.rx, stamp.validated, queuedAt, waited ? 1 : 0);
  }

  /**
   * A flush that began at `started` wrote `writes` sockets, every frame queued since the last one
   * among them, by `at`: the flush is observed, and each frame once, at `at`.
   */
  written(started: number, at: number, writes: number): void {
    this.advance(at);
    if (writes > 0) {
      this.flushes.observe(at - started, 0);
      this.socketWrites += writes;
    }
    const channels = this.pendingChannels;
    if (channels.length === 0) return;
    const stamps = this.pendingStamps;
    const slot = this.slot;
    for (let frame = 0; frame < channels.length; frame++) {
      const channel = channels[frame] as ChannelLatency;
      const base = frame * 4;
      const rx = stamps[base] as number;
      const validated = stamps[base + 1] as number;
      const queued = stamps[base + 2] as number;
      // The conflation wait is the interval doing its job, not latency the gateway adds: kept
      // out of the hop, and in a histogram of its own.
      const waited = stamps[base + 3] === 1;
      const wait = waited ? Math.max(0, queued - validated) : 0;
      if (waited) channel.wait.observe(wait, slot);
      channel.hop.observe(at - rx - wait, slot);
      channel.queue.observe(at - queued, slot);
    }
    channels.length = 0;
    stamps.length = 0;
  }

  /** The last minute, per channel, for GET /websocket/latency. */
  report(): LatencyDocument {
    const now = this.clock.now();
    this.advance(now);
    const nowWall = this.clock.wallMs(now);
    const channels: Record<string, ChannelLatencyReport> = {};
    for (const channel of this.channels.values()) {
      channels[channel.name] = {
        kind: channel.kind,
        hop: figures(channel.hop.window()),
        queue: figures(channel.queue.window()),
        conflation_wait: channel.conflates ? figures(channel.wait.window()) : null,
        upstream_lag: channel.hasUpstreamTime ? figures(channel.lag.window()) : null,
        series: this.series(channel, nowWall),
      };
    }
    return {
      window_seconds: (SLOT_MS * WINDOW_SLOTS) / 1000,
      bucket_seconds: SLOT_MS / 1000,
      timestamp: new Date(nowWall).toISOString(),
      channels,
    };
  }

  /** Oldest slot first; the slot under way ends now. */
  private series(channel: ChannelLatency, nowWall: number): SeriesPoint[] {
    const points: SeriesPoint[] = [];
    for (let age = this.slotsUsed - 1; age >= 0; age--) {
      const slot = (this.slot - age + WINDOW_SLOTS) % WINDOW_SLOTS;
      const hop = figures(channel.hop.slot(slot));
      const lag = figures(channel.lag.slot(slot));
      points.push({
        end: new Date(Math.min(this.slotEndWallMs - age * SLOT_MS, nowWall)).toISOString(),
        count: hop.count,
        hop_p50_ms: hop.p50_ms,
        hop_p99_ms: hop.p99_ms,
        lag_p50_ms: lag.p50_ms,
        lag_p99_ms: lag.p99_ms,
      });
    }
    return points;
  }

  /** Move the window on to the slot `now` falls in, clearing the slots it passes. */
  private advance(now: number): void {
    if (now < this.slotEnd) return;
    const steps = Math.floor((now - this.slotEnd) / SLOT_MS) + 1;
    for (let step = 1; step <= Math.min(steps, WINDOW_SLOTS); step++) {
      const slot = (this.slot + step) % WINDOW_SLOTS;
      for (const channel of this.channels.values()) channel.clearSlot(slot);
    }
    this.slot = (this.slot + steps) % WINDOW_SLOTS;
    this.slotsUsed = Math.min(WINDOW_SLOTS, this.slotsUsed + steps);
    this.slotEnd += steps * SLOT_MS;
    // A step of the system clock moves the slots' wall-clock ends with it.
    this.slotEndWallMs += steps * SLOT_MS + this.clock.recalibrate();
  }
}

/** Count, p50 and p99 of bucket counts, rounded to the microsecond. */
export function figures(counts: ArrayLike<number>): StageFigures {
  let count = 0;
  for (let bucket = 0; bucket < counts.length; bucket++) count += counts[bucket] as number;
  return { count, p50_ms: roundMs(quantileMs(counts, 0.5)), p99_ms: roundMs(quantileMs(counts, 0.99)) };
}

function roundMs(ms: number | null): number | null {
  return ms === null ? null : Math.round(ms * 1000) / 1000;
}
