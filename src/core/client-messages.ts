/**
 * What the gateway does with each client frame. Every frame gets exactly one reply (pong, an ack
 * or an error frame) and a bad frame never closes the connection. A frame whose handling fails
 * (a bug, ours or a plugin's) is logged with its channel, whether it came from the socket or
 * waited for a resume under way, and never takes the connection or the process down.
 */
import type { Logger } from "pino";
import { mayUseChannel } from "./auth/grant.js";
import type { ClientSession } from "./client-session.js";
import { type ErrorCode, ErrorCodes } from "./errors.js";
import { encodeFrame } from "./frame-encoder.js";
import type { ResumeAnswer, Resumer } from "./history/resume.js";
import { InvalidMessages, invalidMessage, NOT_JSON, quoteClientText } from "./invalid-message.js";
import type { Pipeline } from "./pipeline.js";
import { unhandledKind } from "./plugin.js";
import { type ClientFrame, clientFrame, isoNow, SYMBOL_PATTERN } from "./protocol.js";
import type { StreamStatusMonitor } from "./stream-status.js";
import type { SubscriptionIndex } from "./subscription-index.js";

type MessageId = string | number | undefined;

/** The longest interval_ms a client may choose (a minute). */
const MAX_INTERVAL_MS = 60_000;

/** The exact `{"type":"pong"}` the seed shows, pre-built once. */
const PONG = encodeFrame({ type: "pong" });

export class ClientMessageHandler {
  /**
   * Token refresh (`auth` frame on an open connection), set when WEBSOCKET_AUTH=jwt; the reply
   * comes later, once the token is verified.
   */
  refreshToken: ((session: ClientSession, token: string, id: MessageId) => void) | undefined;

  /** The text of INVALID_MESSAGE errors: which field, and what it must be. */
  private readonly invalid: InvalidMessages;

  constructor(
    private readonly index: SubscriptionIndex,
    private readonly pipelines: ReadonlyMap<string, Pipeline>,
    private readonly limits: { maxSymbolsPerSubscribe: number; maxSymbolsPerClient: number },
    private readonly resumer: Resumer,
    private readonly quality: {
      streamStatus: StreamStatusMonitor;
      /** WEBSOCKET_MIN_INTERVAL_MS: the shortest interval_ms a client may choose. */
      minIntervalMs: number;
    },
    private readonly logger: Logger,
  ) {
    this.invalid = new InvalidMessages({
      interval_ms: `an integer from ${quality.minIntervalMs} to ${MAX_INTERVAL_MS}`,
    });
  }

  /** One client frame, with every path (a deferred one too) inside this error handling. */
  handle(session: ClientSession, text: string): void {
    try {
      this.dispatch(session, text);
    } catch (error) {
      // A bug (ours, or a plugin's hook throwing) on one frame costs that frame only.
      this.logger.error(
        { err: error, clientId: session.clientId, channel: channelOf(text) },
        "client message handling failed",
      );
    }
  }

