/**
 * The recent history of one lossless channel, in memory: the last WEBSOCKET_HISTORY_SIZE frames
 * (already encoded, with their key and account so that a replay can filter without decoding), the
 * channel's head and the epoch its positions count in.
 *
 * Most resumes are seconds old and are served from here. Older positions come from JetStream when
 * the channel has a stream, and are refused (`too_old`) when it has not.
 */

/** Where a message sits in a durable history (JetStream): its stream sequence and storage time. */
export interface StoredPosition {
  seq: number;
  timeMs: number;
}

export interface HistoryEntry {
  seq: number;
  /** What the message is about (plugin.key); undefined: every subscriber of the channel. */
  key: string | undefined;
  /** The message's account on an account-scoped channel (plugin.account). */
  account: string | undefined;
  /** The WebSocket frame, seq and epoch included: the same bytes live and in replay. */
  frame: Buffer;
}

/** A position the gateway reports (acks): with the stream's full identity on a JetStream channel. */
export interface ReportedPosition {
  seq: number;
  epoch: string;
  stream?: string;
}

export class ChannelHistory {
  /** Names the history `seq` counts in (short, epochs.ts); undefined until the source has begun. */
  epoch: string | undefined;
  /** The JetStream stream's identity `NAME@created` the epoch is a hash of; undefined in memory. */
  stream: string | undefined;
  /** True once the source has caught up (JetStream warm-up done): positions can be served. */
  ready = false;
  /** The head when the history became ready: frames up to it were never sent live. */
  readyHead = 0;
  /** The last position taken in (a valid message, or in JetStream an invalid one that was dropped). */
  head = 0;
  /** The ring holds every valid entry with a seq in (floor, head]. */
  floor = 0;
  private readonly ring: (HistoryEntry | undefined)[];
  /** Index in `ring` of the oldest entry, and the number of entries held. */
  private start = 0;
  private size = 0;
  private waiters: (() => void)[] = [];

  constructor(readonly capacity: number) {
    this.ring = new Array(capacity);
  }

  /**
   * Begin a history: positions after `after` will follow, counted in `epoch`; `stream` is the
   * identity a JetStream epoch was derived from.
   */
  begin(epoch: string, after: number, stream?: string): void {
    this.ring.fill(undefined);
    this.start = 0;
    this.size = 0;
    this.head = after;
    this.floor = after;
    this.epoch = epoch;
    this.stream = stream;
    this.ready = false;
  }

  /**
   * Does `epoch` (a client's since.epoch) name this history? Its epoch, or, for one release, the
   * long form earlier releases stamped on a JetStream channel: the stream's identity (epochs.ts).
   */
  names(epoch: string): boolean {
    return epoch === this.epoch || (this.stream !== undefined && epoch === this.stream);
  }

  /** `seq` in this history as acks report it, once ready; the head by default. */
  position(seq = this.head): ReportedPosition | undefined {
    if (!this.ready || this.epoch === undefined) return undefined;
    return this.stream === undefined
      ? { seq, epoch: this.epoch }
      : { seq, epoch: this.epoch, stream: this.stream };
  }

  /** Announce readiness (after JetStream warm-up, or at once in memory). */
  markReady(): void {
    this.ready = true;
    this.readyHead = this.head;
    for (const wake of this.waiters.splice(0)) wake();
  }

  /**
   * Resolves true once ready, false once `timeoutMs` passes with neither readiness nor progress.
   * A warm-up that is still taking messages in (the head moved during the last `timeoutMs`) is
   * waited for: on a loaded machine a restarted instance may need longer than NATS_REPLAY_WAIT_MS
   * to read its ring back, and giving up on it then would answer resumes from a half-read ring.
   */
  whenReady(timeoutMs: number): Promise<boolean> {
    if (this.ready) return Promise.resolve(true);
    return new Promise((resolve) => {
      let seenHead = this.head;
      let timer: NodeJS.Timeout;
      const expire = () => {
        if (this.head !== seenHead) {
          seenHead = this.head;
          timer = setTimeout(expire, timeoutMs).unref();
          return;
        }
        this.waiters = this.waiters.filter((waiter) => waiter !== wake);
        resolve(false);
      };
      // A wait never keeps a closing process alive.
      timer = setTimeout(expire, timeoutMs).unref();
      const wake = () => {
        clearTimeout(timer);
        resolve(true);
      };
      this.waiters.push(wake);
    });
  }

  append(entry: HistoryEntry): void {
    if (this.size === this.capacity) {
      const oldest = this.ring[this.start] as HistoryEntry;
      this.floor = oldest.seq;
      this.ring[this.start] = undefined;
      this.start = (this.start + 1) % this.capacity;
      this.size--;
    }
    this.ring[(this.start + this.size) % this.capacity] = entry;
    this.size++;
    this.head = entry.seq;
  }

  /** A position with no frame (an invalid message stored in JetStream): the head moves on. */
  advance(seq: number): void {
    if (seq > this.head) this.head = seq;
  }

  /** Does the ring hold everything after `seq`? */
  covers(seq: number): boolean {
    return seq >= this.floor;
  }

  /** The entries with a seq in (after, through], oldest first: references, never copies. */
  entriesBetween(after: number, through: number): HistoryEntry[] {
    const found: HistoryEntry[] = [];
    // Entries are in seq order: find the first one after `after` by binary search.
    let low = 0;
    let high = this.size;
    while (low < high) {
      const middle = (low + high) >>> 1;
      if ((this.at(middle) as HistoryEntry).seq <= after) low = middle + 1;
      else high = middle;
    }
    for (let position = low; position < this.size; position++) {
      const entry = this.at(position) as HistoryEntry;
      if (entry.seq > through) break;
      found.push(entry);
    }
    return found;
  }

  private at(position: number): HistoryEntry | undefined {
    return this.ring[(this.start + position) % this.capacity];
  }
}
