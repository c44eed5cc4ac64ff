/**
 * `gateway tail`: follow the gateway's frames through the SDK, so the command reconnects (and
 * restores its subscriptions) like any SDK user. Data frames go to stdout, one line each (or one
 * JSON object each with --json); connection state and control replies go to stderr, so that the
 * output pipes cleanly.
 *
 * Every line about a frame carries the frame's own time (the gateway's clock), so that lines read
 * in time order; lines about the connection itself (connecting, closed) carry the local time.
 *
 * With --channel, only the followed channels' frames are printed, each once. Until the gateway has
 * acknowledged the tail's subscription, a connection still delivers its auto-subscribe default;
 * the SDK narrows that to the symbols asked for, but a conflated channel then sends the latest
 * value of each symbol again after the ack (its snapshot), and the channels being left may still
 * deliver. So a followed conflated channel is printed from its ack on, and an unfollowed channel
 * not at all: nothing is missed, since the snapshot holds every symbol's latest value.
 *
 * The order_books channel is printed from the SDK's verified books, not from its frames: one line
 * per snapshot or update the SDK checked and applied (best bid, best ask, spread, sequence), and a
 * note on stderr when a book breaks and is resynced or goes stale. With --json its frames are
 * printed as they came, like every channel's.
 */
import {
  GatewayClient,
  ORDER_BOOKS_CHANNEL,
  STALE_REASONS,
  type StreamState,
  type WelcomeFrame,
} from "../client/node.js";
import { describeClose, formatFrame, formatOrderBook, timeOf } from "./format.js";

export interface TailOptions {
  url: string;
  /** Follow only these channels (empty: the auto-subscribe default, every channel). */
  channels: string[];
  /** Only these symbols of those channels (absent: all). */
  symbols: string[] | undefined;
  clientId: string | undefined;
  token: string | undefined;
  json: boolean;
}

const CONTROL = new Set([
  "welcome",
  "subscribed",
  "unsubscribed",
  "replayed",
  "pong",
  "error",
  "authenticated",
  "stream_status",
  "delivery_status",
  "state_status",
]);

/** Printed from the SDK's verified book (the order_book event) instead, unless --json. */
const ORDER_BOOK_FRAMES = new Set(["order_book_snapshot", "order_book_update"]);

/** Why a book was resynced, for a person. */
const RESYNC_REASONS = {
  gap: "an update was missed",
  checksum_mismatch: "the checksum did not match",
  no_snapshot: "an update came before any snapshot",
} as const;

/** "live", or "stale (upstream_disconnected: the gateway has lost its NATS link)". */
function describeStream({ status, reason }: StreamState): string {
  if (status === "live") return "live";
  return reason === undefined ? "stale" : `stale (${reason}: ${STALE_REASONS[reason]})`;
}

/** The channel of each data frame type the welcome describes (a state channel's two types both). */
function channelsByFrameType(welcome: WelcomeFrame): Map<string, string> {
  const channels = new Map<string, string>();
  for (const [channel, info] of Object.entries(welcome.channel_info ?? {})) {
    channels.set(info.frame_type, channel);
    if (info.update_frame_type !== undefined) channels.set(info.update_frame_type, channel);
  }
  return channels;
}

/** "6 s", "0.2 s" */
function seconds(ms: number): string {
  return `${Number((ms / 1000).toFixed(3))} s`;
}

