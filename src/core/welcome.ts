/**
 * The welcome frame, the first frame of every connection: its client_id, the channels it may use
 * and its subscriptions on them, the intervals, the largest frame it may send, the head of each
 * lossless channel and, with authentication on, when its token expires.
 */
import type { GatewayConfig } from "../config.js";
import type { ClientSession } from "./client-session.js";
import type { Delivery } from "./delivery/delivery.js";
import { encodeFrame } from "./delivery/frame-encoder.js";
import { LosslessDelivery } from "./delivery/lossless-delivery.js";
import { isoNow } from "./protocol.js";
import type { StreamStatusMonitor } from "./stream-status.js";
import type { SubscriptionIndex } from "./subscription-index.js";

export function welcomeFrame(
  session: ClientSession,
  channels: readonly string[],
  config: GatewayConfig,
  index: SubscriptionIndex,
  deliveries: ReadonlyMap<string, Delivery>,
  streamStatus: StreamStatusMonitor,
): Buffer {
  return encodeFrame({
    type: "welcome",
    client_id: session.clientId,
    channels,
    subscriptions: Object.fromEntries(channels.map((channel) => [channel, index.view(session, channel)])),
    ping_interval: config.WEBSOCKET_PING_INTERVAL,
    price_update_interval: config.WEBSOCKET_PRICE_UPDATE_INTERVAL,
    portfolio_update_interval: config.WEBSOCKET_PORTFOLIO_UPDATE_INTERVAL,
    max_message_bytes: config.WEBSOCKET_MAX_MESSAGE_BYTES,
    stream_status: streamStatus.statesOf(channels),
    positions: positions(channels, deliveries),
    expires_at: session.grant ? new Date(session.grant.expiresAt).toISOString() : undefined,
    timestamp: isoNow(),
  });
}

/** The head of each lossless channel among `channels` whose history is ready. */
function positions(
  channels: readonly string[],
  deliveries: ReadonlyMap<string, Delivery>,
): Record<string, { seq: number; epoch: string }> | undefined {
  const heads: Record<string, { seq: number; epoch: string }> = {};
  for (const channel of channels) {
    const delivery = deliveries.get(channel);
    if (!(delivery instanceof LosslessDelivery)) continue;
    const { history } = delivery;
    if (history.ready && history.epoch !== undefined)
      heads[channel] = { seq: history.head, epoch: history.epoch };
  }
  return Object.keys(heads).length > 0 ? heads : undefined;
}
