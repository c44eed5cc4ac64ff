/**
 * One client of a benchmark target, as a load worker opens it. Every peer's client is the same raw
 * WebSocket (bench/lib/raw-websocket.ts) doing the same minimal work per data frame: find the
 * latency stamp, count. Only the framing differs, and each is read directly rather than through the
 * peer's client library (whose decoding cost would otherwise show up as the server's latency):
 * - gateway: one JSON frame per WebSocket message, data frames start `{"type":"bench"`;
 * - naive-ws: one JSON message per WebSocket message;
 * - nats-ws: the NATS protocol as a byte stream (INFO, PING, MSG <subject> <sid> <size>\r\n...),
 *   several operations per WebSocket message or one split across several; parsed here;
 * - socketio: Engine.IO 4 packets: `0{...}` open, `2` ping (answered `3`), `40` connect, and
 *   `42["m","<escaped JSON>"]` events.
 */
import { openRawWebSocket, type RawWebSocket } from "./raw-websocket.js";
import type { TargetName } from "./targets.js";

export interface BenchClient {
  close(): void;
  /**
   * Stop reading from the socket (the client stays connected), for slow-consumer scenarios: the
   * kernel buffers fill and the server sees a client that cannot keep up.
   */
  pause(): void;
  /** Read again (after the run, so that a stalled client learns how the server ended it). */
  resume(): void;
}

export interface ConnectClientOptions {
  /** Source address (127.0.0.2, 127.0.0.3, ...) so many clients do not exhaust one address's ports. */
  localAddress?: string;
  /** NATS subject, for nats-ws clients, which subscribe themselves. */
  subject: string;
  /** One data frame: its latency stamp (`t`, NaN when absent) and its size on the wire in bytes. */
  onData: (stamp: number, frameBytes: number) => void;
  onClose?: (code: number) => void;
  /**
   * Gateway only: subscribe to these symbols of this channel once open (resolving after the ack),
   * and hand that channel's frames, whole, to `onFrame` instead of `onData`.
   */
  subscribe?: { channel: string; frameType: string; symbols: string[]; onFrame: (frame: Buffer) => void };
}

const JSON_STAMP = Buffer.from('"t":');
/** Inside a Socket.IO event the JSON text is a string, so its quotes are escaped. */
const ESCAPED_STAMP = Buffer.from('t\\":');
const BENCH_FRAME_PREFIX = Buffer.from('{"type":"bench"');
const SUBSCRIBED_PREFIX = Buffer.from('{"type":"subscribed"');
const CR_LF = Buffer.from("\r\n");
const LETTER_M = "M".charCodeAt(0);
const LETTER_P = "P".charCodeAt(0);
const LETTER_I = "I".charCodeAt(0);
const DIGIT_0 = "0".charCodeAt(0);
const DIGIT_2 = "2".charCodeAt(0);
const DIGIT_4 = "4".charCodeAt(0);
const SPACE = " ".charCodeAt(0);
/** The longest number a stamp can be (ms since the epoch with fractions). */
const STAMP_DIGITS = 26;

/** The number after `marker` within bytes[from, to), NaN when the marker is absent. */
function stampIn(bytes: Buffer, marker: Buffer, from: number, to: number): number {
  const at = bytes.indexOf(marker, from);
  if (at < 0 || at >= to) return Number.NaN;
  const start = at + marker.length;
  return Number.parseFloat(bytes.toString("latin1", start, Math.min(to, start + STAMP_DIGITS)));
}

/** Do bytes[start, end) start with `prefix`? (No string is made: receiving is the generator's hot path.) */
function startsWith(bytes: Buffer, start: number, end: number, prefix: Buffer): boolean {
  return (
    end - start >= prefix.length &&
    bytes.compare(prefix, 0, prefix.length, start, start + prefix.length) === 0
  );
}

export function connectClient(
  target: TargetName,
  url: string,
  opts: ConnectClientOptions,
): Promise<BenchClient> {
  switch (target) {
    case "gateway":
    case "gateway-prod":
    case "gateway-before":
      return connectGateway(url, opts);
    case "naive-ws":
      return open(url, opts, (_socket, bytes, start, end) =>
        opts.onData(stampIn(bytes, JSON_STAMP, start, end), end - start),
      );
    case "socketio":
      return connectSocketIo(url, opts);
    case "nats-ws":
      return connectNats(url, opts);
  }
}

type Receive = (socket: RawWebSocket, bytes: Buffer, start: number, end: number) => void;

/**
 * A raw socket; resolves once `handshake` says the peer's own handshake is done (without one: once
 * open). `handshake` sees each message until then; `receive` sees every message after.
 */
