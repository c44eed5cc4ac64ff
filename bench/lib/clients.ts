/**
 * One client of a benchmark target, as a load worker opens it: connect, hand every data message's
 * text to `onMessage`, and close without waiting. Each target speaks its own protocol; this file
 * hides the difference so workers measure all four the same way.
 */
import { wsconnect } from "@nats-io/nats-core";
import { io, type ManagerOptions, type SocketOptions } from "socket.io-client";
import WebSocket from "ws";
import type { TargetName } from "./targets.js";

export interface BenchClient {
  close(): void;
  /**
   * Stop reading from the socket (the client stays connected), for slow-consumer scenarios: the
   * kernel buffers fill and the server sees a client that cannot keep up. Only the plain `ws`
   * clients (gateway, naive-ws) can do this; Socket.IO and nats.ws hide their socket.
   */
  pause?(): void;
}

export interface ConnectClientOptions {
  /** Source address (127.0.0.2, 127.0.0.3, …) so many clients do not exhaust one address's ports. */
  localAddress?: string;
  /** NATS subject, for nats-ws clients, which subscribe themselves. */
  subject: string;
  /** Raw bytes where the library hands them over (ws), text where it only offers text. */
  onMessage: (message: string | Buffer) => void;
  onClose?: (code: number) => void;
  /**
   * Gateway only: subscribe to these symbols of this channel once open (resolving after the ack),
   * and take that channel's frames as the data instead of the bench channel's.
   */
  subscribe?: { channel: string; frameType: string; symbols: string[] };
}

/** The gateway's bench frames start like this (JSON.stringify keeps `type` first). */
const BENCH_FRAME_PREFIX = Buffer.from('{"type":"bench"');

/** Does the message start with these bytes? (No string is made: receiving is the generator's hot path.) */
function startsWith(message: Buffer, prefix: Buffer): boolean {
  return message.length >= prefix.length && message.compare(prefix, 0, prefix.length, 0, prefix.length) === 0;
}

export async function connectClient(
  target: TargetName,
  url: string,
  opts: ConnectClientOptions,
): Promise<BenchClient> {
  switch (target) {
    case "gateway":
      // The welcome frame and other channels' frames are skipped with a prefix check, not a parse.
      if (opts.subscribe) {
        const prefix = Buffer.from(`{"type":"${opts.subscribe.frameType}"`);
        return connectWebSocket(url, opts, (message) => startsWith(message, prefix));
      }
      return connectWebSocket(url, opts, (message) => startsWith(message, BENCH_FRAME_PREFIX));
    case "naive-ws":
      return connectWebSocket(url, opts, () => true);
    case "socketio":
      return connectSocketIo(url, opts);
    case "nats-ws":
      return connectNatsWebSocket(url, opts);
  }
}

function connectWebSocket(
  url: string,
  opts: ConnectClientOptions,
  isData: (message: Buffer) => boolean,
): Promise<BenchClient> {
  return new Promise((resolve, reject) => {
    // skipUTF8Validation: the generator trusts the servers' bytes; validating 100,000s of frames
    // per second would spend the CPU the servers under test need.
    const socket = new WebSocket(url, {
      localAddress: opts.localAddress,
      perMessageDeflate: false,
      skipUTF8Validation: true,
    });
    socket.on("message", (data) => {
      const message = data as Buffer;
      if (isData(message)) opts.onMessage(message);
    });
    socket.once("open", () => {
      socket.off("error", reject);
      // After open, errors are followed by "close", which is what callers hear about.
      socket.on("error", () => {});
      const client = { close: () => socket.close(), pause: () => socket.pause() };
      if (!opts.subscribe) {
        resolve(client);
        return;
      }
      const { channel, symbols } = opts.subscribe;
      const onAck = (data: unknown) => {
        if (!String(data).startsWith('{"type":"subscribed"')) return;
        socket.off("message", onAck);
        resolve(client);
      };
      socket.on("message", onAck);
      socket.send(JSON.stringify({ type: "subscribe", channel, symbols }));
    });
    socket.once("error", reject);
    socket.once("close", (code) => opts.onClose?.(code));
  });
}

function connectSocketIo(url: string, opts: ConnectClientOptions): Promise<BenchClient> {
  // engine.io-client 6 copies `localAddress` from its options into the `ws` constructor in Node
  // (transports/websocket.js picks it along with agent, ca, …), but its types do not declare it.
  const options: Partial<ManagerOptions & SocketOptions> & { localAddress?: string } = {
    transports: ["websocket"],
    forceNew: true,
    reconnection: false,
    localAddress: opts.localAddress,
  };
  return new Promise((resolve, reject) => {
    const socket = io(url, options);
    socket.on("m", (text: string) => opts.onMessage(text));
    socket.once("connect", () => {
      socket.off("connect_error", reject);
      resolve({ close: () => socket.disconnect() });
    });
    socket.once("connect_error", reject);
    // Socket.IO reports reasons, not close codes: 1000 for a disconnect we asked for, 1006 otherwise.
    socket.on("disconnect", (reason) => opts.onClose?.(reason === "io client disconnect" ? 1000 : 1006));
  });
}

async function connectNatsWebSocket(url: string, opts: ConnectClientOptions): Promise<BenchClient> {
  // nats-core's WebSocket transport uses the global WebSocket, which Node 20 lacks; `ws` fills in.
  // It constructs the socket itself from a URL only, so `localAddress` cannot be passed: nats-ws
  // clients all connect from 127.0.0.1.
  (globalThis as { WebSocket?: unknown }).WebSocket ??= WebSocket;
  const nc = await wsconnect({ servers: url, noEcho: true, reconnect: false });
  nc.subscribe(opts.subject, { callback: (_error, msg) => opts.onMessage(msg.string()) });
  // The subscription is live only once the server has processed it: publishing may start after.
  await nc.flush();
  if (opts.onClose) {
    const onClose = opts.onClose;
    void nc.closed().then((error) => onClose(error ? 1006 : 1000));
  }
  return { close: () => void nc.close().catch(() => undefined) };
}
