/**
 * The welcome frame, the first frame of every connection: its client_id, the channels it may use
 * and its subscriptions on them, the intervals, the largest frame it may send, the head of each
 * lossless channel, what each channel is (`channel_info`) and, with authentication on, when its
 * token expires.
 */
import type { GatewayConfig } from "../config.js";
import type { ClientSession } from "./client-session.js";
import { encodeTextFrame } from "./frame-encoder.js";
import type { Pipeline } from "./pipeline.js";
import { isoNow } from "./protocol.js";
import type { SeedIntervals } from "./seed-channels.js";
import type { StreamStatusMonitor } from "./stream-status.js";
import type { SubscriptionIndex } from "./subscription-index.js";

/** What a welcome is built from: the gateway's state and what its plugins declare. */
export interface WelcomeSources {
  config: GatewayConfig;
  index: SubscriptionIndex;
  pipelines: ReadonlyMap<string, Pipeline>;
  streamStatus: StreamStatusMonitor;
  /** Each channel's `"name":{...}` JSON (channel-info.ts), serialised once at start. */
  channelInfo: ReadonlyMap<string, string>;
  /** The seed's fixed interval fields (seed-channels.ts). */
  seedIntervals: SeedIntervals;
}

export function welcomeFrame(
  session: ClientSession,
  channels: readonly string[],
  sources: WelcomeSources,
): Buffer {
  const { config, index } = sources;
  const json = JSON.stringify({
    type: "welcome",
    client_id: session.clientId,
    channels,
    subscriptions: Object.fromEntries(channels.map((channel) => [channel, index.view(session, channel)])),
    ping_interval: config.WEBSOCKET_PING_INTERVAL,
    ...sources.seedIntervals,
    max_message_bytes: config.WEBSOCKET_MAX_MESSAGE_BYTES,
    stream_status: sources.streamStatus.statesOf(channels),
    positions: positions(channels, sources.pipelines),
    expires_at: session.grant ? new Date(session.grant.expiresAt).toISOString() : undefined,
    timestamp: isoNow(),
  });
  // The channels' info goes in as prepared JSON: no schema is serialised per connection.
  const info = channels
    .map((channel) => sources.channelInfo.get(channel))
    .filter((entry) => entry !== undefined);
  return encodeTextFrame(`${json.slice(0, -1)},"channel_info":{${info.join(",")}}}`);
}

/** The head of each lossless channel among `channels` whose history is ready. */
function positions(
  channels: readonly string[],
  pipelines: ReadonlyMap<string, Pipeline>,
): Record<string, { seq: number; epoch: string }> | undefined {
  const heads: Record<string, { seq: number; epoch: string }> = {};
  for (const channel of channels) {
    const pipeline = pipelines.get(channel);
    if (pipeline?.kind !== "lossless") continue;
    const { history } = pipeline;
    if (history.ready && history.epoch !== undefined)
      heads[channel] = { seq: history.head, epoch: history.epoch };
  }
  return Object.keys(heads).length > 0 ? heads : undefined;
}
