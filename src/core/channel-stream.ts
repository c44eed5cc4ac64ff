/**
 * The ingest side of one channel: raw upstream bytes in, validated messages out to delivery.
 *
 * Nothing a publisher sends can crash the gateway or reach a client unvalidated: oversized
 * payloads, bad JSON and schema failures (and a plugin that throws on a message) are counted in
 * the stream's error_count, logged with the subject, and dropped.
 */
import type { Logger } from "pino";
import type { ChannelDelivery } from "./delivery/channel-delivery.js";
import type { StreamHealth } from "./health.js";
import type { LoadedChannel } from "./plugin.js";

export type RejectReason = "oversized" | "invalid_json" | "schema" | "plugin_error";

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
    private readonly delivery: ChannelDelivery,
    private readonly maxPayloadBytes: number,
    private readonly logger: Logger,
  ) {}

  /** Broker callback: runs synchronously for every upstream message on the channel's subject. */
  readonly handle = (subject: string, data: Uint8Array): void => {
    this.messagesIn++;
    if (data.byteLength > this.maxPayloadBytes) {
      this.reject(subject, "oversized", { bytes: data.byteLength, limit: this.maxPayloadBytes });
      return;
    }
    let payload: unknown;
    try {
      payload = JSON.parse(decoder.decode(data));
    } catch (error) {
      this.reject(subject, "invalid_json", { error: (error as Error).message });
      return;
    }
    const parsed = this.channel.plugin.inbound.safeParse(payload);
    if (!parsed.success) {
      const issues = parsed.error.issues
        .slice(0, 5)
        .map((issue) => `${issue.path.join(".") || "(root)"}: ${issue.message}`);
      this.reject(subject, "schema", { issues });
      return;
    }
    try {
      this.delivery.accept(parsed.data);
    } catch (error) {
      this.reject(subject, "plugin_error", { error: (error as Error).message });
      return;
    }
    this.health.lastUpdate = Date.now();
  };

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
