/**
 * The pre-framed bytes the gateway writes straight to TCP must be frames any WebSocket client
 * decodes: one text message each, FIN set, unmasked, with the right length encoding at the
 * 125/126 and 65535/65536 boundaries. Decoded here by the `ws` library's own Receiver (the
 * parser a Node client runs) and, end to end, by a real ws client.
 */
import type { AddressInfo, Socket } from "node:net";
import type { Writable } from "node:stream";
import { afterEach, describe, expect, it } from "vitest";
import * as ws from "ws";
import { encodeFrame, encodeTextFrame } from "../../src/core/frame-encoder.js";

/** ws exports its frame parser at runtime; @types/ws does not declare it. */
type Receiver = Writable & {
  on(event: "message", listener: (data: Buffer, isBinary: boolean) => void): Receiver;
  on(event: "error", listener: (error: Error) => void): Receiver;
};
const ReceiverClass = (ws as unknown as { Receiver: new (options: { isServer: boolean }) => Receiver })
  .Receiver;

/** Feed bytes to a client-side Receiver and collect the messages it decodes. */
async function decode(bytes: Buffer): Promise<{ text: string; isBinary: boolean }[]> {
  const receiver = new ReceiverClass({ isServer: false });
  const messages: { text: string; isBinary: boolean }[] = [];
  const errors: Error[] = [];
  receiver.on("message", (data, isBinary) => messages.push({ text: data.toString("utf8"), isBinary }));
  receiver.on("error", (error) => errors.push(error));
  await new Promise<void>((resolve, reject) =>
    receiver.write(bytes, (error) => (error ? reject(error) : resolve())),
  );
  // Let any event the Receiver deferred to a later tick fire before looking.
  await new Promise((resolve) => setImmediate(resolve));
  expect(errors).toEqual([]);
  return messages;
}

const textOf = (length: number) => "x".repeat(length);

describe("encodeTextFrame", () => {
  it.each([0, 1, 125, 126, 127, 65535, 65536, 200_000])(
    "a %i-byte payload decodes back to the same text as one text message",
    async (length) => {
      const payload = textOf(length);
      const messages = await decode(encodeTextFrame(payload));
      expect(messages).toHaveLength(1);
      expect(messages[0]?.isBinary).toBe(false);
      expect(messages[0]?.text).toBe(payload);
    },
  );

  it.each([
    [0, 2],
    [125, 2],
    [126, 4],
    [65535, 4],
    [65536, 10],
  ])("a %i-byte payload has FIN + text opcode, no mask and a %i-byte header", (length, header) => {
    const frame = encodeTextFrame(textOf(length));
    expect(frame[0]).toBe(0x81); // FIN=1, RSV=0, opcode=1 (text)
    expect((frame[1] as number) & 0x80).toBe(0); // server frames are never masked
    expect(frame.length).toBe(header + length);
  });

  it("measures the length in UTF-8 bytes, not characters", async () => {
    // 100 characters but 200 bytes: a character count would pick the short header and cut the text.
    const payload = "é".repeat(100);
    const frame = encodeTextFrame(payload);
    expect(frame[1]).toBe(126);
    expect(frame.readUInt16BE(2)).toBe(200);
    expect(frame.length).toBe(4 + 200);
    expect((await decode(frame))[0]?.text).toBe(payload);
  });

  it("frames written back to back decode as separate messages (write coalescing)", async () => {
    const payloads = ['{"type":"pong"}', textOf(300), textOf(70_000), ""];
    const messages = await decode(Buffer.concat(payloads.map((payload) => encodeTextFrame(payload))));
    expect(messages.map((message) => message.text)).toEqual(payloads);
  });
});

describe("encodeFrame", () => {
  it("serialises an object to the JSON a client parses back", async () => {
    const frame = {
      type: "price_update",
      symbols: { AAPL: { price: 150.25 } },
      timestamp: "2024-12-19T12:00:00Z",
    };
    const [message] = await decode(encodeFrame(frame));
    expect(JSON.parse(message?.text ?? "")).toEqual(frame);
  });
});

describe("over a real connection", () => {
  let server: ws.WebSocketServer | undefined;
  afterEach(async () => {
    const running = server;
    server = undefined;
    if (running) await new Promise((resolve) => running.close(resolve));
  });

  it("pre-framed bytes written to the raw socket reach a ws client as text messages", async () => {
    const payloads = ['{"type":"welcome"}', textOf(126), textOf(65536)];
    server = new ws.WebSocketServer({ port: 0, host: "127.0.0.1", perMessageDeflate: false });
    server.on("connection", (socket) => {
      // The gateway's OutboundWriter path: one write of several complete frames under ws.
      const raw = (socket as unknown as { _socket: Socket })._socket;
      raw.write(Buffer.concat(payloads.map((payload) => encodeTextFrame(payload))));
    });
    await new Promise((resolve) => server?.once("listening", resolve));
    const { port } = server.address() as AddressInfo;
    const client = new ws.WebSocket(`ws://127.0.0.1:${port}`);
    const received = await new Promise<{ text: string; isBinary: boolean }[]>((resolve, reject) => {
      const messages: { text: string; isBinary: boolean }[] = [];
      client.on("message", (data, isBinary) => {
        messages.push({ text: data.toString(), isBinary });
        if (messages.length === payloads.length) resolve(messages);
      });
      client.on("error", reject);
      client.on("close", (code) =>
        reject(new Error(`closed with ${code} after ${messages.length} messages`)),
      );
    });
    client.terminate();
    expect(received.map((message) => message.isBinary)).toEqual([false, false, false]);
    expect(received.map((message) => message.text)).toEqual(payloads);
  });
});
