/**
 * The wire timing a client asks for with `"timing": true` on subscribe: a data frame of that
 * subscription gains `gw_rx` and `gw_tx`, wall-clock microseconds since the epoch at NATS receive
 * and at the write. The shared, pre-built frame is left as it is (every other client gets the same
 * bytes as without the option); the timed client gets a copy with the two fields spliced in before
 * the closing brace, built when its socket is written.
 */

const FIN_TEXT = 0x81;

/** A pre-built unmasked text frame (frame-encoder.ts) with `,"gw_rx":rx,"gw_tx":tx` added to its object. */
export function withTiming(frame: Buffer, rxMicros: number, txMicros: number): Buffer {
  const length = frame[1] as number;
  const headerLength = length < 126 ? 2 : length === 126 ? 4 : 10;
  // Every data frame is a JSON object: its payload ends with "}".
  const body = frame.subarray(headerLength, frame.length - 1);
  const tail = `,"gw_rx":${rxMicros},"gw_tx":${txMicros}}`;
  const payloadLength = body.length + tail.length;
  const newHeaderLength = payloadLength < 126 ? 2 : payloadLength < 65536 ? 4 : 10;
  const timed = Buffer.allocUnsafe(newHeaderLength + payloadLength);
  timed[0] = FIN_TEXT;
  if (payloadLength < 126) timed[1] = payloadLength;
  else if (payloadLength < 65536) {
    timed[1] = 126;
    timed.writeUInt16BE(payloadLength, 2);
  } else {
    timed[1] = 127;
    timed.writeUInt32BE(0, 2);
    timed.writeUInt32BE(payloadLength, 6);
  }
  body.copy(timed, newHeaderLength);
  timed.write(tail, newHeaderLength + body.length, "latin1");
  return timed;
}
