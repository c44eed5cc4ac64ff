/**
 * What one connection has already been sent on one lossless channel, so that a resume never sends
 * a frame twice: for each key (a symbol, or "*" for all) the position from which the connection has
 * been subscribed to it, and, for subscriptions since removed, the span they covered.
 *
 * A frame with seq s and key k went to this connection when some span for k (or for "*") covers s.
 * A frame about no key in particular went to every subscriber, so any span covers it. The state is
 * bounded by the subscription (open spans) and by MAX_CLOSED_SPANS (closed ones).
 */

/** Closed spans kept per channel; beyond it the oldest is forgotten (a later resume may repeat it). */
const MAX_CLOSED_SPANS = 256;

/** The key under which a subscription to every symbol is tracked. */
export const ALL_KEYS = "*";

/** A span begun before the history was ready: it starts where the history became ready. */
const AT_READINESS = -1;

/** What coverage needs to know of the channel's history. */
export interface HistoryHead {
  readonly ready: boolean;
  readonly head: number;
  /** The head when the history became ready: nothing was sent live before it. */
  readonly readyHead: number;
}

interface ClosedSpan {
  key: string;
  /** Exclusive: the head when the subscription began. */
  after: number;
  /** Inclusive: the head when it ended. */
  through: number;
}

export class DeliveryCoverage {
  /** The head when the subscription to every key ("*") began; undefined: not subscribed to all. */
  private allBegun: number | undefined;
  /**
   * Other keys -> the head when the subscription to them began. Made on first use, like `closed`:
   * most connections only ever hold "*", and a Map and an array per channel per connection were
   * a tenth of an idle connection's memory.
   */
  private open: Map<string, number> | undefined;
  private closed: ClosedSpan[] | undefined;

  constructor(private readonly history: HistoryHead) {}

  /** The connection is subscribed to `key` from now on. */
  begin(key: string): void {
    const begun = this.history.ready ? this.history.head : AT_READINESS;
    if (key === ALL_KEYS) {
      this.allBegun ??= begun;
      return;
    }
    this.open ??= new Map();
    if (!this.open.has(key)) this.open.set(key, begun);
  }

  /** The connection is no longer subscribed to `key`. */
  end(key: string): void {
    let begun: number | undefined;
    if (key === ALL_KEYS) {
      begun = this.allBegun;
      this.allBegun = undefined;
    } else {
      begun = this.open?.get(key);
      this.open?.delete(key);
    }
    if (begun === undefined || !this.history.ready) return;
    const after = this.after(begun);
    const head = this.history.head;
    if (head <= after) return;
    this.closed ??= [];
    this.closed.push({ key, after, through: head });
    if (this.closed.length > MAX_CLOSED_SPANS) this.closed.shift();
  }

  /** Was the frame at `seq` about `key` sent to this connection (or is it held for it)? */
  sent(key: string | undefined, seq: number): boolean {
    if (this.allBegun !== undefined && seq > this.after(this.allBegun)) return true;
    if (key !== undefined) {
      const begun = this.open?.get(key);
      if (begun !== undefined && seq > this.after(begun)) return true;
    } else if (this.open !== undefined) {
      for (const begun of this.open.values()) if (seq > this.after(begun)) return true;
    }
    for (const span of this.closed ?? []) {
      if (
        seq > span.after &&
        seq <= span.through &&
        (key === undefined || span.key === ALL_KEYS || span.key === key)
      )
        return true;
    }
    return false;
  }

  private after(begun: number): number {
    return begun === AT_READINESS ? this.history.readyHead : begun;
  }
}
