/**
 * Prometheus metrics. The hot path only bumps plain integer counters on the objects that own
 * them; prom-client reads them at scrape time through `collect()`, so delivering a frame never
 * touches a label map. Each gateway gets its own registry (tests run several side by side).
 */

import { Counter, collectDefaultMetrics, Gauge, type Metric, Registry } from "prom-client";
import type { ConnectionCounters } from "./endpoint-state.js";
import type { ChannelLatency } from "./latency/channel-latency.js";
import { LATENCY_BUCKETS_SECONDS } from "./latency/histogram-buckets.js";
import type { StageHistogram } from "./latency/stage-histogram.js";

/** The values of gateway_history_mode's `mode` label. */
const HISTORY_MODES = ["jetstream", "memory", "waiting"] as const;

export interface MetricSources {
  activeConnections(): number;
  mode(): "nats" | "demo";
  natsConnected(): boolean;
  connections(): ConnectionCounters;
  outbound(): { framesDropped: number; slowConsumerDisconnects: number };
  /** Resumes by outcome ("recovered" or a ResumeFailure, and "interrupted"), and frames replayed. */
  resumes(): { outcomes: Record<string, number>; framesReplayed: number };
  /** Clients whose conflated intervals are widened now, and changes of their factor so far. */
  degradation(): { degraded: number; changes: number };
  /** Each lossless channel's history now: "jetstream", "memory" or "waiting" (history-sources.ts). */
  historyModes(): Record<string, string>;
  /** JetStream consumers this gateway holds: live (one per lossless channel) and replaying now. */
  jetStreamConsumers(): { live: number; replay: number; replayPeak: number };
  channels(): {
    name: string;
    messagesIn: number;
    framesOut: number;
    keysEvicted: number;
    framesFailed: number;
    rejected: Record<string, number>;
    /** State channels: upstream order events and slow-client re-snapshots (state-delivery.ts). */
    state?: {
      gaps: number;
      redelivered: number;
      beforeSnapshot: number;
      whileStale: number;
      resyncs: number;
    };
  }[];
}

