/**
 * The hand-over between a replay and live delivery for one connection on one lossless channel.
 *
 * While a resume is decided and replayed, live frames for the connection are held here instead of
 * being sent. The replay covers every position up to the one just before the first held frame;
 * then the held frames go out, and live delivery continues: no gap, no duplicate. Held bytes count
 * against the connection's buffer limit like queued ones, so a client that cannot keep up with its
 * own replay meets the same slow-consumer policy as live data.
 */

interface HeldFrame {
  seq: number;
  frame: Buffer;
}

export class ResumeGate {
  holding = true;
  heldBytes = 0;
  /** Once released: live frames at or below this position are not sent (the client has them). */
  skipThrough = 0;
  /** Resolves when the gate is released (a later resume on the same channel waits for it). */
  readonly released: Promise<void>;
  private held: HeldFrame[] = [];
  /** The channel's head just before the first held frame. */
  private heldAfter: number | undefined;
  private resolveReleased!: () => void;

  constructor() {
    this.released = new Promise((resolve) => {
      this.resolveReleased = resolve;
    });
  }

  hold(seq: number, frame: Buffer, previousHead: number): void {
    this.heldAfter ??= previousHead;
    this.held.push({ seq, frame });
    this.heldBytes += frame.length;
  }

  /** The last position a replay must cover: everything after it is held (or still to come). */
  replayThrough(head: number): number {
    return this.heldAfter ?? head;
  }

  /** Stop holding: returns the held frames the client does not have yet, in order. */
  release(skipThrough: number): Buffer[] {
    this.holding = false;
    this.skipThrough = skipThrough;
    const frames = this.held.filter((held) => held.seq > skipThrough).map((held) => held.frame);
    this.held = [];
    this.heldBytes = 0;
    this.resolveReleased();
    return frames;
  }

  /** After release: should a live frame at `seq` go out? */
  passes(seq: number): boolean {
    return seq > this.skipThrough;
  }
}
