/**
 * The load workers' WebSocket client: the handshake, then frames read straight off the TCP socket.
 *
 * The load generator has one core for a million frames a second, so its receive path must cost far
 * less than any server's send path; `ws`'s (a Writable stream, an event and usually a Buffer copy
 * per message) cost enough to saturate that core at 160,000 frames/s. Here a frame that lies whole
 * in one TCP read is handed over as a view of that read, with no copy and no event; only frames
 * split across reads are joined. Unmasked frames from the server (RFC 6455: servers never mask),
 * no extensions (the handshake offers none), control frames answered as the RFC asks.
 */
import { randomBytes } from "node:crypto";
import http from "node:http";
import type { Socket } from "node:net";

const OPCODE_CLOSE = 0x8;
const OPCODE_PING = 0x9;
const OPCODE_PONG = 0xa;
/** No close code in the close frame, or no close frame at all (RFC 6455 7.4.1). */
export const CLOSE_NO_STATUS = 1005;
export const CLOSE_ABNORMAL = 1006;

export interface RawWebSocketHandlers {
  /** One whole data message: `bytes[start, end)` (valid only during the call). */
  onMessage(socket: RawWebSocket, bytes: Buffer, start: number, end: number): void;
  onClose(code: number): void;
}

export interface RawWebSocket {
  /** Send a text frame (masked, as a client must). */
  send(text: string): void;
  pause(): void;
  resume(): void;
  destroy(): void;
}

export function openRawWebSocket(
  url: string,
  localAddress: string | undefined,
  handlers: RawWebSocketHandlers,
): Promise<RawWebSocket> {
  const target = new URL(url);
  return new Promise((resolve, reject) => {
    const request = http.get({
      host: target.hostname,
      port: target.port,
      path: `${target.pathname}${target.search}`,
      localAddress,
      headers: {
        Connection: "Upgrade",
        Upgrade: "websocket",
        "Sec-WebSocket-Version": "13",
        "Sec-WebSocket-Key": randomBytes(16).toString("base64"),
      },
    });
    request.once("error", reject);
    request.once("response", (response) => {
      response.resume();
      reject(new Error(`${url}: HTTP ${response.statusCode} instead of an upgrade`));
    });
    request.once("upgrade", (_response, socket, head) => {
      request.off("error", reject);
      resolve(attach(socket, head, handlers));
    });
  });
}

function attach(socket: Socket, head: Buffer, handlers: RawWebSocketHandlers): RawWebSocket {
  socket.setNoDelay(true);
  let pending: Buffer | undefined;
  /** A data message split into several frames (rare: servers here send whole messages). */
  let fragments: Buffer[] = [];
  let closed = false;
  const close = (code: number) => {
    if (closed) return;
    closed = true;
    handlers.onClose(code);
  };

  const send = (opcode: number, payload: Buffer) => {
    if (socket.destroyed) return;
    const mask = randomBytes(4);
    const length = payload.length;
    const header = length < 126 ? Buffer.alloc(6) : Buffer.alloc(8);
    header[0] = 0x80 | opcode;
    if (length < 126) {
      header[1] = 0x80 | length;
      mask.copy(header, 2);
    } else {
      header[1] = 0x80 | 126;
      header.writeUInt16BE(length, 2);
      mask.copy(header, 4);
    }
    const masked = Buffer.allocUnsafe(length);
    for (let i = 0; i < length; i++) masked[i] = (payload[i] as number) ^ (mask[i & 3] as number);
    socket.write(Buffer.concat([header, masked]));
  };

  const onFrame = (fin: boolean, opcode: number, bytes: Buffer, start: number, end: number) => {
    if (opcode === OPCODE_CLOSE) {
      const code = end - start >= 2 ? bytes.readUInt16BE(start) : CLOSE_NO_STATUS;
      send(OPCODE_CLOSE, Buffer.from(bytes.subarray(start, Math.min(end, start + 2))));
      close(code);
      socket.end();
    } else if (opcode === OPCODE_PING) {
      send(OPCODE_PONG, Buffer.from(bytes.subarray(start, end)));
    } else if (opcode === OPCODE_PONG) {
      // Unsolicited pongs are allowed and mean nothing.
    } else if (fin && fragments.length === 0) {
      handlers.onMessage(raw, bytes, start, end);
    } else {
      fragments.push(Buffer.from(bytes.subarray(start, end)));
      if (fin) {
        const whole = Buffer.concat(fragments);
        fragments = [];
        handlers.onMessage(raw, whole, 0, whole.length);
      }
    }
  };

  const onData = (chunk: Buffer) => {
    const bytes = pending ? Buffer.concat([pending, chunk]) : chunk;
    pending = undefined;
    let at = 0;
    while (bytes.length - at >= 2) {
      const first = bytes[at] as number;
      const second = bytes[at + 1] as number;
      let length = second & 0x7f;
      let headerLength = 2;
      if (length === 126) {
        if (bytes.length - at < 4) break;
        length = bytes.readUInt16BE(at + 2);
        headerLength = 4;
      } else if (length === 127) {
        if (bytes.length - at < 10) break;
        length = Number(bytes.readBigUInt64BE(at + 2));
        headerLength = 10;
      }
      const start = at + headerLength;
      const end = start + length;
      if (end > bytes.length) break;
      onFrame((first & 0x80) !== 0, first & 0x0f, bytes, start, end);
      at = end;
    }
    if (at < bytes.length) pending = Buffer.from(bytes.subarray(at));
  };

  const raw: RawWebSocket = {
    send: (text) => send(0x1, Buffer.from(text)),
    pause: () => socket.pause(),
    resume: () => socket.resume(),
    destroy: () => socket.destroy(),
  };
  socket.on("data", onData);
  socket.on("error", () => {});
  socket.once("close", () => close(CLOSE_ABNORMAL));
  if (head.length > 0) onData(head);
  return raw;
}
