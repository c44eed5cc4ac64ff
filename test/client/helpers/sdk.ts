/**
 * SDK clients and relays owned by a withGateway fixture: each is closed when the test (or suite)
 * that opened it ends, the SDK clients with the other clients, before any relay or gateway.
 */
import { GatewayClient, type GatewayClientOptions } from "../../../src/client/node.js";
import type { GatewayFixture } from "../../helpers/with-gateway.js";
import { ClientRecorder } from "./recorder.js";
import { TcpProxy } from "./tcp-proxy.js";

export interface RecordedClient {
  sdk: GatewayClient;
  events: ClientRecorder;
}

/** A GatewayClient (not connected yet) and the recorder of its events. */
export function recordedClient(stack: GatewayFixture, options: GatewayClientOptions): RecordedClient {
  const sdk = stack.track(new GatewayClient(options), { client: true });
  return { sdk, events: new ClientRecorder(sdk) };
}

/** A relay to `port` (default: the fixture's gateway). */
export async function startProxy(stack: GatewayFixture, port = stack.running.port): Promise<TcpProxy> {
  return stack.track(await TcpProxy.start(port));
}

/** A relay to the fixture's gateway and an SDK client connected through it, its welcome received. */
export async function openThroughProxy(
  stack: GatewayFixture,
  options: Omit<GatewayClientOptions, "url"> = {},
): Promise<RecordedClient & { proxy: TcpProxy }> {
  const proxy = await startProxy(stack);
  const client = recordedClient(stack, { url: proxy.wsUrl, ...options });
  client.sdk.connect();
  await client.events.next("open");
  return { ...client, proxy };
}
