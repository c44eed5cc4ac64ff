/**
 * WEBSOCKET_MAX_CONNECTS_PER_SECOND with a real gateway and real sockets: a burst of upgrades over
 * the rate is refused at the HTTP level, 503 with Retry-After, before any handshake (no 101, no
 * WebSocket accepted then closed), counted in /metrics; connections under the rate go through.
 */
import { request } from "node:http";
import { describe, expect, it } from "vitest";
import WebSocket from "ws";
import { withGateway } from "../helpers/with-gateway.js";

const stack = withGateway({ gateway: false });

interface UpgradeAnswer {
  status: number;
  retryAfter: string | undefined;
  body: string;
}

/** A raw HTTP upgrade request: what the server answered, before any WebSocket exists. */
function rawUpgrade(port: number): Promise<UpgradeAnswer> {
  return new Promise((resolve, reject) => {
    const req = request({
      host: "127.0.0.1",
      port,
      path: "/ws",
      headers: {
        Connection: "Upgrade",
        Upgrade: "websocket",
        "Sec-WebSocket-Version": "13",
        "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
      },
    });
    req.once("upgrade", (response, socket) => {
      socket.destroy();
      resolve({ status: response.statusCode ?? 0, retryAfter: undefined, body: "" });
    });
    req.once("response", (response) => {
      let body = "";
      response.on("data", (chunk: Buffer) => {
        body += chunk.toString();
      });
      response.once("end", () =>
        resolve({
          status: response.statusCode ?? 0,
          retryAfter: response.headers["retry-after"],
          body,
        }),
      );
    });
    req.once("error", reject);
    req.end();
  });
}

/** Open a WebSocket: "open", or the refused upgrade's status and Retry-After (ws's unexpected-response). */
function wsUpgrade(url: string): Promise<{ open: WebSocket } | { status: number; retryAfter?: string }> {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(url);
    socket.once("open", () => resolve({ open: socket }));
    socket.once("unexpected-response", (req, response) => {
      resolve({ status: response.statusCode ?? 0, retryAfter: response.headers["retry-after"] });
      response.resume();
      req.destroy();
    });
    socket.once("error", reject);
  });
}

async function refusedForRate(httpUrl: string): Promise<number> {
  const text = await (await fetch(`${httpUrl}/metrics`)).text();
  const match = /gateway_connections_refused_total\{reason="rate"\} (\d+)/.exec(text);
  return Number(match?.[1] ?? Number.NaN);
}

describe("WEBSOCKET_MAX_CONNECTS_PER_SECOND", () => {
  it("refuses a burst over the rate with 503 and Retry-After at the HTTP level, counted in /metrics", async () => {
    const running = await stack.startGateway({
      WEBSOCKET_MAX_CONNECTS_PER_SECOND: "2",
      WEBSOCKET_CONNECTS_BURST: "3",
    });
    expect(await refusedForRate(running.httpUrl)).toBe(0);
    const answers = await Promise.all(Array.from({ length: 8 }, () => rawUpgrade(running.port)));
    const accepted = answers.filter((answer) => answer.status === 101);
    const refused = answers.filter((answer) => answer.status !== 101);
    expect(accepted).toHaveLength(3);
    expect(refused).toHaveLength(5);
    for (const answer of refused) {
      expect(answer.status).toBe(503);
      expect(answer.retryAfter).toMatch(/^\d+$/);
      expect(Number(answer.retryAfter)).toBeGreaterThanOrEqual(1);
      expect(JSON.parse(answer.body).error).toContain("WEBSOCKET_MAX_CONNECTS_PER_SECOND");
    }
    expect(await refusedForRate(running.httpUrl)).toBe(5);
    // Refused before the handshake: the gateway accepted only the three.
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(running.gateway.endpoint.counters.accepted).toBe(3);

    // ws reports it the same way (what the Node SDK reads).
    const viaWs = await wsUpgrade(running.wsUrl);
    expect(viaWs).toEqual({ status: 503, retryAfter: "1" });
  }, 20_000);

  it("lets connections under the rate through, and counts nothing", async () => {
    const running = await stack.startGateway({
      WEBSOCKET_MAX_CONNECTS_PER_SECOND: "10",
      WEBSOCKET_CONNECTS_BURST: "2",
    });
    // One every 150 ms: under 10 a second, past the burst.
    for (let i = 0; i < 6; i++) {
      const client = await stack.connect({ url: running.wsUrl, record: false });
      expect(client.frames[0]?.type).toBe("welcome");
      await new Promise((resolve) => setTimeout(resolve, 150));
    }
    expect(await refusedForRate(running.httpUrl)).toBe(0);
  }, 20_000);

  it("has no limit by default (0)", async () => {
    const running = await stack.startGateway({});
    const answers = await Promise.all(Array.from({ length: 30 }, () => rawUpgrade(running.port)));
    expect(answers.every((answer) => answer.status === 101)).toBe(true);
    expect(await refusedForRate(running.httpUrl)).toBe(0);
  }, 20_000);
});
