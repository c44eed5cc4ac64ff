/**
 * One channel's pipeline, by kind, and the one factory that builds it. Upstream bytes enter a
 * pipeline's ChannelStream (validated, counted) and leave through its delivery:
 *
 * - conflated: stream, ConflatedDelivery (latest value per key, flushed every interval);
 * - lossless: stream, LosslessDelivery (every message, positioned), and the ring its history
 *   source (memory or JetStream, history-sources.ts) fills and resumes read;
 * - state: stream, StateDelivery (a view per key from a snapshot and sequenced deltas, sent as a
 *   snapshot frame then checksummed updates).
 *
 * The gateway holds them as `Map<name, Pipeline>`; code that treats kinds differently switches on
 * `kind` and ends with `unhandledKind`, so a new kind cannot be forgotten anywhere.
 */
import type { Logger } from "pino";
import type { GatewayConfig } from "../config.js";
import { ChannelStream } from "./channel-stream.js";
import { ConflatedDelivery } from "./delivery/conflated-delivery.js";
import { LosslessDelivery } from "./delivery/lossless-delivery.js";
import { StateDelivery } from "./delivery/state-delivery.js";
import { StreamHealth } from "./health.js";
import { ChannelHistory } from "./history/channel-history.js";
import type { ResumeGates } from "./history/resume-gate.js";
import type { LatencyRecorder } from "./latency/latency-recorder.js";
import {
  type ConflatedChannel,
  type LoadedChannel,
  type LosslessChannel,
  type StateChannel,
  unhandledKind,
} from "./plugin.js";
import type { SubscriptionIndex } from "./subscription-index.js";

interface PipelineBase {
  readonly name: string;
  readonly stream: ChannelStream;
}

export interface ConflatedPipeline extends PipelineBase {
  readonly kind: "conflated";
  readonly channel: ConflatedChannel;
  readonly delivery: ConflatedDelivery;
}

export interface LosslessPipeline extends PipelineBase {
  readonly kind: "lossless";
  readonly channel: LosslessChannel;
  readonly delivery: LosslessDelivery;
  /** The recent frames and the head, in the epoch its history source counts in. */
  readonly history: ChannelHistory;
}

export interface StatePipeline extends PipelineBase {
  readonly kind: "state";
  readonly channel: StateChannel;
  readonly delivery: StateDelivery;
}

export type Pipeline = ConflatedPipeline | LosslessPipeline | StatePipeline;

/** What every pipeline is built with. */
export interface PipelineContext {
  config: GatewayConfig;
  logger: Logger;
  index: SubscriptionIndex;
  /** The resume gates live lossless frames pass (history/resume-gate.ts). */
  gates: ResumeGates;
  /** Per-stage timing (latency/latency-recorder.ts); undefined with GATEWAY_TIMING=off. */
  latency?: LatencyRecorder;
}

export function buildPipeline(channel: LoadedChannel, context: PipelineContext): Pipeline {
  const { config, logger, index } = context;
  const name = channel.plugin.name;
  const timing = context.latency?.channel(name, channel.kind, channel.plugin.publishedAt !== undefined);
  const streamOf = (delivery: ConflatedDelivery | LosslessDelivery | StateDelivery) =>
    new ChannelStream(channel, new StreamHealth(), delivery, config.NATS_MAX_PAYLOAD_BYTES, logger, timing);
  switch (channel.kind) {
    case "conflated": {
      const delivery = new ConflatedDelivery(
        channel,
        index,
        logger,
        config.WEBSOCKET_MAX_CONFLATED_KEYS,
        timing,
      );
      return { kind: "conflated", name, channel, delivery, stream: streamOf(delivery) };
    }
    case "lossless": {
      const history = new ChannelHistory(config.WEBSOCKET_HISTORY_SIZE);
      const delivery = new LosslessDelivery(channel, index, history, context.gates, timing);
      return { kind: "lossless", name, channel, delivery, history, stream: streamOf(delivery) };
    }
    case "state": {
      const delivery = new StateDelivery(
        channel,
        index,
        logger,
        {
          maxKeys: config.WEBSOCKET_MAX_CONFLATED_KEYS,
          dropBytes: config.WEBSOCKET_CONFLATED_DROP_BYTES,
        },
        timing,
      );
      return { kind: "state", name, channel, delivery, stream: streamOf(delivery) };
    }
    default:
      return unhandledKind(channel);
  }
}
