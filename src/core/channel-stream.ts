/**
 * The ingest side of one channel: raw upstream bytes in, validated messages out to delivery.
 *
 * Nothing a publisher sends can crash the gateway or reach a client unvalidated: oversized
 * payloads, bad JSON and schema failures (and a plugin that throws on a message) are counted in
 * the stream's error_count, logged with the subject, and dropped.
 *
 * With timing on, each message is stamped here (StageStamp): received, and validated; and when the
 * upstream says when it published it (JetStream's timestamp, else the plugin's publishedAt), its
 * upstream lag is observed.
 */
import type { Logger } from "pino";
import type { Delivery } from "./delivery/delivery.js";
import type { StreamHealth } from "./health.js";
import type { StoredPosition } from "./history/channel-history.js";
import type { ChannelLatency } from "./latency/channel-latency.js";
import type { StageStamp } from "./latency/stage-stamp.js";
import type { LoadedChannel } from "./plugin.js";

export type RejectReason = "oversized" | "invalid_json" | "schema" | "plugin_error";

export type ParseResult =
  | { ok: true; message: unknown }
  | { ok: false; reason: RejectReason; details: Record<string, unknown> };

/** At most this many invalid-message log lines per stream per second; the rest are counted. */
const INVALID_LOGS_PER_SECOND = 10;

const decoder = new TextDecoder("utf-8", { fatal: false });

export class ChannelStream {
  readonly rejected: Record<RejectReason, number> = {
    oversized: 0,
    invalid_json: 0,
    schema: 0,
    plugin_error: 0,
  };
  messagesIn = 0;
  private logWindowStart = 0;
  private logsInWindow = 0;
  private suppressedLogs = 0;

  constructor(
    private readonly channel: LoadedChannel,
    readonly health: StreamHealth,
    private readonly delivery: Delivery,
    private readonly maxPayloadBytes: number,
    private readonly logger: Logger,
    /** Per-stage timing of this channel (undefined with GATEWAY_TIMING=off). */
    private readonly timing?: ChannelLatency,
  ) {}

  /**
   * Broker callback: runs synchronously for every upstream message on the channel's subject,
   * with its stored position when it comes from JetStream.
   */
  readonly handle = (subject: string, data: Uint8Array, position?: StoredPosition): void => {
    const timing = this.timing;
    const rx = timing === undefined ? 0 : timing.now();
    this.messagesIn++;
    const parsed = this.parse(data);
    if (!parsed.ok) {
      if (position) this.delivery.skip?.(position);
      this.reject(subject, parsed.reason, parsed.details);
      return;
    }
    let stamp: StageStamp | undefined;
    if (timing !== undefined) {
      stamp = { rx, validated: timing.now() };
      const published = position === undefined ? this.publishedAt(parsed.message) : position.timeMs;
      if (published !== undefined) timing.upstreamLag(rx, published);
    }
    try {
      this.delivery.accept(parsed.message, position, stamp);
    } catch (error) {
      if (position) this.delivery.skip?.(position);
      this.reject(subject, "plugin_error", { error: (error as Error).message });
      return;
    }
    this.health.lastUpdate = Date.now();
    // Data flows again: say `live` now, not at the next status check.
    if (this.health.stale) this.health.wake?.();
  };

  /**
   * A stored message read only to fill the in-memory history after a start (JetStream warm-up):
   * kept when valid, never sent live, and not counted again (it was counted when it arrived).
   */
  readonly warm = (data: Uint8Array, position: StoredPosition): void => {
    const parsed = this.parse(data);
    try {
      if (parsed.ok) {
        this.delivery.accept(parsed.message, position);
        return;
      }
    } catch {
      // Counted when it first arrived; here it only moves the head on.
    }
    this.delivery.skip?.(position);
  };

  /**
   * The plugin's publishedAt as epoch milliseconds; undefined when it has none, says none, or says
   * something that is no time (a plugin's mistake costs the lag figure, never the message).
   */
  private publishedAt(message: unknown): number | undefined {
    const publishedAt = this.channel.plugin.publishedAt;
    if (publishedAt === undefined) return undefined;
    try {
      const published = publishedAt(message as never);
      const ms =
        typeof published === "number"
          ? published
          : published instanceof Date
            ? published.getTime()
            : typeof published === "string"
              ? Date.parse(published)
              : Number.NaN;
      return Number.isFinite(ms) ? ms : undefined;
    } catch {
      return undefined;
    }
  }

  /** Decode and validate one payload (live, or stored in JetStream and read back for a replay). */
  parse(data: Uint8Array): ParseResult {
    if (data.byteLength > this.maxPayloadBytes)
      return {
        ok: false,
        reason: "oversized",
        details: { bytes: data.byteLength, limit: this.maxPayloadBytes },
      };
    let payload: unknown;
    try {
      payload = JSON.parse(decoder.decode(data));
    } catch (error) {
      return { ok: false, reason: "invalid_json", details: { error: (error as Error).message } };
    }
    const parsed = this.channel.plugin.inbound.safeParse(payload);
    if (!parsed.success) {
      const issues = parsed.error.issues
        .slice(0, 5)
        .map((issue) => `${issue.path.join(".") || "(root)"}: ${issue.message}`);
      return { ok: false, reason: "schema", details: { issues } };
    }
    return { ok: true, message: parsed.data };
  }

  private reject(subject: string, reason: RejectReason, details: Record<string, unknown>): void {
    this.health.errorCount++;
    this.rejected[reason]++;
    // An upstream storm of bad messages must not turn into a storm of log lines.
    const now = Date.now();
    if (now - this.logWindowStart >= 1000) {
      if (this.suppressedLogs > 0) {
        this.logger.warn(
          { channel: this.channel.plugin.name, suppressed: this.suppressedLogs },
          "invalid upstream messages not logged individually",
        );
      }
      this.logWindowStart = now;
      this.logsInWindow = 0;
      this.suppressedLogs = 0;
    }
    if (this.logsInWindow++ < INVALID_LOGS_PER_SECOND) {
      this.logger.warn(
        { channel: this.channel.plugin.name, subject, reason, ...details },
        "invalid upstream message dropped",
      );
    } else {
      this.suppressedLogs++;
    }
  }
}