  private dispatch(session: ClientSession, text: string): void {
    let raw: unknown;
    try {
      raw = JSON.parse(text);
    } catch {
      this.sendError(session, "INVALID_MESSAGE", undefined, invalidMessage(NOT_JSON));
      return;
    }
    const id = idOf(raw);
    const parsed = clientFrame.safeParse(raw);
    if (!parsed.success) {
      // The seed's "Invalid message format", then the field and its rule; the code says which
      // way the frame failed (UNKNOWN_MESSAGE_TYPE: a `type` this gateway does not know).
      const problem = this.invalid.explain(raw, parsed.error);
      this.sendError(session, problem.code, id, problem.error);
      return;
    }
    const frame = parsed.data;
    if (frame.type === "ping") {
      session.send(frame.id === undefined ? PONG : encodeFrame({ type: "pong", id: frame.id }), true);
      return;
    }
    if (frame.type === "auth") {
      if (this.refreshToken) this.refreshToken(session, frame.token, frame.id);
      else this.sendError(session, "AUTH_DISABLED", frame.id);
      return;
    }
    const pipeline = this.pipelines.get(frame.channel);
    if (!pipeline) {
      this.sendError(
        session,
        "UNKNOWN_CHANNEL",
        frame.id,
        `Unknown channel: ${quoteClientText(frame.channel)}`,
      );
      return;
    }
    if (frame.type === "subscribe" && !mayUseChannel(session.grant, frame.channel)) {
      this.sendError(
        session,
        "FORBIDDEN",
        frame.id,
        `${ErrorCodes.FORBIDDEN.message}: ${quoteClientText(frame.channel)}`,
      );
      return;
    }
    const symbols = normaliseSymbols(frame.symbols);
    if (symbols === undefined) {
      this.sendError(session, "INVALID_SYMBOLS", frame.id, invalidSymbolsMessage(frame.symbols));
      return;
    }
    if (symbols !== "*" && symbols.length > this.limits.maxSymbolsPerSubscribe) {
      const message = `Too many symbols: at most ${this.limits.maxSymbolsPerSubscribe} per message`;
      this.sendError(session, "TOO_MANY_SYMBOLS", frame.id, message);
      return;
    }
    if (frame.type === "subscribe") {
      this.subscribe(session, frame, pipeline, symbols, text);
      return;
    }
    const result = this.index.unsubscribe(session, frame.channel, symbols);
    if (!result.ok) {
      this.sendError(session, "SUBSCRIPTION_CONFLICT", frame.id);
      return;
    }
    // Leaving a channel forgets its wire timing, and the interval the client chose for it.
    if (result.state.length === 0) {
      session.timing?.delete(frame.channel);
      if (pipeline.kind === "conflated")
        pipeline.delivery.move(session, () => session.intervals?.delete(frame.channel));
      else if (pipeline.kind === "state") session.intervals?.delete(frame.channel);
    }
    this.sendAck(session, "unsubscribed", frame.channel, result.state, frame.id);
  }

  private subscribe(
    session: ClientSession,
    frame: Extract<ClientFrame, { type: "subscribe" }>,
    pipeline: Pipeline,
    symbols: "*" | string[],
    text: string,
  ): void {
    if (frame.interval_ms !== undefined) {
      // On a lossless channel, or out of range: refused, and the subscription is unchanged.
      const problem = this.intervalProblem(frame.interval_ms, frame.channel, pipeline);
      if (problem !== undefined) {
        this.sendError(session, "INVALID_MESSAGE", frame.id, problem);
        return;
      }
    }
    const resuming = pipeline.kind === "lossless" && frame.since !== undefined;
    if (resuming) {
      // One resume at a time per channel: a second `since` is taken once the first has handed over.
      const running = this.resumer.running(session, frame.channel);
      if (running) {
        void running.released.then(() => {
          if (!session.closing) this.handle(session, text);
        });
        return;
      }
    }
    const result = this.index.subscribe(session, frame.channel, symbols);
    if (!result.ok) {
      const message = `Too many symbols: at most ${this.limits.maxSymbolsPerClient} per connection`;
      this.sendError(session, "TOO_MANY_SYMBOLS", frame.id, message);
      return;
    }
    // Wire timing (docs/latency.md): set before the snapshot, which carries it too.
    if (frame.timing === true) {
      session.timing ??= new Set();
      session.timing.add(frame.channel);
    } else if (frame.timing === false) session.timing?.delete(frame.channel);
    switch (pipeline.kind) {
      case "conflated": {
        const { delivery } = pipeline;
        const chosen = frame.interval_ms;
        if (chosen !== undefined) {
          delivery.move(session, () => {
            session.intervals ??= new Map();
            session.intervals.set(frame.channel, chosen);
          });
        }
        this.sendAck(session, "subscribed", frame.channel, result.state, frame.id, {
          interval_ms: delivery.intervalOf(session),
        });
        delivery.snapshot(session, symbols);
        return;
      }
      case "lossless": {
        if (frame.since !== undefined) {
          // Live frames are held from here (the same synchronous step as the subscription), so the
          // replay and live meet without a gap.
          const ack = (answer: ResumeAnswer) =>
            this.sendAck(session, "subscribed", frame.channel, result.state, frame.id, answer);
          void this.resumer.resume(session, pipeline.delivery, frame.since, ack);
          return;
        }
        // The head, with the stream's full identity on a JetStream channel (epochs.ts).
        const position = pipeline.history.position();
        this.sendAck(session, "subscribed", frame.channel, result.state, frame.id, { position });
        return;
      }
      case "state": {
        // A state channel recovers by snapshot: `since` is accepted and answered with snapshots.
        const { delivery } = pipeline;
        const before = delivery.intervalOf(session);
        const chosen = frame.interval_ms;
        if (chosen !== undefined) {
          session.intervals ??= new Map();
          session.intervals.set(frame.channel, chosen);
        }
        this.sendAck(session, "subscribed", frame.channel, result.state, frame.id, {
          interval_ms: delivery.intervalOf(session),
        });
        // A new interval means another flush group: every key the client holds starts again.
        delivery.snapshot(session, delivery.intervalOf(session) === before ? symbols : result.state);
        return;
      }
      default:
        unhandledKind(pipeline);
    }
  }

