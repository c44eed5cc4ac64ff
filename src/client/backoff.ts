/**
 * Reconnect delays: exponential backoff with full jitter (AWS architecture blog, "Exponential
 * Backoff And Jitter"). Full jitter spreads the clients of a restarted gateway over the whole
 * window instead of bringing them back in synchronised waves.
 */

export interface BackoffOptions {
  /** Ceiling of the first retry's delay, in ms. */
  initialDelayMs: number;
  /** Growth of the ceiling per failed attempt (at least 1). */
  factor: number;
  /** The ceiling never exceeds this, in ms. */
  maxDelayMs: number;
  /**
   * A connection that stays open this long (ms, from its welcome frame) resets the attempt
   * counter, so that the next disconnection starts again from `initialDelayMs`.
   */
  stableAfterMs: number;
}

export const DEFAULT_BACKOFF: Readonly<BackoffOptions> = {
  initialDelayMs: 500,
  factor: 2,
  maxDelayMs: 30_000,
  stableAfterMs: 10_000,
};

/** The upper bound of retry number `attempt` (1 = first retry): min(cap, initial * factor^(attempt-1)). */
export function backoffCeiling(attempt: number, options: BackoffOptions): number {
  return Math.min(options.maxDelayMs, options.initialDelayMs * options.factor ** (attempt - 1));
}

/** Full jitter: a uniformly random delay in [0, ceiling], whole milliseconds. */
export function backoffDelay(attempt: number, options: BackoffOptions, random: () => number): number {
  return Math.round(random() * backoffCeiling(attempt, options));
}

/** Complete options from partial ones, rejecting values that make no schedule. */
export function backoffOptions(partial: Partial<BackoffOptions> = {}): BackoffOptions {
  const options = { ...DEFAULT_BACKOFF, ...partial };
  const { initialDelayMs, factor, maxDelayMs, stableAfterMs } = options;
  if (!(Number.isFinite(initialDelayMs) && initialDelayMs >= 0))
    throw new RangeError(`backoff.initialDelayMs must be a finite number >= 0, got ${initialDelayMs}`);
  if (!(Number.isFinite(factor) && factor >= 1))
    throw new RangeError(`backoff.factor must be a finite number >= 1, got ${factor}`);
  if (!(Number.isFinite(maxDelayMs) && maxDelayMs >= initialDelayMs))
    throw new RangeError(`backoff.maxDelayMs must be finite and >= initialDelayMs, got ${maxDelayMs}`);
  if (!(Number.isFinite(stableAfterMs) && stableAfterMs >= 0))
    throw new RangeError(`backoff.stableAfterMs must be a finite number >= 0, got ${stableAfterMs}`);
  return options;
}

/** The attempt counter between a connection loss and the next stable connection. */
export class ReconnectBackoff {
  private attempts = 0;

  constructor(
    readonly options: BackoffOptions,
    private readonly random: () => number = Math.random,
  ) {}

  /** Retries scheduled since the last reset. */
  get attempt(): number {
    return this.attempts;
  }

  /**
   * Count one more retry and draw its delay. `retryAfterMs` (the Retry-After of a refused upgrade,
   * when the WebSocket could read it): wait that, plus a jitter of up to as much again, so that the
   * clients the gateway refused together do not come back together, and not the backoff's draw.
   * A gateway that says when to come back is up and admitting at a known rate: growing the delay
   * on each of its refusals only kept clients away after it had room for them (in the rolling
   * deploy benchmark, clients refused a few times during a drain came back 30 to 40 s after a
   * 10 s spread, past what their resume could replay). The count still grows, so a failure
   * without Retry-After that follows backs off from where it stands.
   */
  next(retryAfterMs?: number): { attempt: number; delayMs: number } {
    this.attempts++;
    if (retryAfterMs === undefined || !(retryAfterMs > 0))
      return { attempt: this.attempts, delayMs: backoffDelay(this.attempts, this.options, this.random) };
    return { attempt: this.attempts, delayMs: retryAfterMs + Math.round(this.random() * retryAfterMs) };
  }

  /**
   * A retry at a time the gateway gave (shutdown_notice), without backoff: the counter starts
   * again, this being its first retry, so that a failure after it backs off from the start.
   */
  restart(delayMs: number): { attempt: number; delayMs: number } {
    this.attempts = 1;
    return { attempt: 1, delayMs: Math.max(0, Math.round(delayMs)) };
  }

  reset(): void {
    this.attempts = 0;
  }
}
