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

  view(brokerConnected: boolean): StreamHealthView {
    return {
      last_update: this.lastUpdate === null ? null : new Date(this.lastUpdate).toISOString(),
      error_count: this.errorCount,
      recovery_attempts: this.recoveryAttempts,
      // The stream is live exactly when the broker is connected: subscriptions are made on
      // connect and re-established by the client on every reconnect.
      is_healthy: brokerConnected,
      started_at: this.startedAt.toISOString(),
    };
  }
}
