/**
 * One WebSocket connection: who it is, what it is subscribed to, what it is owed, and whether it
 * is still alive. Kept small: an idle connection should cost a few kilobytes at most.
 */
import type { Duplex } from "node:stream";
import type { WebSocket } from "ws";
import type { Grant } from "./auth/grant.js";
import { sharedMap, sharedSet } from "./copy-on-write.js";
import type { CloseCodeName } from "./errors.js";
import { CloseCodes } from "./errors.js";
import type { DeliveryCoverage } from "./history/delivery-coverage.js";
import type { ResumeGate } from "./history/resume-gate.js";
import type { TokenBucket } from "./rate-limiter.js";

/**
 * Where a session's frames go: the OutboundWriter, seen from here through this interface only, so
 * that the writer depends on the session and not the other way round as well.
 */
export interface FrameQueue {
  enqueue(session: ClientSession, frame: Buffer, lossless: boolean): boolean;
}

/** A channel's subscription: every symbol, or the listed ones. No entry: not subscribed. */
export type ChannelSubscription = "*" | Set<string>;

/** Where every session starts: subscribed to nothing (shared, see copy-on-write.ts). */
export const NOT_SUBSCRIBED = sharedMap<string, ChannelSubscription>();
export const NO_CHANNELS = sharedSet<string>();

export class ClientSession {
  /**
   * Channel name -> subscription. Changed only by the SubscriptionIndex, and possibly shared with
   * other sessions on the same default until then (copy-on-write.ts).
   */
  subscriptions: ReadonlyMap<string, ChannelSubscription> = NOT_SUBSCRIBED;
  /** Symbols held across all channels (bounded by WEBSOCKET_MAX_SYMBOLS_PER_CLIENT). */
  symbolCount = 0;
  /**
   * Channels still on the auto-subscribe default; the first explicit subscribe replaces it.
   * Changed only by the SubscriptionIndex, shared like `subscriptions`.
   */
  implicit: ReadonlySet<string> = NO_CHANNELS;
  /** Cleared when a protocol ping goes out, set by the pong (or any message). */
  alive = true;
  /** Frames owed to the socket in this event-loop turn, written together by the OutboundWriter. */
  pending: Buffer[] | undefined;
  pendingBytes = 0;
  /**
   * Inbound rate limit: each client frame takes a token. Made on the first client frame (many
   * clients never send one): a bucket starts full, so it is the one a connect would have made.
   */
  bucket: TokenBucket | undefined;
  /** Client frames refused for rate in a row (reset by any accepted frame). */
  rateStrikes = 0;
  /** Set once a close has started: nothing more is queued. */
  closing = false;
  /** What the connection's token allows (WEBSOCKET_AUTH=jwt); undefined when auth is off. */
  grant: Grant | undefined;
  /** Closes the connection when its token expires (WEBSOCKET_AUTH=jwt). */
  expiryTimer: NodeJS.Timeout | undefined;
  /**
   * Token refreshes (`auth` frames) received, and the number of the last one applied: one that
   * finishes verifying after a later one was applied is stale and changes nothing. Made on the
   * first refresh.
   */
  refreshes: { started: number; applied: number } | undefined;
  /** Per lossless channel: what this connection was sent (so a resume never repeats it). */
  coverage: Map<string, DeliveryCoverage> | undefined;
  /** Conflated channel -> the flush interval this client chose with `interval_ms`. */
  intervals: Map<string, number> | undefined;
  /** How much the gateway has widened this client's conflated intervals (1: not degraded). */
  degradeFactor = 1;
  /** Per lossless channel with a resume under way: live frames held until the replay is out. */
  gates: Map<string, ResumeGate> | undefined;
  /** Channels subscribed with `"timing": true`: their data frames carry gw_rx and gw_tx. */
  timing: Set<string> | undefined;
  /**
   * Frames of this turn's `pending` that get wire timing when written: pairs of their index in
   * `pending` and their NATS receive stamp (latency/timed-frame.ts). Undefined for most clients.
   */
  timedFrames: number[] | undefined;

  constructor(
    readonly clientId: string,
    readonly socket: WebSocket,
    /**
     * The connection's TCP socket, as the HTTP server handed it to the `upgrade` listener: the
     * OutboundWriter writes pre-framed frames to it (a public handle, not a private field of ws).
     */
    readonly transport: Duplex,
    private readonly writer: FrameQueue,
    /**
     * The token's `sub` (WEBSOCKET_AUTH=jwt): whose connection this is. Several connections may
     * share it; a refresh must keep it. Undefined when auth is off.
     */
    readonly subject?: string,
  ) {}

  /**
   * Queue a pre-framed WebSocket frame. `lossless: false` marks conflated data that may be skipped
   * when the client is behind; lossless data that cannot be queued disconnects the client.
   */
  send(frame: Buffer, lossless: boolean): boolean {
    return this.writer.enqueue(this, frame, lossless);
  }

  /**
   * Queue a data frame of a subscription with timing: the same shared frame, marked so that the
   * writer adds gw_rx (from `rx`, a stage-clock stamp) and gw_tx to this client's copy.
   */
  sendTimed(frame: Buffer, lossless: boolean, rx: number): boolean {
    if (!this.writer.enqueue(this, frame, lossless)) return false;
    if (this.pending === undefined) return true;
    this.timedFrames ??= [];
    this.timedFrames.push(this.pending.length - 1, rx);
    return true;
  }

  /** Start the close handshake with one of the documented codes; the socket is dropped after a grace period. */
  close(name: CloseCodeName, reason: string, graceMs: number): void {
    if (this.closing) return;
    this.closing = true;
    // Frames queued in this turn (the error frames that led to a 1008, say) go out before the
    // close frame, or the client would never see them: nothing is written after a close frame.
    const pending = this.pending;
    this.pending = undefined;
    this.pendingBytes = 0;
    this.timedFrames = undefined;
    if (pending && this.socket.readyState === this.socket.OPEN) this.transport.write(Buffer.concat(pending));
    closeWithGrace(this.socket, CloseCodes[name].code, reason, graceMs);
  }
}

/**
 * Start the close handshake, and drop the socket if the peer has not answered within `graceMs`:
 * a peer that never answers the close frame (or never reads at all) must not hold memory.
 */
export function closeWithGrace(socket: WebSocket, code: number, reason: string, graceMs: number): void {
  socket.close(code, fitCloseReason(reason));
  const timer = setTimeout(() => socket.terminate(), graceMs);
  timer.unref();
  socket.once("close", () => clearTimeout(timer));
}

/** RFC 6455 allows 123 bytes of close reason, and `ws` throws beyond: cut longer ones (UTF-8 safe). */
export function fitCloseReason(reason: string): string {
  if (Buffer.byteLength(reason) <= 123) return reason;
  let cut = reason.slice(0, 120);
  while (Buffer.byteLength(`${cut}...`) > 123) cut = cut.slice(0, -1);
  return `${cut}...`;
}