async function open(
  url: string,
  opts: ConnectClientOptions,
  receive: Receive,
  handshake?: { start?: (socket: RawWebSocket) => void; done: (...args: Parameters<Receive>) => boolean },
): Promise<BenchClient> {
  let ready = handshake === undefined;
  let resolveReady: () => void = () => {};
  let rejectReady: (error: Error) => void = () => {};
  const handshaken = new Promise<void>((resolve, reject) => {
    resolveReady = resolve;
    rejectReady = reject;
  });
  const socket = await openRawWebSocket(url, opts.localAddress, {
    onMessage: (current, bytes, start, end) => {
      if (ready) return receive(current, bytes, start, end);
      if (handshake?.done(current, bytes, start, end)) {
        ready = true;
        resolveReady();
      }
    },
    onClose: (code) => {
      if (!ready) rejectReady(new Error(`closed (${code}) during the handshake`));
      opts.onClose?.(code);
    },
  });
  handshake?.start?.(socket);
  if (!ready) await handshaken;
  return { close: () => socket.destroy(), pause: () => socket.pause(), resume: () => socket.resume() };
}

function connectGateway(url: string, opts: ConnectClientOptions): Promise<BenchClient> {
  const subscribe = opts.subscribe;
  if (!subscribe) {
    // The welcome frame and any other channel's frames are skipped with a prefix check, not a parse.
    return open(url, opts, (_socket, bytes, start, end) => {
      if (startsWith(bytes, start, end, BENCH_FRAME_PREFIX))
        opts.onData(stampIn(bytes, JSON_STAMP, start, end), end - start);
    });
  }
  const prefix = Buffer.from(`{"type":"${subscribe.frameType}"`);
  return open(
    url,
    opts,
    (_socket, bytes, start, end) => {
      if (startsWith(bytes, start, end, prefix)) subscribe.onFrame(Buffer.from(bytes.subarray(start, end)));
    },
    {
      start: (socket) =>
        socket.send(
          JSON.stringify({ type: "subscribe", channel: subscribe.channel, symbols: subscribe.symbols }),
        ),
      done: (_socket, bytes, start, end) => startsWith(bytes, start, end, SUBSCRIBED_PREFIX),
    },
  );
}

function connectSocketIo(url: string, opts: ConnectClientOptions): Promise<BenchClient> {
  const endpoint = `${url.replace(/^http/, "ws")}/socket.io/?EIO=4&transport=websocket`;
  const answerPing = (socket: RawWebSocket, bytes: Buffer, start: number, end: number) => {
    if (end - start === 1 && bytes[start] === DIGIT_2) socket.send("3");
  };
  return open(
    endpoint,
    opts,
    (socket, bytes, start, end) => {
      // `42[...]`: an event (the only one the peer emits is the data frame).
      if (bytes[start] === DIGIT_4 && bytes[start + 1] === DIGIT_2)
        opts.onData(stampIn(bytes, ESCAPED_STAMP, start, end), end - start);
      else answerPing(socket, bytes, start, end);
    },
    {
      done: (socket, bytes, start, end) => {
        if (bytes[start] === DIGIT_0) socket.send("40"); // Engine.IO open: join the default namespace
        answerPing(socket, bytes, start, end);
        return bytes[start] === DIGIT_4 && bytes[start + 1] === DIGIT_0; // `40{...}`: joined
      },
    },
  );
}

/**
 * The NATS protocol over WebSocket, read as a byte stream. The client is ready once the server has
 * answered the PING sent after SUB: from then on the subscription is live.
 */
function connectNats(url: string, opts: ConnectClientOptions): Promise<BenchClient> {
  let pending: Buffer | undefined;
  let live = false;
  const parse: Receive = (socket, data, from, to) => {
    let bytes = data;
    let at = from;
    let end = to;
    if (pending) {
      bytes = Buffer.concat([pending, data.subarray(from, to)]);
      at = 0;
      end = bytes.length;
      pending = undefined;
    }
    while (at < end) {
      const lineEnd = bytes.indexOf(CR_LF, at);
      if (lineEnd < 0 || lineEnd >= end) break;
      if (bytes[at] === LETTER_M) {
        // MSG <subject> <sid> [reply-to] <size>\r\n<payload>\r\n
        const size = Number.parseInt(
          bytes.toString("latin1", bytes.lastIndexOf(SPACE, lineEnd) + 1, lineEnd),
          10,
        );
        const payloadStart = lineEnd + 2;
        const next = payloadStart + size + 2;
        if (next > end) break; // the rest of this operation is in a later message
        opts.onData(stampIn(bytes, JSON_STAMP, payloadStart, payloadStart + size), next - at);
        at = next;
        continue;
      }
      if (bytes[at] === LETTER_P) {
        if (bytes[at + 1] === LETTER_I) socket.send("PONG\r\n");
        else live = true; // PONG: the server has processed our SUB
      }
      at = lineEnd + 2; // INFO, +OK, -ERR, PING, PONG
    }
    if (at < end) pending = Buffer.from(bytes.subarray(at, end));
  };
  let subscribed = false;
  return open(url, opts, parse, {
    done: (socket, bytes, start, end) => {
      if (!subscribed) {
        // The server's INFO came: say who we are, subscribe, and ask for a PONG to know it is live.
        subscribed = true;
        const connect = {
          verbose: false,
          pedantic: false,
          echo: false,
          protocol: 1,
          lang: "bench",
          version: "1",
        };
        socket.send(`CONNECT ${JSON.stringify(connect)}\r\nSUB ${opts.subject} 1\r\nPING\r\n`);
      }
      parse(socket, bytes, start, end);
      return live;
    },
  });
}
