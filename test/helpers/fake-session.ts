/**
 * Sessions for unit tests of the delivery engine: a real ClientSession (its fields and `send` are
 * what the engine reads and calls) over a fake socket and TCP transport, so no network is needed.
 * The socket's `bufferedAmount` and `readyState` are plain fields a test sets; what the session
 * queues goes to the writer the test gives it, or is recorded in `sent`.
 */
import type { Duplex } from "node:stream";
import type { WebSocket } from "ws";
import type { Grant } from "../../src/core/auth/grant.js";
import { type ChannelSubscription, ClientSession, type FrameQueue } from "../../src/core/client-session.js";

/** What the engine reads of a ws WebSocket. */
export interface FakeSocket {
  bufferedAmount: number;
  readyState: number;
  readonly OPEN: 1;
}

/** The raw TCP socket the OutboundWriter writes pre-built frames to. */
/**
 * A TCP socket's write side as the OutboundWriter uses it: `written` holds one entry per write the
 * kernel would see (the chunks of a corked run of writes together, as Node sends them in one
 * writev), and `vectors` the chunks of each corked run as they were handed over (not copies).
 */
export interface FakeTransport {
  readonly written: Buffer[];
  readonly vectors: Buffer[][];
  write(bytes: Buffer): boolean;
  cork(): void;
  uncork(): void;
}

export interface SentFrame {
  frame: Buffer;
  lossless: boolean;
}

export interface FakeSessionOptions {
  clientId?: string;
  /** Where `session.send` queues; by default a recorder that fills `sent`. */
  writer?: FrameQueue;
  bufferedAmount?: number;
  /** The token's grant (WEBSOCKET_AUTH=jwt); undefined: authentication off. */
  grant?: Grant;
  /** Set directly, without a SubscriptionIndex, for modules that only read them. */
  subscriptions?: Record<string, "*" | string[]>;
}

export interface FakeSession {
  session: ClientSession;
  socket: FakeSocket;
  transport: FakeTransport;
  /** What `session.send` queued, when the default writer is used. */
  sent: SentFrame[];
  /** What the default writer answers: false stands for a frame skipped (a lagging client). */
  accepting: boolean;
}

export function fakeSession(options: FakeSessionOptions = {}): FakeSession {
  const socket: FakeSocket = { bufferedAmount: options.bufferedAmount ?? 0, readyState: 1, OPEN: 1 };
  const written: Buffer[] = [];
  const vectors: Buffer[][] = [];
  let corked: Buffer[] | undefined;
  const transport: FakeTransport = {
    written,
    vectors,
    write(bytes) {
      if (corked) corked.push(bytes);
      else written.push(bytes);
      return true;
    },
    cork() {
      corked ??= [];
    },
    uncork() {
      if (!corked) return;
      written.push(Buffer.concat(corked));
      vectors.push(corked);
      corked = undefined;
    },
  };
  const handle = { socket, transport, sent: [] as SentFrame[], accepting: true } as FakeSession;
  const writer: FrameQueue = options.writer ?? {
    enqueue: (_session, frame, lossless) => {
      handle.sent.push({ frame, lossless });
      return handle.accepting;
    },
  };
  handle.session = new ClientSession(
    options.clientId ?? "client",
    socket as unknown as WebSocket,
    transport as unknown as Duplex,
    writer,
  );
  handle.session.grant = options.grant;
  if (options.subscriptions) {
    handle.session.subscriptions = new Map<string, ChannelSubscription>(
      Object.entries(options.subscriptions).map(([channel, symbols]) => [
        channel,
        symbols === "*" ? "*" : new Set(symbols),
      ]),
    );
  }
  return handle;
}

/** A grant that lets a connection see the data of these accounts ("*": every account). */
export function grantFor(accounts: "*" | string[]): Grant {
  return {
    subject: "tester",
    channels: "*",
    accounts: accounts === "*" ? "*" : new Set(accounts),
    expiresAt: Number.MAX_SAFE_INTEGER,
  };
}

/** The JSON a server text frame (frame-encoder.ts: FIN + text, unmasked) carries, parsed. */
export function framePayload(frame: Buffer): unknown {
  const length = (frame[1] as number) & 0x7f;
  const header = length < 126 ? 2 : length === 126 ? 4 : 10;
  return JSON.parse(frame.subarray(header).toString("utf8"));
}
