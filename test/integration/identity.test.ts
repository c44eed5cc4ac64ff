/**
 * Connection identity with WEBSOCKET_AUTH=jwt, on a real gateway and real nats-server: the
 * connection id is its own (client_id, or a fresh UUID), not the token's subject; one subject may
 * hold several connections up to WEBSOCKET_MAX_CONNECTIONS_PER_SUBJECT (1013 beyond); takeover of
 * a client_id happens only within one subject; and token refreshes that finish verifying out of
 * order leave the later one in force.
 */
import { afterEach, describe, expect, it, vi } from "vitest";
import { TokenVerifier } from "../../src/core/auth/token-verifier.js";
import { type RunningGateway, waitForIngest } from "../helpers/gateway.js";
import type { TestClient } from "../helpers/test-client.js";
import { expiryOf, signToken, TEST_SECRET } from "../helpers/tokens.js";
import { withGateway } from "../helpers/with-gateway.js";

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
const ISO_UTC = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

const stack = withGateway({
  gateway: false,
  env: { WEBSOCKET_AUTH: "jwt", WEBSOCKET_JWT_SECRET: TEST_SECRET },
});

/** Connect with the token in the Authorization header; wait for the welcome unless told not to. */
function connect(url: string, token: string, welcome = true): Promise<TestClient> {
  return stack.connect({ url, welcome, headers: { Authorization: `Bearer ${token}` } });
}

/** Resolve once the gateway's side of a registered connection has closed (its slot is free). */
function serverClosed(running: RunningGateway, clientId: string, subject: string): Promise<void> {
  const session = running.gateway.endpoint.clients.get(clientId, subject);
  if (!session) return Promise.resolve();
  return new Promise((resolve) => {
    if (session.socket.readyState === session.socket.CLOSED) resolve();
    else session.socket.once("close", () => resolve());
  });
}

async function activeConnections(running: RunningGateway): Promise<number> {
  const status = (await (await fetch(`${running.httpUrl}/websocket/status`)).json()) as {
    active_connections: number;
  };
  return status.active_connections;
}

afterEach(() => {
  vi.restoreAllMocks();
});

describe("several connections per subject", () => {
  it("two tabs with one token both stay connected, each with its own client_id, and both receive data", async () => {
    const { publisher } = stack;
    const running = await stack.startGateway();
    const token = await signToken({ sub: "two-tabs" });
    const first = await connect(running.wsUrl, token);
    const second = await connect(running.wsUrl, token);
    expect(first.frames[0]?.client_id).toMatch(UUID);
    expect(second.frames[0]?.client_id).toMatch(UUID);
    expect(first.frames[0]?.client_id).not.toBe(second.frames[0]?.client_id);

    publisher.publish(
      "strategy.signals.AAPL",
      JSON.stringify({ symbol: "AAPL", signal_type: "BUY", price: 1, quantity: 1, confidence: 0.5 }),
    );
    await waitForIngest(running, publisher, "signals", 1);
    expect(await first.next("signal")).toMatchObject({ symbol: "AAPL", seq: 1 });
    expect(await second.next("signal")).toMatchObject({ symbol: "AAPL", seq: 1 });
    expect(first.closeEvent).toBeUndefined();
    expect(second.closeEvent).toBeUndefined();
    expect(await activeConnections(running)).toBe(2);
  });

  it("the 11th connection of one subject gets 1013 naming the default limit; another subject is still admitted; a closed one frees its slot", async () => {
    const running = await stack.startGateway();
    const token = await signToken({ sub: "many-tabs" });
    const tabs: TestClient[] = [];
    for (let i = 0; i < 10; i++) tabs.push(await connect(running.wsUrl, token));

    const over = await connect(running.wsUrl, token, false);
    expect(await over.waitForClose()).toEqual({
      code: 1013,
      reason: "Too many connections for this subject (10)",
    });
    expect(over.frames).toEqual([]);
    // The cap is per subject: someone else connects, and the ten are untouched.
    await connect(running.wsUrl, await signToken({ sub: "someone-else" }));
    for (const tab of tabs) expect(tab.closeEvent).toBeUndefined();

    const leaving = tabs[0] as TestClient;
    const gone = serverClosed(running, leaving.frames[0]?.client_id as string, "many-tabs");
    await leaving.close();
    await gone;
    const admitted = await connect(running.wsUrl, token);
    expect(admitted.frames[0]).toMatchObject({ type: "welcome", client_id: expect.stringMatching(UUID) });
  });

  it("many connections of one subject at once: exactly the cap is admitted, the rest get 1013, and the gateway carries on", async () => {
    const running = await stack.startGateway({ WEBSOCKET_MAX_CONNECTIONS_PER_SUBJECT: "3" });
    const token = await signToken({ sub: "stampede" });
    // All upgrades in flight together: their tokens are verified concurrently.
    const sockets = await Promise.all(Array.from({ length: 30 }, () => connect(running.wsUrl, token, false)));
    // Each one either is welcomed or is closed without a welcome (next() throws on the close).
    const outcomes = await Promise.all(
      sockets.map((socket) =>
        socket.next("welcome").then(
          () => "welcome" as const,
          () => socket.closeEvent,
        ),
      ),
    );
    expect(outcomes.filter((outcome) => outcome === "welcome")).toHaveLength(3);
    const refusals = outcomes.filter((outcome) => outcome !== "welcome");
    expect(refusals).toHaveLength(27);
    for (const refusal of refusals)
      expect(refusal).toEqual({ code: 1013, reason: "Too many connections for this subject (3)" });
    expect(running.gateway.endpoint.clients.countOf("stampede")).toBe(3);
    const other = await connect(running.wsUrl, await signToken({ sub: "bystander" }));
    expect(await other.request({ type: "ping" }, "alive")).toEqual({ type: "pong", id: "alive" });
  });
});

