/**
 * What the REST routes read of a running gateway, adapted from its parts: the status document's
 * sources, readiness, and the metric sources. The routes themselves know nothing of pipelines,
 * brokers or endpoints; app.ts hands the parts over once.
 */
import type { Registry } from "prom-client";
import type { GatewayConfig } from "../config.js";
import type { Degrader } from "../core/delivery/degrader.js";
import type { OutboundWriter } from "../core/delivery/outbound-writer.js";
import type { HistorySources } from "../core/history/history-sources.js";
import type { Resumer } from "../core/history/resume.js";
import type { Broker } from "../core/ingest/broker.js";
import { createMetricsRegistry } from "../core/metrics.js";
import type { Pipeline } from "../core/pipeline.js";
import type { SeedIntervals } from "../core/seed-channels.js";
import type { StreamStatusMonitor } from "../core/stream-status.js";
import type { WebSocketEndpoint } from "../core/websocket-server.js";
import type { RestState } from "./rest-routes.js";

export interface GatewayParts {
  config: GatewayConfig;
  pipelines: ReadonlyMap<string, Pipeline>;
  broker: Broker;
  histories: HistorySources;
  endpoint: WebSocketEndpoint;
  writer: OutboundWriter;
  resumer: Resumer;
  degrader: Degrader;
  streamStatus: StreamStatusMonitor;
  seedIntervals: SeedIntervals;
  /** True while the gateway takes new clients (connected upstream, not draining or closing). */
  ready(): boolean;
}

/** The status document's and the health routes' sources. */
export function statusState(parts: GatewayParts): Pick<RestState, "status" | "health"> {
  const { broker, histories, endpoint, pipelines, streamStatus } = parts;
  let upstreamState: "connecting" | "connected" | "reconnecting" | "closed" = "connecting";
  broker.onEvent((event) => {
    if (event.type === "connected" || event.type === "reconnected") upstreamState = "connected";
    else if (event.type === "disconnected") upstreamState = "reconnecting";
    else upstreamState = "closed";
  });
  const mode = (): "nats" | "demo" => (broker.kind === "nats" ? "nats" : "demo");
  return {
    status: {
      seedIntervals: parts.seedIntervals,
      mode,
      upstream: () => ({
        state: upstreamState,
        server: broker.currentServer() ?? null,
        history: histories.mode ?? null,
        ...(broker.failure === undefined ? {} : { error: broker.failure }),
        ...(histories.reason === undefined ? {} : { history_reason: histories.reason }),
        // On NATS only: the demo's embedded broker has nothing to choose (and the seed-era
        // document of demo mode stays as it was).
        ...(broker.kind === "nats" ? { histories: histories.channelStates() } : {}),
      }),
      activeConnections: () => endpoint.clients.size,
      streamHealth: () =>
        Object.fromEntries(
          [...pipelines.values()].map(({ name, stream }) => [
            name,
            stream.health.view(streamStatus.isLive(name)),
          ]),
        ),
    },
    health: { ready: parts.ready, broker: () => broker.kind },
  };
}

/** The gateway's Prometheus registry, reading the parts' counters at scrape time. */
export function metricsOf(parts: GatewayParts): Registry {
  const { broker, histories, endpoint, pipelines, writer, resumer, degrader } = parts;
  return createMetricsRegistry({
    activeConnections: () => endpoint.clients.size,
    mode: () => (broker.kind === "nats" ? "nats" : "demo"),
    natsConnected: () => broker.connected,
    connections: () => endpoint.counters,
    outbound: () => writer.counters,
    resumes: () => resumer.counters,
    degradation: () => degrader.counters,
    historyModes: () => histories.channelStates(),
    jetStreamConsumers: () => ({
      live: [...histories.sources.values()].filter((source) => source.mode === "jetstream").length,
      replay: histories.slots.inUse,
      replayPeak: histories.slots.peak,
    }),
    channels: () =>
      [...pipelines.values()].map((pipeline) => {
        const { name, stream, delivery } = pipeline;
        return {
          name,
          messagesIn: stream.messagesIn,
          framesOut: delivery.counters.framesOut,
          keysEvicted: delivery.counters.keysEvicted,
          framesFailed: delivery.counters.framesFailed,
          rejected: stream.rejected,
          state: pipeline.kind === "state" ? pipeline.delivery.counters : undefined,
        };
      }),
  });
}
