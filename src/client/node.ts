/**
 * The SDK for Node: the same API as ./index.js, with the `ws` package as the default WebSocket
 * (Node 20 has no global one), which can send the token in the `Authorization` header (the
 * default `tokenTransport` here). Node-only; browser bundles import ./index.js.
 */
import WebSocket from "ws";
import { GatewayClient as BaseGatewayClient, type GatewayClientOptions } from "./gateway-client.js";

export * from "./index.js";

export class GatewayClient extends BaseGatewayClient {
  constructor(options: GatewayClientOptions) {
    // Headers only with `ws`: another WebSocket passed in keeps the portable auth frame.
    super({ WebSocket, tokenTransport: options.WebSocket === undefined ? "header" : "frame", ...options });
  }
}