  /**
   * interval_ms: conflated and state channels, an integer from WEBSOCKET_MIN_INTERVAL_MS to 60,000.
   * The error text when it breaks that, else undefined.
   */
  private intervalProblem(intervalMs: number, channel: string, pipeline: Pipeline): string | undefined {
    // A lossless channel delivers every frame at once: it has no interval to choose.
    if (pipeline.kind === "lossless")
      return invalidMessage(`interval_ms is not allowed on ${channel} (lossless)`);
    if (intervalMs < this.quality.minIntervalMs || intervalMs > MAX_INTERVAL_MS)
      return this.invalid.mustBe("interval_ms");
    return undefined;
  }

  /** An error frame in the seed's shape plus `code` (and the request's `id`, when it had one). */
  sendError(
    session: ClientSession,
    code: ErrorCode,
    id: MessageId,
    message: string = ErrorCodes[code].message,
  ): void {
    session.send(encodeFrame({ type: "error", error: message, code, timestamp: isoNow(), id }), true);
  }

  private sendAck(
    session: ClientSession,
    type: "subscribed" | "unsubscribed",
    channel: string,
    symbols: "*" | string[],
    id: MessageId,
    extra?: Partial<ResumeAnswer> & { interval_ms?: number | undefined },
  ): void {
    session.send(
      encodeFrame({
        type,
        channel,
        symbols,
        position: extra?.position,
        interval_ms: type === "subscribed" ? extra?.interval_ms : undefined,
        stream_status: type === "subscribed" ? this.quality.streamStatus.stateOf(channel) : undefined,
        recovered: extra?.recovered,
        reason: extra?.reason,
        id,
        timestamp: isoNow(),
      }),
      true,
    );
  }
}

/** `"*"`, `["*"]` or absent mean all; otherwise every symbol must pass the syntax. */
function normaliseSymbols(symbols: "*" | string[] | undefined): "*" | string[] | undefined {
  if (symbols === undefined || symbols === "*" || (symbols.length === 1 && symbols[0] === "*")) return "*";
  if (symbols.length === 0) return undefined;
  return symbols.every((symbol) => SYMBOL_PATTERN.test(symbol)) ? [...new Set(symbols)] : undefined;
}

function invalidSymbolsMessage(symbols: "*" | string[] | undefined): string {
  const bad = Array.isArray(symbols) ? symbols.filter((symbol) => !SYMBOL_PATTERN.test(symbol)) : [];
  if (bad.length === 0)
    return `${ErrorCodes.INVALID_SYMBOLS.message}: symbols must not be empty (use "*" for all)`;
  return `${ErrorCodes.INVALID_SYMBOLS.message}: ${bad.slice(0, 5).map(quoteClientText).join(", ")}`;
}

/** The client's correlation id, when it sent a usable one, so that even errors can echo it. */
function idOf(raw: unknown): MessageId {
  if (typeof raw !== "object" || raw === null) return undefined;
  const id = (raw as { id?: unknown }).id;
  if (typeof id === "string" && id.length <= 64) return id;
  // The same rule as the frame schema: only ids a client can round-trip exactly are echoed.
  if (typeof id === "number" && Number.isSafeInteger(id)) return id;
  return undefined;
}

/** The frame's channel, for a log line about a frame whose handling failed. */
function channelOf(text: string): string | undefined {
  try {
    const channel = (JSON.parse(text) as { channel?: unknown } | null)?.channel;
    return typeof channel === "string" ? channel.slice(0, 64) : undefined;
  } catch {
    return undefined;
  }
}
