/**
 * In-band stream status: whether what a channel's subscribers show is live, or stale and why.
 *
 * A channel is stale with reason `upstream_disconnected` as soon as the gateway loses its NATS
 * link (the broker's own event, checked again every CHECK_MS), and with reason `no_data` when it
 * has a staleness threshold (LoadedChannel.staleAfterMs) and received nothing for longer, counted
 * from its last valid message or from the start, or nothing yet since the link came back.
 * Otherwise it is live: a channel without a threshold as soon as the link is back. Every change goes at once
 * to the channel's subscribers as a `stream_status` frame; the welcome frame and the `subscribed`
 * ack carry the current status, and `/websocket/status` reports `is_healthy` from it.
 */
import type { ClientSession } from "./client-session.js";
import { encodeFrame } from "./frame-encoder.js";
import type { StreamHealth } from "./health.js";
import type { Broker } from "./ingest/broker.js";
import type { LoadedChannel } from "./plugin.js";
import { isoNow } from "./protocol.js";
import type { StaleReason, StreamState } from "./quality.js";
import type { SubscriptionIndex } from "./subscription-index.js";

/** How often the thresholds are looked at: a channel goes stale at most this late. */
const CHECK_MS = 250;

interface ChannelStatus {
  channel: LoadedChannel;
  health: StreamHealth;
  state: StreamState;
}

export class StreamStatusMonitor {
  private readonly statuses = new Map<string, ChannelStatus>();
  private readonly startedAt = Date.now();
  /** When the NATS link was last lost: a channel with a threshold is live again only once data flows after it. */
  private disconnectedAt = 0;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    channels: readonly { channel: LoadedChannel; health: StreamHealth }[],
    private readonly broker: Broker,
    private readonly index: SubscriptionIndex,
  ) {
    for (const { channel, health } of channels) {
      const state = this.desired(channel, health);
      health.stale = state.status === "stale";
      health.wake = () => this.evaluate();
      this.statuses.set(channel.plugin.name, { channel, health, state });
    }
    broker.onEvent((event) => {
      if (event.type !== "connected" && event.type !== "reconnected") this.disconnectedAt = Date.now();
      this.evaluate();
    });
  }

  start(): void {
    if (this.timer) return;
    this.timer = setInterval(() => this.evaluate(), CHECK_MS);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  /** The channel's status now (live when the channel is unknown). */
  stateOf(channel: string): StreamState {
    return (
      this.statuses.get(channel)?.state ?? { status: "live", since: new Date(this.startedAt).toISOString() }
    );
  }

  /** Every channel's status, for the welcome frame. */
  statesOf(channels: readonly string[]): Record<string, StreamState> {
    return Object.fromEntries(channels.map((channel) => [channel, this.stateOf(channel)]));
  }

  isLive(channel: string): boolean {
    return this.stateOf(channel).status === "live";
  }

  /** Look at every channel; announce the ones whose status changed. */
  evaluate(): void {
    for (const [name, status] of this.statuses) {
      const next = this.desired(status.channel, status.health);
      if (next.status === status.state.status && next.reason === status.state.reason) continue;
      status.state = next;
      status.health.stale = next.status === "stale";
      this.announce(name, next);
    }
  }

  private desired(channel: LoadedChannel, health: StreamHealth): StreamState {
    const now = Date.now();
    let reason: StaleReason | undefined;
    const lastData = health.lastUpdate ?? this.startedAt;
    if (!this.broker.connected) reason = "upstream_disconnected";
    else if (channel.staleAfterMs !== undefined) {
      // Quiet past its threshold, or nothing yet since the link came back.
      if (now - lastData > channel.staleAfterMs || lastData < this.disconnectedAt) reason = "no_data";
    }
    const since = new Date(now).toISOString();
    return reason ? { status: "stale", reason, since } : { status: "live", since };
  }

  private announce(channel: string, state: StreamState): void {
    const frame = encodeFrame({ type: "stream_status", channel, ...state, timestamp: isoNow() });
    this.index.forEachRecipient(channel, undefined, (session: ClientSession) => {
      session.send(frame, true);
    });
  }
}
