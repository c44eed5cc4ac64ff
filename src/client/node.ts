/**
 * The SDK for Node: the same API as ./index.js, with the `ws` package as the default WebSocket
 * (Node 20 has no global one), which can send the token in the `Authorization` header (the
 * default `tokenTransport` here). Node-only; browser bundles import ./index.js.
 *
 * Unlike a browser's, this WebSocket reads the response of a refused upgrade (`ws`'s
 * `unexpected-response`): the `Retry-After` of a 503 (over the gateway's
 * WEBSOCKET_MAX_CONNECTS_PER_SECOND) is kept as `retryAfterMs`, and the client waits at least that
 * (with jitter) before its next attempt.
 */
import type { ClientRequest, IncomingMessage } from "node:http";
import WebSocket from "ws";
import { GatewayClient as BaseGatewayClient, type GatewayClientOptions } from "./gateway-client.js";

export * from "./index.js";

/** `Retry-After` in ms: delay-seconds, or an HTTP date; undefined when absent or unreadable. */
export function retryAfterMs(header: string | undefined, now = Date.now()): number | undefined {
  if (header === undefined) return undefined;
  const trimmed = header.trim();
  if (/^\d+$/.test(trimmed)) return Number(trimmed) * 1000;
  const date = Date.parse(trimmed);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}

/** `ws`, recording the status and Retry-After of a refused upgrade before failing as `ws` does. */
export class NodeWebSocket extends WebSocket {
  /** The refused upgrade's Retry-After, in ms. */
  retryAfterMs: number | undefined;

  constructor(address: string, protocols?: string | string[], options?: WebSocket.ClientOptions) {
    super(address, protocols, options);
    this.on("unexpected-response", (request: ClientRequest, response: IncomingMessage) => {
      const header = response.headers["retry-after"];
      this.retryAfterMs = retryAfterMs(Array.isArray(header) ? header[0] : header);
      // What ws does without this listener: fail the handshake (error, then close 1006). The
      // message is ws's own, so the `closed` event reads the same with or without this listener.
      response.resume();
      request.destroy(new Error(`Unexpected server response: ${response.statusCode}`));
    });
  }
}

export class GatewayClient extends BaseGatewayClient {
  constructor(options: GatewayClientOptions) {
    // Headers only with `ws`: another WebSocket passed in keeps the portable auth frame.
    super({
      WebSocket: NodeWebSocket,
      tokenTransport: options.WebSocket === undefined ? "header" : "frame",
      ...options,
    });
  }
}