export function createMetricsRegistry(sources: MetricSources): Registry {
  const registry = new Registry();
  // Node's own: event-loop delay (nodejs_eventloop_lag_*), heap, GC, CPU, open handles.
  collectDefaultMetrics({ register: registry });
  const counterFrom = (name: string, help: string, read: () => number) =>
    new Counter({
      name,
      help,
      registers: [registry],
      collect() {
        this.reset();
        this.inc(read());
      },
    });

  new Gauge({
    name: "gateway_websocket_connections",
    help: "Open WebSocket connections",
    registers: [registry],
    collect() {
      this.set(sources.activeConnections());
    },
  });
  new Gauge({
    name: "gateway_mode",
    help: "1 for the mode the gateway runs in: nats (NATS_URL) or demo (embedded broker, simulated market)",
    labelNames: ["mode"],
    registers: [registry],
    collect() {
      const mode = sources.mode();
      this.set({ mode: "nats" }, mode === "nats" ? 1 : 0);
      this.set({ mode: "demo" }, mode === "demo" ? 1 : 0);
    },
  });
  new Gauge({
    name: "gateway_nats_connected",
    help: "1 while the upstream broker (NATS or embedded) is connected, else 0",
    registers: [registry],
    collect() {
      this.set(sources.natsConnected() ? 1 : 0);
    },
  });
  counterFrom(
    "gateway_connections_accepted_total",
    "WebSocket connections accepted",
    () => sources.connections().accepted,
  );
  counterFrom(
    "gateway_connections_rejected_total",
    "WebSocket connections closed with 1013 because WEBSOCKET_MAX_CONNECTIONS was reached",
    () => sources.connections().rejectedMaxConnections,
  );
  new Counter({
    name: "gateway_connections_refused_total",
    help: "WebSocket upgrades refused with 503 before the handshake: rate (over WEBSOCKET_MAX_CONNECTS_PER_SECOND, with Retry-After), draining (shutting down)",
    labelNames: ["reason"],
    registers: [registry],
    collect() {
      this.reset();
      const { refusedRate, refusedDraining } = sources.connections();
      this.inc({ reason: "rate" }, refusedRate);
      this.inc({ reason: "draining" }, refusedDraining);
    },
  });
  counterFrom(
    "gateway_connections_replaced_total",
    "Connections closed by a client_id takeover",
    () => sources.connections().replaced,
  );
  counterFrom(
    "gateway_dead_clients_terminated_total",
    "Clients terminated for missing a ping",
    () => sources.connections().deadTerminated,
  );
  counterFrom(
    "gateway_client_messages_total",
    "Frames received from clients",
    () => sources.connections().messagesIn,
  );
  counterFrom(
    "gateway_client_messages_rate_limited_total",
    "Client frames refused with RATE_LIMITED",
    () => sources.connections().rateLimited,
  );
  counterFrom(
    "gateway_auth_failures_total",
    "Connections closed for a missing, invalid or late token (4401, 4408)",
    () => sources.connections().authFailed,
  );
  counterFrom(
    "gateway_frames_dropped_total",
    "Conflated frames skipped for slow clients",
    () => sources.outbound().framesDropped,
  );
  counterFrom(
    "gateway_slow_consumer_disconnects_total",
    "Clients disconnected (4001) because lossless data could not be queued",
    () => sources.outbound().slowConsumerDisconnects,
  );

  new Counter({
    name: "gateway_upstream_messages_total",
    help: "Upstream messages received per channel (valid or not)",
    labelNames: ["channel"],
    registers: [registry],
    collect() {
      this.reset();
      for (const channel of sources.channels()) this.inc({ channel: channel.name }, channel.messagesIn);
    },
  });
  new Counter({
    name: "gateway_upstream_invalid_total",
    help: "Upstream messages dropped as invalid, per channel and reason",
    labelNames: ["channel", "reason"],
    registers: [registry],
    collect() {
      this.reset();
      for (const channel of sources.channels()) {
        for (const [reason, count] of Object.entries(channel.rejected))
          this.inc({ channel: channel.name, reason }, count);
      }
    },
  });
  new Counter({
    name: "gateway_frames_out_total",
    help: "Data frames queued to clients per channel (one per recipient)",
    labelNames: ["channel"],
    registers: [registry],
    collect() {
      this.reset();
      for (const channel of sources.channels()) this.inc({ channel: channel.name }, channel.framesOut);
    },
  });
  new Counter({
    name: "gateway_conflated_keys_evicted_total",
    help: "Conflation keys forgotten per channel because WEBSOCKET_MAX_CONFLATED_KEYS was reached",
    labelNames: ["channel"],
    registers: [registry],
    collect() {
      this.reset();
      for (const channel of sources.channels()) this.inc({ channel: channel.name }, channel.keysEvicted);
    },
  });
  new Counter({
    name: "gateway_frames_failed_total",
    help: "Frames a plugin could not build or that JSON could not hold (snapshot or flush), per channel; each was skipped",
    labelNames: ["channel"],
    registers: [registry],
    collect() {
      this.reset();
      for (const channel of sources.channels()) this.inc({ channel: channel.name }, channel.framesFailed);
    },
  });
  new Counter({
    name: "gateway_state_events_total",
    help: "State channels (order books), per channel and event: gap (a delta skipped a sequence; the key waits for a snapshot), redelivered and before_snapshot and while_stale (deltas ignored), resync (a snapshot sent to a client that fell behind, once it drained)",
    labelNames: ["channel", "event"],
    registers: [registry],
    collect() {
      this.reset();
      for (const { name, state } of sources.channels()) {
        if (state === undefined) continue;
        this.inc({ channel: name, event: "gap" }, state.gaps);
        this.inc({ channel: name, event: "redelivered" }, state.redelivered);
        this.inc({ channel: name, event: "before_snapshot" }, state.beforeSnapshot);
        this.inc({ channel: name, event: "while_stale" }, state.whileStale);
        this.inc({ channel: name, event: "resync" }, state.resyncs);
      }
    },
  });
  new Counter({
    name: "gateway_resumes_total",
    help: "Subscribes with since on a lossless channel, by outcome (recovered, or the reason it was not)",
    labelNames: ["outcome"],
    registers: [registry],
    collect() {
      this.reset();
      for (const [outcome, count] of Object.entries(sources.resumes().outcomes)) this.inc({ outcome }, count);
    },
  });
  counterFrom(
    "gateway_frames_replayed_total",
    "Frames sent by resumes (from the ring or JetStream)",
    () => sources.resumes().framesReplayed,
  );
  new Gauge({
    name: "gateway_jetstream_consumers",
    help: "JetStream consumers this gateway holds: live (one per lossless channel) and replay (now)",
    labelNames: ["kind"],
    registers: [registry],
    collect() {
      const { live, replay } = sources.jetStreamConsumers();
      this.set({ kind: "live" }, live);
      this.set({ kind: "replay" }, replay);
    },
  });
  new Gauge({
    name: "gateway_history_mode",
    help: "1 for where each lossless channel keeps its history now: jetstream, memory, or waiting (for JetStream: NATS_JETSTREAM=required, or no definite answer yet; or its stream still being read back into memory after a start); 0 for the others",
    labelNames: ["channel", "mode"],
    registers: [registry],
    collect() {
      this.reset();
      for (const [channel, now] of Object.entries(sources.historyModes()))
        for (const mode of HISTORY_MODES) this.set({ channel, mode }, now === mode ? 1 : 0);
    },
  });
  new Gauge({
    name: "gateway_degraded_clients",
    help: "Clients whose conflated intervals the gateway has widened because they read too slowly (at the last check)",
    registers: [registry],
    collect() {
      this.set(sources.degradation().degraded);
    },
  });
  counterFrom(
    "gateway_degradation_changes_total",
    "Times a client's degradation factor was doubled or halved (each announced with delivery_status)",
    () => sources.degradation().changes,
  );
  new Gauge({
    name: "gateway_jetstream_replay_consumers_peak",
    help: "Most replay consumers this gateway held at once since it started (capped by NATS_REPLAY_CONSUMERS_MAX)",
    registers: [registry],
    collect() {
      this.set(sources.jetStreamConsumers().replayPeak);
    },
  });
  return registry;
}

