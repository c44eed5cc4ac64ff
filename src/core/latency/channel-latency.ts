/**
 * One channel's latency stages (docs/latency.md), each a StageHistogram:
 *
 * - hop: NATS receive to the socket write, without the conflation wait (gateway_ingest_to_write_seconds);
 * - queue: queued for the sockets to written (gateway_queue_seconds);
 * - wait: validated to queued, on conflated and state channels, for frames that waited for an
 *   interval flush (gateway_conflation_wait_seconds);
 * - lag: the upstream's publish time to NATS receive (gateway_upstream_lag_seconds).
 */
import type { ChannelKind } from "../plugin.js";
import type { LatencyRecorder } from "./latency-recorder.js";
import { StageHistogram } from "./stage-histogram.js";
import type { StageStamp } from "./stage-stamp.js";

export class ChannelLatency {
  readonly hop: StageHistogram;
  readonly queue: StageHistogram;
  readonly wait: StageHistogram;
  readonly lag: StageHistogram;

  constructor(
    private readonly recorder: LatencyRecorder,
    readonly name: string,
    readonly kind: ChannelKind,
    /** The plugin tells the publish time (publishedAt); JetStream's timestamps are seen when they come. */
    private readonly publishedAt: boolean,
    slots: number,
  ) {
    this.hop = new StageHistogram(slots);
    this.queue = new StageHistogram(slots);
    this.wait = new StageHistogram(slots);
    this.lag = new StageHistogram(slots);
  }

  /** The stage clock's now. */
  now(): number {
    return this.recorder.clock.now();
  }

  /** A frame from the message of `stamp` went to at least one client's queue (latency-recorder.ts). */
  queued(stamp: StageStamp, at: number, waited: boolean): void {
    this.recorder.queued(this, stamp, at, waited);
  }

  /** A message received at `rx` was published upstream at this wall-clock time (ms since the epoch). */
  upstreamLag(rx: number, publishedWallMs: number): void {
    this.recorder.upstreamLag(this, rx, publishedWallMs);
  }

  /** Does the channel hold frames back for an interval (conflated, state)? */
  get conflates(): boolean {
    return this.kind !== "lossless";
  }

  /** Is the upstream's publish time known: from the plugin, or JetStream's timestamps seen so far? */
  get hasUpstreamTime(): boolean {
    return this.publishedAt || this.lag.count > 0;
  }

  clearSlot(slot: number): void {
    this.hop.clearSlot(slot);
    this.queue.clearSlot(slot);
    this.wait.clearSlot(slot);
    this.lag.clearSlot(slot);
  }
}
