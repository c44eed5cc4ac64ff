/**
 * A token bucket per connection that sends (made on its first frame): `ratePerSecond` tokens flow
 * in up to `burst`; each client frame takes one. Two numbers, refilled lazily when a frame
 * arrives (no timers).
 */
export interface RateLimit {
  ratePerSecond: number;
  burst: number;
}

export class TokenBucket {
  private tokens: number;
  private refilledAt = performance.now();

  constructor(private readonly limit: RateLimit) {
    this.tokens = limit.burst;
  }

  /** Take one token if there is one. */
  take(now: number = performance.now()): boolean {
    const { ratePerSecond, burst } = this.limit;
    this.tokens = Math.min(burst, this.tokens + ((now - this.refilledAt) / 1000) * ratePerSecond);
    this.refilledAt = now;
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }
}
