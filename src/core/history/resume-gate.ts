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

/** What holding costs a connection: held bytes count against its buffer limit like queued ones. */
export interface HoldLimits {
  /** WEBSOCKET_MAX_BUFFERED_BYTES: held plus queued bytes beyond it make a slow consumer. */
  maxBufferedBytes: number;
  /** Disconnect a client whose held frames overflow (the writer's slow-consumer path). */
  onOverflow(session: GatedSession): void;
}

/** The part of a connection the gates see. */
export interface GatedSession {
  gates?: Map<string, ResumeGate> | undefined;
  readonly socket: { readonly bufferedAmount: number };
  readonly pendingBytes: number;
}

/**
 * Every connection's gates, owned here alone: a resume opens one (`open`), and it is removed in
 * one place (`remove`), once the hand-over is complete.
 */
export class ResumeGates {
  constructor(private readonly limits: HoldLimits) {}

  /** Start holding live frames of `channel` for the session, from this moment. */
  open(session: GatedSession, channel: string): ResumeGate {
    const gate = new ResumeGate();
    session.gates ??= new Map();
    session.gates.set(channel, gate);
    return gate;
  }

  /** The resume under way on this channel, if any (a second `since` waits for it). */
  running(session: GatedSession, channel: string): ResumeGate | undefined {
    const gate = session.gates?.get(channel);
    return gate?.holding ? gate : undefined;
  }

  /**
   * Live delivery asks whether a frame may go out to a connection with a gate on the channel:
   * a holding gate keeps it (or, past the buffer limit, makes the client a slow consumer); a
   * released one lets through what the client does not have yet, and goes with the first such frame.
   */
  admit(
    session: GatedSession,
    channel: string,
    gate: ResumeGate,
    seq: number,
    frame: Buffer,
    previousHead: number,
  ): boolean {
    if (!gate.holding) {
      if (!gate.passes(seq)) return false;
      this.remove(session, channel, gate);
      return true;
    }
    const queued = session.socket.bufferedAmount + session.pendingBytes + gate.heldBytes;
    if (queued + frame.length > this.limits.maxBufferedBytes) {
      this.limits.onOverflow(session);
      return false;
    }
    gate.hold(seq, frame, previousHead);
    return false;
  }

  /**
   * The replay is out through `skipThrough`: stop holding, and return the held frames the client
   * does not have yet. The gate stays only while live frames up to `skipThrough` (which another
   * instance's position may put ahead of this one's head) are still to be skipped.
   */
  release(
    session: GatedSession,
    channel: string,
    gate: ResumeGate,
    skipThrough: number,
    head: number,
  ): Buffer[] {
    const frames = gate.release(skipThrough);
    if (skipThrough <= head) this.remove(session, channel, gate);
    return frames;
  }

  private remove(session: GatedSession, channel: string, gate: ResumeGate): void {
    const { gates } = session;
    if (gates?.get(channel) === gate) gates.delete(channel);
  }
}
