/**
 * The SDK for Node: the same API as ./index.js, with the `ws` package as the default WebSocket
 * (Node 20 has no global one). Node-only; browser bundles import ./index.js.
 */
import WebSocket from "ws";
import { GatewayClient as BaseGatewayClient, type GatewayClientOptions } from "./gateway-client.js";

export * from "./index.js";

export class GatewayClient extends BaseGatewayClient {
  constructor(options: GatewayClientOptions) {
    super({ WebSocket, ...options });
  }
}