/** What the latency histograms are read from (latency/latency-recorder.ts). */
export interface LatencySource {
  all(): Iterable<ChannelLatency>;
  readonly flushes: StageHistogram;
  readonly socketWrites: number;
}

const ONCE_PER_FRAME =
  "Observed once per frame per socket flush, not once per client: a frame one flush writes to 1,000 clients is one observation (the clients of one flush are written within that flush's own duration, which this figure includes)";
const CLOCK_SKEW =
  "The upstream time is the JetStream message timestamp (lossless channels with JetStream history) or the plugin's publishedAt (a payload's timestamp), so the figure is only as right as that clock is to the gateway's: a publisher's clock ahead of ours counts as 0, one behind adds its offset";

/**
 * The per-channel latency histograms, in seconds, bucket bounds from 50 µs to 5 s. The stage
 * histograms count into plain arrays as frames are written; this renders them at scrape time.
 */
export function registerLatencyMetrics(registry: Registry, source: LatencySource): void {
  const histogram = (
    name: string,
    help: string,
    stage: (channel: ChannelLatency) => StageHistogram | undefined,
  ) =>
    registry.registerMetric({
      name,
      help,
      type: "histogram",
      get: async () => ({
        name,
        help,
        type: "histogram",
        aggregator: "sum",
        values: [...source.all()].flatMap((channel) => {
          const histogram = stage(channel);
          return histogram === undefined ? [] : histogramValues(name, channel.name, histogram);
        }),
      }),
    } as unknown as Metric);
  histogram(
    "gateway_ingest_to_write_seconds",
    `The gateway's own hop per channel: NATS receive to the socket write, without the conflation wait (gateway_conflation_wait_seconds). ${ONCE_PER_FRAME}`,
    (channel) => channel.hop,
  );
  histogram(
    "gateway_queue_seconds",
    `Queued for the sockets (the frame built, or the conflation flush begun) to written, per channel. ${ONCE_PER_FRAME}`,
    (channel) => channel.queue,
  );
  histogram(
    "gateway_conflation_wait_seconds",
    `Conflated and state channels: validated to queued, the time a message waited for its interval flush (kept out of the hop). ${ONCE_PER_FRAME}; a merged frame counts as its oldest message`,
    (channel) => (channel.conflates ? channel.wait : undefined),
  );
  histogram(
    "gateway_upstream_lag_seconds",
    `Upstream publish time to NATS receive, per channel, once per message. ${CLOCK_SKEW}`,
    (channel) => (channel.hasUpstreamTime ? channel.lag : undefined),
  );
  const flushName = "gateway_socket_flush_seconds";
  const flushHelp =
    "Each socket flush, all channels: its first socket write to the end of its last. Divided by gateway_socket_writes_total, the cost of one socket write: a flush's last client waits for all of them";
  registry.registerMetric({
    name: flushName,
    help: flushHelp,
    type: "histogram",
    get: async () => ({
      name: flushName,
      help: flushHelp,
      type: "histogram",
      aggregator: "sum",
      values: histogramValues(flushName, undefined, source.flushes),
    }),
  } as unknown as Metric);
  const writesName = "gateway_socket_writes_total";
  const writesHelp =
    "Socket writes made by flushes: one per client per flush (its frames of that flush in one write)";
  registry.registerMetric({
    name: writesName,
    help: writesHelp,
    type: "counter",
    get: async () => ({
      name: writesName,
      help: writesHelp,
      type: "counter",
      aggregator: "sum",
      values: [{ labels: {}, value: source.socketWrites }],
    }),
  } as unknown as Metric);
}

/**
 * Prometheus histogram lines of one channel (or, without `channel`, of the whole gateway):
 * cumulative buckets with `le`, then sum and count.
 */
function histogramValues(name: string, channel: string | undefined, histogram: StageHistogram) {
  const values: { metricName: string; labels: Record<string, string | number>; value: number }[] = [];
  const base: Record<string, string> = channel === undefined ? {} : { channel };
  let cumulative = 0;
  LATENCY_BUCKETS_SECONDS.forEach((bound, bucket) => {
    cumulative += histogram.counts[bucket] as number;
    values.push({ metricName: `${name}_bucket`, labels: { ...base, le: bound }, value: cumulative });
  });
  values.push({ metricName: `${name}_bucket`, labels: { ...base, le: "+Inf" }, value: histogram.count });
  values.push({ metricName: `${name}_sum`, labels: base, value: histogram.sumMs / 1000 });
  values.push({ metricName: `${name}_count`, labels: base, value: histogram.count });
  return values;
}
