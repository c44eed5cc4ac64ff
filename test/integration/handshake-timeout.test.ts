/**
 * WEBSOCKET_HANDSHAKE_TIMEOUT_MS: a socket that never completes its upgrade request, silent or
 * dripping one header at a time (slowloris), is answered 408 and dropped; connections that did
 * upgrade are not affected by the timeout.
 */
import { connect as tcpConnect } from "node:net";
import { describe, expect, it } from "vitest";
import { withGateway } from "../helpers/with-gateway.js";

const TIMEOUT_MS = 500;

const stack = withGateway({ env: { WEBSOCKET_HANDSHAKE_TIMEOUT_MS: String(TIMEOUT_MS) } });

/** Open a raw TCP connection, optionally drip header lines, and report what came back and when. */
function stalledUpgrade(drip: boolean): Promise<{ response: string; afterMs: number }> {
  return new Promise((resolve, reject) => {
    const started = Date.now();
    let response = "";
    let dripper: NodeJS.Timeout | undefined;
    const socket = tcpConnect(stack.running.port, "127.0.0.1", () => {
      socket.write("GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n");
      if (drip) dripper = setInterval(() => socket.write(`X-Drip-${Date.now()}: 1\r\n`), 100);
    });
    socket.on("data", (chunk) => {
      response += chunk.toString();
    });
    socket.on("error", reject);
    socket.on("close", () => {
      clearInterval(dripper);
      resolve({ response, afterMs: Date.now() - started });
    });
  });
}

describe("handshake timeout", () => {
  it.each([
    ["a socket that stops after the first header lines", false],
    ["a socket that drips a header every 100 ms (slowloris)", true],
  ])("answers %s with 408 and drops it", async (_case, drip) => {
    const established = await stack.connect();
    const { response, afterMs } = await stalledUpgrade(drip);
    expect(response.split("\r\n")[0]).toBe("HTTP/1.1 408 Request Timeout");
    expect(afterMs).toBeGreaterThanOrEqual(TIMEOUT_MS - 50);
    // Checked every min(1 s, timeout): dropped well before Node's 60 s default.
    expect(afterMs).toBeLessThan(TIMEOUT_MS * 2 + 1000);
    // An upgraded connection is past the handshake: the timeout does not touch it.
    expect(await established.request({ type: "ping" }, "still-here")).toEqual({
      type: "pong",
      id: "still-here",
    });
    await established.close();
  });
});
