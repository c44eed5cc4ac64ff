/**
 * The SDK's identity on the real gateway with WEBSOCKET_AUTH=jwt: one client_id for all of its
 * connections (generated once when the application gives none), so that a reconnection after a
 * dead connection replaces the stale one at once; and how the token travels (auth frame by
 * default, Authorization header in Node, the URL only when asked for), seen from the gateway.
 */
import type { IncomingMessage } from "node:http";
import { beforeAll, beforeEach, describe, expect, it } from "vitest";
import type { GatewayClientOptions } from "../../src/client/node.js";
import { signToken, TEST_SECRET } from "../helpers/tokens.js";
import { withGateway } from "../helpers/with-gateway.js";
import { recordedClient, startProxy } from "./helpers/sdk.js";

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
const SUBJECT = "sdk-user";

// One connection per subject: a reconnection that did not replace its stale connection would
// be refused with 1013 until the gateway's ping found the stale one dead.
const stack = withGateway({
  env: {
    WEBSOCKET_AUTH: "jwt",
    WEBSOCKET_JWT_SECRET: TEST_SECRET,
    WEBSOCKET_MAX_CONNECTIONS_PER_SUBJECT: "1",
  },
});
/** Every upgrade request the gateway received: its URL and Authorization header. */
const upgrades: { url: string; authorization: string | undefined }[] = [];

beforeAll(() => {
  stack.running.gateway.fastify.server.on("upgrade", (request: IncomingMessage) =>
    upgrades.push({ url: request.url ?? "", authorization: request.headers.authorization }),
  );
});

// Each test's own upgrades: the previous test's clients are all closed by now.
beforeEach(() => {
  upgrades.splice(0);
});

function client(url: string, options: Omit<GatewayClientOptions, "url"> = {}) {
  return recordedClient(stack, { url, token: () => signToken({ sub: SUBJECT }), ...options });
}

describe("one client_id across reconnections", () => {
  it("a reconnection after a dead connection replaces the stale one at once, under the same client_id", async () => {
    const { running } = stack;
    const proxy = await startProxy(stack);
    const PONG_TIMEOUT_MS = 500;
    const { sdk, events } = client(proxy.wsUrl, {
      pingIntervalMs: 100,
      pongTimeoutMs: PONG_TIMEOUT_MS,
      backoff: { initialDelayMs: 10, maxDelayMs: 10 },
    });
    expect(sdk.clientId).toMatch(UUID);
    sdk.connect();
    const first = (await events.next("open")).welcome;
    expect(first.client_id).toBe(sdk.clientId);
    const stale = running.gateway.endpoint.clients.get(sdk.clientId, SUBJECT);
    expect(stale).toBeDefined();
    const replacedBefore = running.gateway.endpoint.counters.replaced;

    // A hung path: the gateway still holds the old connection (its ping is 30 s away).
    proxy.freeze();
    expect(await events.next("closed")).toEqual({
      code: 1006,
      reason: `Dead connection: no pong within ${PONG_TIMEOUT_MS} ms`,
      willReconnect: true,
    });
    const second = (await events.next("open")).welcome;

    // Gateway side: the same client_id in both upgrades, and the stale connection replaced by the
    // new one on arrival (with the cap at 1, lingering it would have had the new one refused).
    const ids = upgrades.map(({ url }) => new URL(url, "http://gateway").searchParams.get("client_id"));
    expect(ids).toEqual([sdk.clientId, sdk.clientId]);
    expect(second.client_id).toBe(sdk.clientId);
    expect(running.gateway.endpoint.counters.replaced).toBe(replacedBefore + 1);
    expect(stale?.closing).toBe(true);
    const current = running.gateway.endpoint.clients.get(sdk.clientId, SUBJECT);
    expect(current).not.toBe(stale);
    expect(running.gateway.endpoint.clients.countOf(SUBJECT)).toBe(1);

    // The 4000 went to the abandoned socket: the SDK saw only its own 1006, and is open.
    expect(events.all("closed")).toHaveLength(1);
    expect(sdk.state).toBe("open");
    expect(await events.next("pong")).toBeDefined();
  });

  it("the application's clientId is used as is; two SDK instances without one get different ids", () => {
    const named = client(stack.running.wsUrl, { clientId: "desk-1" });
    expect(named.sdk.clientId).toBe("desk-1");
    const a = client(stack.running.wsUrl);
    const b = client(stack.running.wsUrl);
    expect(a.sdk.clientId).toMatch(UUID);
    expect(a.sdk.clientId).not.toBe(b.sdk.clientId);
  });
});

describe("how the token travels", () => {
  async function connectWith(options: Omit<GatewayClientOptions, "url">) {
    const { sdk, events } = client(stack.running.wsUrl, options);
    sdk.connect();
    const { welcome } = await events.next("open");
    expect(welcome.client_id).toBe(sdk.clientId);
    expect(upgrades).toHaveLength(1);
    return upgrades[0] as { url: string; authorization: string | undefined };
  }

  it("Node's default: the Authorization header, nothing in the URL", async () => {
    const upgrade = await connectWith({});
    expect(upgrade.url).toMatch(/^\/ws\?client_id=[0-9a-f-]{36}$/);
    expect(upgrade.authorization).toMatch(/^Bearer eyJ/);
  });

  it('tokenTransport "frame" (the browser default): neither header nor URL', async () => {
    const upgrade = await connectWith({ tokenTransport: "frame" });
    expect(upgrade.url).toMatch(/^\/ws\?client_id=[0-9a-f-]{36}$/);
    expect(upgrade.authorization).toBeUndefined();
  });

  it('tokenTransport "query", when asked for: the token in the URL', async () => {
    const upgrade = await connectWith({ tokenTransport: "query" });
    expect(upgrade.url).toMatch(/^\/ws\?client_id=[0-9a-f-]{36}&token=eyJ/);
    expect(upgrade.authorization).toBeUndefined();
  });
});
