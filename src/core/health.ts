/**
 * Per-stream health as the seed's status endpoint reports it: when data last arrived, how many
 * upstream messages were invalid, how often the subscription had to be re-established, and
 * whether the stream is live now.
 */

export interface StreamHealthView {
  last_update: string | null;
  error_count: number;
  recovery_attempts: number;
  is_healthy: boolean;
  started_at: string;
}

export class StreamHealth {
  /** Epoch ms of the last valid message (a number: it is set on every message, read rarely). */
  lastUpdate: number | null = null;
  errorCount = 0;
  recoveryAttempts = 0;
  readonly startedAt = new Date();
  /** Set while the channel's stream status is stale; the first message then asks for a new look. */
  stale = false;
  wake: (() => void) | undefined;

  /** `live`: the channel's stream status (stream-status.ts) is live. */
  view(live: boolean): StreamHealthView {
    return {
      last_update: this.lastUpdate === null ? null : new Date(this.lastUpdate).toISOString(),
      error_count: this.errorCount,
      recovery_attempts: this.recoveryAttempts,
      // Consistent with the in-band stream_status: a stale channel (no NATS link, or quiet past
      // its threshold) is unhealthy.
      is_healthy: live,
      started_at: this.startedAt.toISOString(),
    };
  }
}