describe("client_id takeover is per subject", () => {
  it("same client_id, same subject: the newer connection takes over (4000), even at the subject's cap", async () => {
    const running = await stack.startGateway({ WEBSOCKET_MAX_CONNECTIONS_PER_SUBJECT: "1" });
    const token = await signToken({ sub: "desk-9" });
    const older = await connect(`${running.wsUrl}?client_id=terminal`, token);
    const newer = await connect(`${running.wsUrl}?client_id=terminal`, token);
    expect(await older.waitForClose()).toEqual({
      code: 4000,
      reason: "Replaced by a newer connection with the same client_id",
    });
    expect(newer.frames[0]).toMatchObject({ type: "welcome", client_id: "terminal" });
    expect(await newer.request({ type: "ping" }, "p")).toEqual({ type: "pong", id: "p" });
    expect(running.gateway.endpoint.clients.countOf("desk-9")).toBe(1);
  });

  it("same client_id, another subject: both connections live, neither is replaced", async () => {
    const running = await stack.startGateway();
    const alice = await connect(`${running.wsUrl}?client_id=dashboard`, await signToken({ sub: "alice" }));
    const mallory = await connect(
      `${running.wsUrl}?client_id=dashboard`,
      await signToken({ sub: "mallory" }),
    );
    expect(alice.frames[0]).toMatchObject({ type: "welcome", client_id: "dashboard" });
    expect(mallory.frames[0]).toMatchObject({ type: "welcome", client_id: "dashboard" });
    // A ping round trip on the first connection proves no close frame was queued before it.
    expect(await alice.request({ type: "ping" }, "a")).toEqual({ type: "pong", id: "a" });
    expect(await mallory.request({ type: "ping" }, "m")).toEqual({ type: "pong", id: "m" });
    expect(alice.closeEvent).toBeUndefined();
    expect(running.gateway.endpoint.counters.replaced).toBe(0);
    expect(await activeConnections(running)).toBe(2);
  });
});

describe("token refreshes that finish out of order", () => {
  /**
   * Hold the verification of one token string until release() (the gateway's own verifier, in
   * this process): its refresh then finishes after one started later.
   */
  function delayVerificationOf(token: string): { release: () => void; started: Promise<void> } {
    let release!: () => void;
    const released = new Promise<void>((resolve) => {
      release = resolve;
    });
    let started!: () => void;
    const startedPromise = new Promise<void>((resolve) => {
      started = resolve;
    });
    const original = TokenVerifier.prototype.verify;
    vi.spyOn(TokenVerifier.prototype, "verify").mockImplementation(async function (
      this: TokenVerifier,
      each,
    ) {
      if (each === token) {
        started();
        await released;
      }
      return original.call(this, each);
    });
    return { release, started: startedPromise };
  }

  it.each([
    ["the later token also expires later", 600, 1200],
    ["the later token expires earlier (a narrower one): still the later one", 1200, 600],
  ])("%s: its expiry stays in force", async (_case, olderLife, newerLife) => {
    const running = await stack.startGateway();
    const connection = await connect(running.wsUrl, await signToken({ sub: "refresher", expiresIn: 60 }));
    const clientId = connection.frames[0]?.client_id as string;
    const older = await signToken({ sub: "refresher", expiresIn: olderLife });
    const newer = await signToken({ sub: "refresher", expiresIn: newerLife });
    const hold = delayVerificationOf(older);

    connection.send({ type: "auth", token: older, id: "older" });
    await hold.started;
    connection.send({ type: "auth", token: newer, id: "newer" });
    expect(await connection.next("authenticated", (frame) => frame.id === "newer")).toEqual({
      type: "authenticated",
      client_id: clientId,
      expires_at: expiryOf(newer),
      id: "newer",
      timestamp: expect.stringMatching(ISO_UTC),
    });
    hold.release();
    // The older refresh is answered, with the expiry in force: the newer token's.
    expect(await connection.next("authenticated", (frame) => frame.id === "older")).toMatchObject({
      expires_at: expiryOf(newer),
    });
    const session = running.gateway.endpoint.clients.get(clientId, "refresher");
    expect(session?.grant?.expiresAt).toBe(Date.parse(expiryOf(newer)));
    expect(await connection.request({ type: "ping" }, "after")).toEqual({ type: "pong", id: "after" });
  });
});
