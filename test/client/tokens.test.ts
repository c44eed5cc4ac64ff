/**
 * The SDK with WEBSOCKET_AUTH=jwt on the real gateway: a token function is asked before every
 * connection and again shortly before the token expires (refresh on the open connection with an
 * `auth` frame); a fixed token that expires gets 4402 (reconnectable), and when reconnecting with
 * it is refused with 4401 (terminal) the client stops.
 */
import { describe, expect, it } from "vitest";
import { expiryOf, signToken, TEST_SECRET } from "../helpers/tokens.js";
import { withGateway } from "../helpers/with-gateway.js";
import { recordedClient } from "./helpers/sdk.js";

const stack = withGateway({ env: { WEBSOCKET_AUTH: "jwt", WEBSOCKET_JWT_SECRET: TEST_SECRET } });

describe("token function", () => {
  it("is asked before connecting and again before the token expires; the refresh keeps the connection", async () => {
    const issued: string[] = [];
    const { sdk, events } = recordedClient(stack, {
      url: stack.running.wsUrl,
      clientId: "alice",
      // Four-second tokens (JWT expiry has whole seconds), refreshed 2 s before expiry: about
      // 2 s into the test, with 2 s to spare before the gateway would close with 4402.
      token: async () => {
        const token = await signToken({ sub: "alice", expiresIn: 4 });
        issued.push(token);
        return token;
      },
      tokenRefreshLeadMs: 2000,
    });
    sdk.connect();

    const { url } = await events.next("connecting");
    expect(url).toBe(`${stack.running.wsUrl}?client_id=alice`); // the token is not in what the SDK reports
    const { welcome } = await events.next("open");
    expect(welcome).toMatchObject({ client_id: "alice", expires_at: expiryOf(issued[0] as string) });

    const refreshed = await events.next("authenticated");
    expect(issued).toHaveLength(2);
    expect(refreshed).toMatchObject({ client_id: "alice", expires_at: expiryOf(issued[1] as string) });
    expect(Date.parse(refreshed.expires_at)).toBeGreaterThan(Date.parse(welcome.expires_at as string));
    expect(events.all("closed")).toEqual([]);
    expect(events.all("server_error")).toEqual([]);
  });

  it("a token function that fails is an error event, and the client retries", async () => {
    let calls = 0;
    const { sdk, events } = recordedClient(stack, {
      url: stack.running.wsUrl,
      clientId: "bob",
      token: () => {
        calls++;
        if (calls === 1) throw new Error("identity provider unavailable");
        return signToken({ sub: "bob" });
      },
      backoff: { initialDelayMs: 10, maxDelayMs: 10 },
    });
    sdk.connect();
    expect(await events.next("error")).toMatchObject({
      kind: "token",
      message: "Token function failed: identity provider unavailable",
    });
    expect(await events.next("reconnecting")).toMatchObject({ attempt: 1 });
    expect((await events.next("open")).welcome.client_id).toBe("bob");
    expect(calls).toBe(2);
  });
});

describe("fixed token", () => {
  it("expiry closes with 4402 and the client reconnects; refused with 4401 it stops", async () => {
    // Two seconds: expires soon, but surely not before the first connection is verified.
    const token = await signToken({ sub: "carol", expiresIn: 2 });
    const { sdk, events } = recordedClient(stack, {
      url: stack.running.wsUrl,
      clientId: "carol",
      token,
      backoff: { initialDelayMs: 10, maxDelayMs: 10 },
    });
    sdk.connect();
    await events.next("open");

    expect(await events.next("closed")).toEqual({ code: 4402, reason: "Token expired", willReconnect: true });
    const refused = await events.next("closed");
    expect(refused).toMatchObject({ code: 4401, willReconnect: false });
    expect(sdk.state).toBe("closed");
    expect(events.all("reconnecting")).toHaveLength(1);
  });
});
