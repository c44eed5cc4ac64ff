/**
 * Resume of lossless channels on the client side: where the client stands in each channel's
 * history, and the frames held back on a new connection until the gateway has replayed what the
 * client missed.
 *
 * Every frame of a lossless channel (trades, signals, any drop-in plugin that delivers at once)
 * carries `seq` and `epoch`. The client keeps the last position it delivered to the application
 * per channel, sends it back as `since` when it subscribes again after a reconnection, and drops
 * any frame at or before it (same epoch): the application never sees a frame twice.
 *
 * On a new connection the gateway sends live frames at once (the auto-subscribe default), then,
 * once it has the subscribe with `since`, the frames the client missed, which are older. To hand
 * them over in order, frames of a channel being resumed are held from the welcome until the replay
 * is over (or the gateway said it cannot resume), then delivered sorted by seq, duplicates dropped.
 *
 * Browser-safe: no Node imports.
 */
import type { ResumeFailure } from "../core/positions.js";
import type { UnknownFrame } from "./frames.js";

/** A position in a lossless channel's history. */
export interface Position {
  seq: number;
  epoch: string;
}

/** The resume events the client emits. */
export interface ResumeEvents {
  /**
   * After a reconnection the gateway replayed what the client missed on `channel`: `count` frames,
   * delivered (in order, each once) before this event.
   */
  recovered: { channel: string; count: number };
  /**
   * After a reconnection the gateway could not replay what the client missed on `channel`
   * (`reason`; "unknown" when the gateway gave none): the subscription is live from now, and
   * frames published while the client was away may be missing. Reload what the channel is about
   * from its system of record.
   */
  gap: { channel: string; reason: ResumeFailure | "unknown" };
}

/** The `seq` and `epoch` of a frame, when it carries valid ones (frames of lossless channels). */
export function positionOf(frame: object): Position | undefined {
  const { seq, epoch } = frame as { seq?: unknown; epoch?: unknown };
  if (typeof seq !== "number" || !Number.isSafeInteger(seq) || seq < 1) return undefined;
  if (typeof epoch !== "string" || epoch.length === 0) return undefined;
  return { seq, epoch };
}

interface Mark extends Position {
  /** True when the application has the frame at `seq` (it was delivered, or the user said so). */
  delivered: boolean;
}

/** Where the client stands in each lossless channel: kept across connections. */
export class Positions {
  private readonly marks = new Map<string, Mark>();

  /** Start from positions the application already has (saved from `positions` earlier). */
  constructor(initial: Readonly<Record<string, Position>> = {}) {
    for (const [channel, position] of Object.entries(initial)) {
      if (!isPosition(position))
        throw new TypeError(
          `positions.${channel} must be { seq: a non-negative integer, epoch: a non-empty string }`,
        );
      this.marks.set(channel, { seq: position.seq, epoch: position.epoch, delivered: true });
    }
  }

  /** The position to resume `channel` from: the last frame delivered, else the head last reported. */
  get(channel: string): Position | undefined {
    const mark = this.marks.get(channel);
    return mark && { seq: mark.seq, epoch: mark.epoch };
  }

  has(channel: string): boolean {
    return this.marks.has(channel);
  }

  /** Was a frame at this position delivered already? */
  delivered(channel: string, position: Position): boolean {
    const mark = this.marks.get(channel);
    return mark?.delivered === true && mark.epoch === position.epoch && position.seq <= mark.seq;
  }

  /** The application got the frame at `position`. */
  deliver(channel: string, position: Position): void {
    this.marks.set(channel, { ...position, delivered: true });
  }

  /**
   * The gateway reported the channel's head (welcome, subscribed ack). It is only a starting point:
   * kept when the client has no position, or one of another epoch (`replace`), never over a
   * position of the same history.
   */
  learn(channel: string, head: Position, replace = false): void {
    const mark = this.marks.get(channel);
    if (mark === undefined || (replace && mark.epoch !== head.epoch))
      this.marks.set(channel, { seq: head.seq, epoch: head.epoch, delivered: false });
  }

  /** The gateway could not resume: start again from the head it reported. */
  restart(channel: string, head: Position): void {
    this.marks.set(channel, { seq: head.seq, epoch: head.epoch, delivered: false });
  }

  view(): Record<string, Position> {
    return Object.fromEntries([...this.marks].map(([channel, { seq, epoch }]) => [channel, { seq, epoch }]));
  }
}

function isPosition(value: unknown): value is Position {
  if (typeof value !== "object" || value === null) return false;
  const { seq, epoch } = value as { seq?: unknown; epoch?: unknown };
  return (
    typeof seq === "number" &&
    Number.isSafeInteger(seq) &&
    seq >= 0 &&
    typeof epoch === "string" &&
    epoch !== ""
  );
}

/** A data frame held back during a resume, with where it came from. */
export interface HeldFrame<F> {
  frame: F;
  position: Position;
  /** Arrived between the ack with `recovered: true` and `replayed`: part of the replay. */
  replayed: boolean;
}

/** One channel's resume on one connection, from the welcome to the end of the replay. */
export interface PendingResume<F> {
  since: Position;
  /** Id of the subscribe that carried `since`: its answer says whether the resume worked. */
  id: string | number | undefined;
  /** The ack said `recovered: true`: frames until `replayed` are the replay. */
  replaying: boolean;
  held: HeldFrame<F>[];
}

/**
 * Held frames in the order to deliver them: by seq. Frames of one channel on one connection share
 * an epoch; should they not, the arrival order is kept (seqs of two histories do not compare).
 */
export function inOrder<F>(held: readonly HeldFrame<F>[]): HeldFrame<F>[] {
  const epoch = held[0]?.position.epoch;
  if (held.some((entry) => entry.position.epoch !== epoch)) return [...held];
  // Array.prototype.sort is stable: equal seqs (which the gateway never sends) keep their order.
  return [...held].sort((a, b) => a.position.seq - b.position.seq);
}

/** A frame of a type the SDK does not know, if it is of a lossless channel: its channel field. */
export function channelField(frame: UnknownFrame): string | undefined {
  return typeof frame.channel === "string" ? frame.channel : undefined;
}
