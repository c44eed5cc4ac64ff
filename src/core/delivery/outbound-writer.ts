/**
 * Per-socket write coalescing with a bounded buffer.
 *
 * One socket write costs far more than building a frame (mostly kernel time), so everything a
 * socket is owed within one event-loop turn goes out in a single write: frames accumulate on the
 * session and are flushed together from setImmediate, after the I/O phase that produced them.
 * Each frame is still its own WebSocket message, as the seed's clients expect.
 *
 * The write window adapts to load: a flush that took `t` (thousands of sockets) is followed by the
 * next one no sooner than `t` later, so a busy gateway writes several messages per socket write
 * instead of falling behind one write per message; an idle one flushes at once, as before. The
 * wait is capped at `maxWriteWindowMs` (WEBSOCKET_MAX_WRITE_WINDOW_MS): one slow flush (a GC
 * pause in it, a stalled socket) must not hold every frame of the next turn back as long again.
 *
 * Each flush tells the latency recorder when it began and wrote, and to how many sockets (once
 * per flush, not per client), and builds the timed copies of frames for clients that subscribed
 * with `"timing": true`.
 *
 * The buffer is bounded per client: conflated frames are skipped once the client is behind by
 * `conflatedDropBytes`, and a client that cannot take lossless data within `maxBufferedBytes`
 * is disconnected (SLOW_CONSUMER) rather than buffered without bound.
 */
import { WebSocket } from "ws";
import type { ClientSession } from "../client-session.js";
import type { LatencyRecorder } from "../latency/latency-recorder.js";
import { withTiming } from "../latency/timed-frame.js";

/** Waits shorter than a timer's resolution are not worth a timer: the flush goes at once. */
const MIN_TIMER_MS = 1;

export interface OutboundLimits {
  maxBufferedBytes: number;
  conflatedDropBytes: number;
  /** WEBSOCKET_MAX_WRITE_WINDOW_MS: the longest wait between flushes (Infinity: uncapped). */
  maxWriteWindowMs?: number;
}

export interface OutboundCounters {
  framesDropped: number;
  slowConsumerDisconnects: number;
}

export class OutboundWriter {
  readonly counters: OutboundCounters = { framesDropped: 0, slowConsumerDisconnects: 0 };
  private due: ClientSession[] = [];
  private scheduled = false;
  /** performance.now() before which the next flush does not start (see the write window above). */
  private nextFlushAt = 0;

  constructor(
    private readonly limits: OutboundLimits,
    private readonly onSlowConsumer: (session: ClientSession) => void,
    /** Per-stage timing (undefined with GATEWAY_TIMING=off). */
    private readonly latency?: LatencyRecorder,
  ) {}

  /** Lossless data for this client could not be kept within its limit: disconnect it (4001). */
  overflow(session: ClientSession): void {
    this.counters.slowConsumerDisconnects++;
    this.onSlowConsumer(session);
  }

  /** Queue a frame; false when it was not (skipped for a lagging client, or the client is going). */
  enqueue(session: ClientSession, frame: Buffer, lossless: boolean): boolean {
    if (session.closing) return false;
    // bufferedAmount is what ws and the socket hold in user space; pending is this turn's share.
    const queued = session.socket.bufferedAmount + session.pendingBytes;
    // Conflated data is never worth a disconnect: it is skipped, and the channel remembers that the
    // client is owed the latest values of its keys (ConflatedDelivery's next flush carries them).
    if (
      !lossless &&
      (queued > this.limits.conflatedDropBytes || queued + frame.length > this.limits.maxBufferedBytes)
    ) {
      this.counters.framesDropped++;
      return false;
    }
    if (queued + frame.length > this.limits.maxBufferedBytes) {
      this.overflow(session);
      return false;
    }
    if (session.pending === undefined) {
      session.pending = [frame];
      this.due.push(session);
      if (!this.scheduled) {
        this.scheduled = true;
        const wait = this.nextFlushAt - performance.now();
        if (wait >= MIN_TIMER_MS) setTimeout(this.flush, wait);
        else setImmediate(this.flush);
      }
    } else {
      session.pending.push(frame);
    }
    session.pendingBytes += frame.length;
    return true;
  }

  private readonly flush = (): void => {
    const started = performance.now();
    this.scheduled = false;
    const due = this.due;
    this.due = [];
    let writes = 0;
    for (const session of due) {
      const pending = session.pending;
      const timed = session.timedFrames;
      session.pending = undefined;
      session.pendingBytes = 0;
      if (pending === undefined || session.closing || session.socket.readyState !== WebSocket.OPEN) {
        session.timedFrames = undefined;
        continue;
      }
      if (timed !== undefined) {
        session.timedFrames = undefined;
        this.addTiming(pending, timed);
      }
      // The frames are complete, pre-built WebSocket frames, so they go straight to the TCP
      // socket the HTTP server handed to the upgrade listener. ws writes its own frames (pings,
      // close) to the same socket with single writes, and perMessageDeflate is off, so ws never
      // holds a partial frame these bytes could interleave with. One write per socket per turn:
      // several frames go out corked, as one writev of the shared frames. Copying them into one
      // buffer (Buffer.concat) made a new buffer per client per flush; on the order books at
      // 1,000 clients that garbage cost 627 to 673 ms of GC pauses in 20 s, against 84 to 119 ms
      // with writev (docs/latency.md).
      const transport = session.transport;
      if (pending.length === 1) transport.write(pending[0] as Buffer);
      else {
        transport.cork();
        try {
          for (const frame of pending) transport.write(frame);
        } finally {
          transport.uncork();
        }
      }
      writes++;
    }
    const finished = performance.now();
    this.latency?.written(started, finished, writes);
    const window = Math.min(finished - started, this.limits.maxWriteWindowMs ?? Number.POSITIVE_INFINITY);
    this.nextFlushAt = finished + window;
  };

  /**
   * Replace this client's timed frames by copies carrying gw_rx and gw_tx (now, its write). The
   * shared frames themselves are not touched.
   */
  private addTiming(pending: Buffer[], timed: number[]): void {
    const clock = this.latency?.clock;
    if (clock === undefined) return;
    const tx = clock.wallMicros(clock.now());
    for (let pair = 0; pair < timed.length; pair += 2) {
      const index = timed[pair] as number;
      pending[index] = withTiming(pending[index] as Buffer, clock.wallMicros(timed[pair + 1] as number), tx);
    }
  }
}
