/**
 * A cap on the short-lived JetStream consumers that replay history (NATS_REPLAY_CONSUMERS_MAX):
 * a reconnect storm of a thousand clients queues here instead of creating a thousand consumers.
 * First come, first served.
 */
export class ReplaySlots {
  inUse = 0;
  /** The most slots ever in use at once (reported by /metrics and the benchmark). */
  peak = 0;
  private readonly waiting: (() => void)[] = [];

  constructor(readonly capacity: number) {}

  /** Wait for a slot; call the returned function exactly once to give it back. */
  async acquire(): Promise<() => void> {
    if (this.inUse >= this.capacity) await new Promise<void>((resolve) => this.waiting.push(resolve));
    else this.inUse++;
    this.peak = Math.max(this.peak, this.inUse);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const next = this.waiting.shift();
      // The slot passes straight to the next waiter: inUse stays the same.
      if (next) next();
      else this.inUse--;
    };
  }
}