/** Resolves with the exit status: 0 after SIGINT/SIGTERM, 1 when the gateway closes for good, 2 on bad input. */
export function tail(options: TailOptions): Promise<number> {
  /** A line on stderr, at `at` (a frame's timestamp) or, for the connection's own events, now. */
  const note = (text: string, at?: string) => process.stderr.write(`${timeOf(at)}  ${text}\n`);
  let client: GatewayClient;
  try {
    client = new GatewayClient({
      url: options.url,
      clientId: options.clientId,
      token: options.token,
      // One interactive client, not a fleet: come back within seconds of the gateway.
      backoff: { initialDelayMs: 250, maxDelayMs: 5000 },
    });
    for (const channel of options.channels) client.subscribe(channel, options.symbols ?? "*");
  } catch (error) {
    process.stderr.write(`gateway: ${(error as Error).message}\n`);
    return Promise.resolve(2);
  }

  return new Promise<number>((resolve) => {
    let finished = false;
    const finish = (code: number) => {
      if (finished) return;
      finished = true;
      process.off("SIGINT", onSignal);
      process.off("SIGTERM", onSignal);
      client.close().then(() => resolve(code));
    };
    const onSignal = () => finish(0);
    process.on("SIGINT", onSignal);
    process.on("SIGTERM", onSignal);
    // `gateway tail | head`: the reader went away; stop quietly.
    process.stdout.on("error", () => finish(0));

    client.on("connecting", ({ attempt, url }) =>
      note(attempt === 0 ? `connecting to ${url}` : `connecting to ${url} (attempt ${attempt})`),
    );
    const followed = (channel: string) => options.channels.length === 0 || options.channels.includes(channel);
    /** This connection's channel of each data frame type. */
    let frameChannels = new Map<string, string>();
    /** Followed conflated channels whose `subscribed` ack (and the snapshot after it) is still to come. */
    const awaitingAck = new Set<string>();
    client.on("open", ({ welcome }) => {
      note(`connected as ${welcome.client_id}; channels: ${welcome.channels.join(", ")}`, welcome.timestamp);
      frameChannels = channelsByFrameType(welcome);
      awaitingAck.clear();
      for (const channel of options.channels)
        if (welcome.channel_info?.[channel]?.delivery === "conflated") awaitingAck.add(channel);
      // Stale already: say so (changes after this are told as they come).
      for (const [channel, state] of Object.entries(welcome.stream_status ?? {}))
        if (state.status === "stale" && followed(channel))
          note(`${channel}: ${describeStream(state)}`, welcome.timestamp);
      if (options.channels.length === 0) return;
      const unknown = options.channels.filter((channel) => !welcome.channels.includes(channel));
      if (unknown.length > 0) {
        note(`unknown channel ${unknown.join(", ")}: this gateway serves ${welcome.channels.join(", ")}`);
        finish(2);
        return;
      }
      // Leave every other channel the connection starts on (the auto-subscribe default; not
      // order_books, which starts empty); remembered like the subscriptions, so a reconnection
      // restores exactly this view.
      const startsWithNothing = (channel: string) => {
        const start = welcome.subscriptions[channel];
        return Array.isArray(start) && start.length === 0;
      };
      for (const channel of welcome.channels)
        if (
          !options.channels.includes(channel) &&
          client.subscriptions[channel] === undefined &&
          !startsWithNothing(channel)
        )
          client.unsubscribe(channel);
    });
    client.on("reconnecting", ({ attempt, delayMs }) =>
      note(`reconnecting in ${(delayMs / 1000).toFixed(2)} s (attempt ${attempt})`),
    );
    client.on("closed", ({ code, reason, willReconnect, error }) => {
      if (finished) return;
      note(`connection closed: ${describeClose(code, reason, error)}`);
      if (!willReconnect) {
        note("not reconnecting: the gateway closed this connection for good");
        finish(1);
        return;
      }
      // 400, 403 or 404 to the upgrade (a wrong path, a refused Origin or client_id) will not
      // change by retrying, unlike 503 while a gateway restarts: one person at a terminal wants
      // to be told, not to watch retries scroll by.
      const refused = /Unexpected server response: (4\d\d)/.exec(error ?? "");
      if (refused) {
        note(
          `not reconnecting: the gateway refused the WebSocket upgrade with HTTP ${refused[1]}; check --url`,
        );
        finish(1);
      }
    });
    client.on("subscribed", ({ channel, symbols, timestamp }) => {
      awaitingAck.delete(channel);
      note(`subscribed ${channel}: ${symbols === "*" ? "all symbols" : symbols.join(", ")}`, timestamp);
    });
    client.on("unsubscribed", ({ channel, symbols, timestamp }) =>
      note(
        `unsubscribed ${channel}${Array.isArray(symbols) && symbols.length > 0 ? `; still ${symbols.join(", ")}` : ""}`,
        timestamp,
      ),
    );
    // After a reconnection, lossless channels (trades, signals) resume where the tail left off.
    client.on("recovered", ({ channel, count }) =>
      note(`resumed ${channel}: ${count} frame${count === 1 ? "" : "s"} replayed`),
    );
    client.on("gap", ({ channel, reason }) =>
      note(`${channel}: could not resume (${reason}); some frames may be missing`),
    );
    client.on("stream_status", (frame) => {
      if (followed(frame.channel)) note(`${frame.channel}: ${describeStream(frame)}`, frame.timestamp);
    });
    client.on("delivery_status", ({ degraded, intervals_ms }) => {
      const intervals = Object.entries(intervals_ms)
        .map(([channel, ms]) => `${channel} every ${seconds(ms)}`)
        .join(", ");
      note(
        degraded
          ? `delivery slowed (this client reads too slowly): ${intervals}`
          : `delivery back to normal${intervals ? `: ${intervals}` : ""}`,
      );
    });
    client.on("server_error", ({ code, error, timestamp }) => note(`error ${code}: ${error}`, timestamp));
    client.on("authenticated", ({ expires_at, timestamp }) =>
      note(`token refreshed; expires ${expires_at}`, timestamp),
    );
    client.on("error", (problem) =>
      note(
        problem.kind === "invalid_frame"
          ? `${problem.message}: ${JSON.stringify(problem.data)}`
          : problem.message,
      ),
    );
    client.on("order_book", ({ book, kind }) => {
      if (!options.json) process.stdout.write(`${formatOrderBook(book, kind)}\n`);
    });
    client.on("resync", ({ symbol, reason }) =>
      note(`${ORDER_BOOKS_CHANNEL} ${symbol}: ${RESYNC_REASONS[reason]}; resubscribed for a fresh snapshot`),
    );
    client.on("book_stale", ({ symbol, reason, sequence }) =>
      note(
        `${ORDER_BOOKS_CHANNEL} ${symbol}: stale (${reason})${sequence === undefined ? "" : `, last good at sequence ${sequence}`}; waiting for a snapshot`,
      ),
    );
    client.on("frame", (frame) => {
      if (CONTROL.has(frame.type) || (!options.json && ORDER_BOOK_FRAMES.has(frame.type))) return;
      const channel = frameChannels.get(frame.type);
      if (channel !== undefined && (!followed(channel) || awaitingAck.has(channel))) return;
      process.stdout.write(`${options.json ? JSON.stringify(frame) : formatFrame(frame)}\n`);
    });

    client.connect();
  });
}
