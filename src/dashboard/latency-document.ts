/**
 * What GET /websocket/latency answers, as the dashboard reads it: the route's own type (a type
 * import only, so nothing of the server goes into the bundle). Per channel, the percentiles of
 * each stage over the last window, and the same window in buckets for a chart; figures are
 * milliseconds, estimated by the gateway from its histogram buckets, null without samples.
 */
import type { LatencyDocument } from "../core/latency/latency-document.js";

export type { LatencyDocument };
export type ChannelLatency = LatencyDocument["channels"][string];
/** One bucket of the window, oldest first; the p-fields are null when `count` is 0. */
export type LatencyBucket = ChannelLatency["series"][number];

/** "0.41", "2.3", "12.5", "1,250": milliseconds with the digits that matter; "–" for none. */
export function milliseconds(value: number | null | undefined): string {
  if (value === null || value === undefined) return "–";
  if (value < 10) return value.toFixed(2);
  if (value < 100) return value.toFixed(1);
  return Math.round(value).toLocaleString("en-US");
}
