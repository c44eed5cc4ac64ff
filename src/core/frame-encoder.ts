/**
 * Serialise once, frame once: a server-to-client WebSocket text frame (RFC 6455 section 5.2,
 * FIN + opcode 1, unmasked) built as one Buffer, so the same bytes can be written to any number
 * of sockets without re-encoding the string or re-framing per client.
 */

const FIN_TEXT = 0x81;

export function encodeTextFrame(payload: string): Buffer {
  const length = Buffer.byteLength(payload);
  const headerLength = length < 126 ? 2 : length < 65536 ? 4 : 10;
  const frame = Buffer.allocUnsafe(headerLength + length);
  frame[0] = FIN_TEXT;
  if (length < 126) {
    frame[1] = length;
  } else if (length < 65536) {
    frame[1] = 126;
    frame.writeUInt16BE(length, 2);
  } else {
    frame[1] = 127;
    frame.writeUInt32BE(0, 2);
    frame.writeUInt32BE(length, 6);
  }
  frame.write(payload, headerLength, "utf8");
  return frame;
}

/** Serialise a frame object and frame it. */
export function encodeFrame(frame: unknown): Buffer {
  return encodeTextFrame(JSON.stringify(frame));
}
