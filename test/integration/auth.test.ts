/**
 * WEBSOCKET_AUTH=jwt: where tokens come from, which ones are refused and with which close code,
 * expiry and refresh on an open connection, and the `channels` claim. Real gateway, real NATS,
 * real tokens signed with jose (HS256, RS256, ES256).
 */
import { beforeAll, describe, expect, it } from "vitest";
import { BUNDLED_CHANNELS, DEFAULT_SUBSCRIPTIONS } from "../helpers/channels.js";
import { MEMORY_EPOCH } from "../helpers/epochs.js";
import { type RunningGateway, upstreamMessages, waitForIngest } from "../helpers/gateway.js";
import { expiryOf, keyPairFile, signToken, TEST_SECRET } from "../helpers/tokens.js";
import { withGateway } from "../helpers/with-gateway.js";

const ISO_UTC = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
const ALL_CHANNELS = BUNDLED_CHANNELS;
/** A channel's stream status while the gateway is on NATS and the channel within its threshold. */
const LIVE = { status: "live", since: expect.stringMatching(ISO_UTC) };

const stack = withGateway({ gateway: false });
let hs256: RunningGateway;
/** Each gateway's epoch, fixed by the first frame of it a test checked. */
const epochs = new Map<RunningGateway, string>();

function gateway(env: Record<string, string>): Promise<RunningGateway> {
  return stack.startGateway({ WEBSOCKET_AUTH: "jwt", ...env });
}

function client(url: string, options: { welcome?: boolean; headers?: Record<string, string> } = {}) {
  return stack.connect({ url, ...options });
}

/**
 * A gateway's epoch as a frame of it names it: MEMORY_EPOCH (no JetStream), and the same in
 * every frame of that gateway.
 */
function epochOf(running: RunningGateway, named: unknown): string {
  expect(named).toMatch(MEMORY_EPOCH);
  if (!epochs.has(running)) epochs.set(running, named as string);
  expect(named).toBe(epochs.get(running));
  return named as string;
}

/**
 * A lossless channel's head: every payload this file publishes is valid, and a gateway without
 * JetStream counts seq 1, 2, 3... per channel, so the head is the number of messages it took in.
 */
async function headOf(running: RunningGateway, channel: "signals" | "trades"): Promise<number> {
  return upstreamMessages(running, channel);
}

/** Connect without a token, and authenticate with an auth frame: resolves with the welcome. */
async function authenticate(url: string, token: string) {
  const connection = await client(url, { welcome: false });
  connection.send({ type: "auth", token });
  return { connection, welcome: await connection.next("welcome") };
}

/** Connect and expect the gateway to close without a welcome. */
async function refused(url: string, first?: unknown, headers?: Record<string, string>) {
  const connection = await client(url, { welcome: false, headers });
  if (first !== undefined) connection.send(first);
  const closed = await connection.waitForClose();
  expect(connection.frames).toEqual([]);
  return closed;
}

beforeAll(async () => {
  hs256 = await gateway({ WEBSOCKET_JWT_SECRET: TEST_SECRET });
});

describe("where the token comes from", () => {
  it("Authorization: Bearer header: the welcome names a fresh client_id (not the subject) and the expiry", async () => {
    const token = await signToken({ sub: "alice" });
    const connection = await client(hs256.wsUrl, {
      welcome: false,
      headers: { Authorization: `Bearer ${token}` },
    });
    const welcome = await connection.next("welcome");
    const epoch = epochOf(hs256, (welcome.positions as { signals?: { epoch?: unknown } })?.signals?.epoch);
    expect(welcome).toEqual({
      type: "welcome",
      client_id: expect.stringMatching(UUID),
      channels: ALL_CHANNELS,
      subscriptions: DEFAULT_SUBSCRIPTIONS,
      ping_interval: 30,
      price_update_interval: 0.2,
      portfolio_update_interval: 0.2,
      max_message_bytes: 4096,
      // Every channel live: the gateway is on NATS and has run for less than any staleness threshold.
      stream_status: Object.fromEntries(ALL_CHANNELS.map((channel) => [channel, LIVE])),
      positions: {
        signals: { seq: await headOf(hs256, "signals"), epoch },
        trades: { seq: await headOf(hs256, "trades"), epoch },
      },
      expires_at: expiryOf(token),
      timestamp: expect.stringMatching(ISO_UTC),
      // What each channel is, from its plugin (test/integration/drop-in-plugin.test.ts checks it).
      channel_info: expect.objectContaining(
        Object.fromEntries(ALL_CHANNELS.map((channel) => [channel, expect.any(Object)])),
      ),
    });
  });

  it("token query parameter (what a browser can send)", async () => {
    const token = await signToken({ sub: "bob" });
    const connection = await client(`${hs256.wsUrl}?token=${token}`, { welcome: false });
    expect(await connection.next("welcome")).toMatchObject({
      client_id: expect.stringMatching(UUID),
      expires_at: expiryOf(token),
    });
  });

  it("an auth frame sent first; frames sent right behind it are handled after the welcome, in order", async () => {
    const token = await signToken({ sub: "carol" });
    const connection = await client(hs256.wsUrl, { welcome: false });
    connection.send({ type: "auth", token });
    connection.send({ type: "subscribe", channel: "signals", symbols: ["AAPL"], id: "s1" });
    connection.send({ type: "ping", id: "p1" });
    const welcome = await connection.next();
    expect(welcome.type).toBe("welcome");
    const epoch = epochOf(hs256, (welcome.positions as { signals?: { epoch?: unknown } })?.signals?.epoch);
    expect(await connection.next()).toEqual({
      type: "subscribed",
      channel: "signals",
      symbols: ["AAPL"],
      position: { seq: await headOf(hs256, "signals"), epoch },
      stream_status: LIVE,
      id: "s1",
      timestamp: expect.stringMatching(ISO_UTC),
    });
    expect(await connection.next()).toEqual({ type: "pong", id: "p1" });
  });

  it("the same subject connecting twice: two connections, two client_ids, neither replaced", async () => {
    const token = await signToken({ sub: "dave" });
    const first = await client(`${hs256.wsUrl}?token=${token}`);
    const second = await client(`${hs256.wsUrl}?token=${token}`);
    expect(first.frames[0]?.client_id).not.toBe(second.frames[0]?.client_id);
    expect(await first.request({ type: "ping" }, "p1")).toEqual({ type: "pong", id: "p1" });
    expect(await second.request({ type: "ping" }, "p2")).toEqual({ type: "pong", id: "p2" });
    expect(first.closeEvent).toBeUndefined();
  });
});

describe("refusals: close codes, never a welcome", () => {
  it("a client_id other than the token's subject is no refusal: it is the connection's id", async () => {
    const token = await signToken({ sub: "alice" });
    const connection = await client(`${hs256.wsUrl}?client_id=alices-laptop`, {
      headers: { Authorization: `Bearer ${token}` },
    });
    expect(connection.frames[0]).toMatchObject({ type: "welcome", client_id: "alices-laptop" });
  });

  it("4408 when no token comes within WEBSOCKET_AUTH_TIMEOUT_MS", async () => {
    const impatient = await gateway({ WEBSOCKET_JWT_SECRET: TEST_SECRET, WEBSOCKET_AUTH_TIMEOUT_MS: "300" });
    expect(await refused(impatient.wsUrl)).toEqual({ code: 4408, reason: "No token within 300 ms" });
  });

  it("1008 when a client sends more than a burst of frames while its token is being verified", async () => {
    const connection = await client(hs256.wsUrl, { welcome: false });
    // The auth frame and 41 pings leave in one TCP write, so the gateway reads them all in one go,
    // before the (asynchronous) verification of the token can finish.
    const tcp = (connection.socket as unknown as { _socket: import("node:net").Socket })._socket;
    tcp.cork();
    connection.send({ type: "auth", token: await signToken({ sub: "flooder" }) });
    for (let i = 0; i <= 40; i++) connection.send({ type: "ping" });
    tcp.uncork();
    expect(await connection.waitForClose()).toEqual({
      code: 1008,
      reason: "Too many frames before authentication",
    });
  });

  it("4401 for an exp no date can hold, and the gateway carries on", async () => {
    const huge = await signToken({ sub: "far-future", expiresIn: 1e13 });
    expect(await refused(hs256.wsUrl, { type: "auth", token: huge })).toMatchObject({ code: 4401 });
    await client(`${hs256.wsUrl}?token=${await signToken({ sub: "after-huge" })}`);
  });

  it("4401 when the first frame is not auth", async () => {
    expect(await refused(hs256.wsUrl, { type: "subscribe", channel: "trades" })).toEqual({
      code: 4401,
      reason: "Authentication required: send an auth frame first",
    });
  });

  it.each([
    [
      "a bad signature",
      () => signToken({ sub: "eve" }, new TextEncoder().encode("x".repeat(40))),
      "Token signature invalid",
    ],
    ["an expired token", () => signToken({ sub: "eve", expiresIn: -10 }), "Token expired"],
    ["no exp claim", () => signToken({ sub: "eve", noExpiry: true }), "Token rejected: exp claim invalid"],
    ["no sub claim", () => signToken({}), "Token rejected: sub claim invalid"],
    [
      "a sub that is not a valid client_id",
      () => signToken({ sub: "eve smith" }),
      expect.stringMatching(/^Invalid token claims: sub/),
    ],
    ["garbage", async () => "not.a.jwt", "Token malformed"],
  ])("4401 for %s, whichever way it comes", async (_case, token, reason) => {
    const jwt = await token();
    const expected = { code: 4401, reason };
    expect(await refused(hs256.wsUrl, { type: "auth", token: jwt })).toEqual(expected);
    expect(await refused(`${hs256.wsUrl}?token=${encodeURIComponent(jwt)}`)).toEqual(expected);
    expect(await refused(hs256.wsUrl, undefined, { Authorization: `Bearer ${jwt}` })).toEqual(expected);
  });

  it("4401 for an unsigned token (alg none) and for one claiming another algorithm", async () => {
    const header = (alg: string) => Buffer.from(JSON.stringify({ alg, typ: "JWT" })).toString("base64url");
    const payload = Buffer.from(
      JSON.stringify({ sub: "mallory", exp: Math.floor(Date.now() / 1000) + 60 }),
    ).toString("base64url");
    expect(await refused(`${hs256.wsUrl}?token=${header("none")}.${payload}.`)).toEqual({
      code: 4401,
      reason: "Token algorithm not allowed",
    });
    const rs = keyPairFile("rsa");
    const rs256 = await signToken({ sub: "mallory" }, rs.privateKey, "RS256");
    expect(await refused(`${hs256.wsUrl}?token=${rs256}`)).toEqual({
      code: 4401,
      reason: "Token algorithm not allowed",
    });
  });

  it("4401 for the wrong issuer or audience when they are required", async () => {
    const strict = await gateway({
      WEBSOCKET_JWT_SECRET: TEST_SECRET,
      WEBSOCKET_JWT_ISSUER: "https://auth.example.com/",
      WEBSOCKET_JWT_AUDIENCE: "gateway",
    });
    const good = await signToken({ sub: "ivy", issuer: "https://auth.example.com/", audience: "gateway" });
    await client(`${strict.wsUrl}?token=${good}`);
    const otherIssuer = await signToken({
      sub: "ivy",
      issuer: "https://evil.example.com/",
      audience: "gateway",
    });
    expect(await refused(`${strict.wsUrl}?token=${otherIssuer}`)).toEqual({
      code: 4401,
      reason: "Token rejected: iss claim invalid",
    });
    const otherAudience = await signToken({
      sub: "ivy",
      issuer: "https://auth.example.com/",
      audience: "other",
    });
    expect(await refused(`${strict.wsUrl}?token=${otherAudience}`)).toEqual({
      code: 4401,
      reason: "Token rejected: aud claim invalid",
    });
  });

  it("counts refusals in gateway_auth_failures_total", async () => {
    const before = await authFailures(hs256);
    await refused(hs256.wsUrl, { type: "ping" });
    expect(await authFailures(hs256)).toBe(before + 1);
  });
});

async function authFailures(running: RunningGateway): Promise<number> {
  const text = await (await fetch(`${running.httpUrl}/metrics`)).text();
  const line = text.split("\n").find((each) => each.startsWith("gateway_auth_failures_total "));
  return Number(line?.split(" ")[1]);
}

describe("public-key algorithms from WEBSOCKET_JWT_PUBLIC_KEY_FILE", () => {
  it.each([
    ["RS256", "rsa"],
    ["ES256", "ec"],
  ] as const)("%s: accepts the key's tokens, refuses another key's", async (algorithm, type) => {
    const pair = keyPairFile(type);
    const running = await gateway({ WEBSOCKET_JWT_PUBLIC_KEY_FILE: pair.publicKeyFile });
    const token = await signToken({ sub: `${type}-user` }, pair.privateKey, algorithm);
    const { welcome } = await authenticate(running.wsUrl, token);
    expect(welcome).toMatchObject({ client_id: expect.stringMatching(UUID) });
    const stranger = await signToken({ sub: "stranger" }, keyPairFile(type).privateKey, algorithm);
    expect(await refused(running.wsUrl, { type: "auth", token: stranger })).toEqual({
      code: 4401,
      reason: "Token signature invalid",
    });
  });
});

describe("expiry and refresh", () => {
  it("closes with 4402 when the token expires on an open connection", async () => {
    // 2 s: `exp` has whole seconds, so this expires in 1 to 2 s, never before the welcome.
    const token = await signToken({ sub: "frank", expiresIn: 2 });
    const { connection } = await authenticate(hs256.wsUrl, token);
    expect(await connection.waitForClose()).toEqual({ code: 4402, reason: "Token expired" });
  });

  it("an auth frame with a fresh token keeps the connection past the old expiry", async () => {
    const old = await signToken({ sub: "grace", expiresIn: 2 });
    const { connection, welcome } = await authenticate(hs256.wsUrl, old);
    const clientId = welcome.client_id as string;
    const fresh = await signToken({ sub: "grace", expiresIn: 600 });
    expect(await connection.request({ type: "auth", token: fresh }, "r1")).toEqual({
      type: "authenticated",
      client_id: clientId,
      expires_at: expiryOf(fresh),
      id: "r1",
      timestamp: expect.stringMatching(ISO_UTC),
    });
    // The gateway holds the fresh expiry...
    expect(hs256.gateway.endpoint.clients.get(clientId, "grace")?.grant?.expiresAt).toBe(
      Date.parse(expiryOf(fresh)),
    );
    // ...and the old token's expiry passes (with a margin for a busy machine) without a close.
    await new Promise((resolve) => setTimeout(resolve, Date.parse(expiryOf(old)) - Date.now() + 1000));
    expect(await connection.request({ type: "ping" }, "alive")).toEqual({ type: "pong", id: "alive" });
    expect(connection.closeEvent).toBeUndefined();
  });

  it("refuses a refresh of another subject or a bad token with INVALID_TOKEN and keeps the connection", async () => {
    const { connection } = await authenticate(hs256.wsUrl, await signToken({ sub: "heidi" }));
    expect(await connection.request({ type: "auth", token: await signToken({ sub: "ivan" }) }, "r2")).toEqual(
      {
        type: "error",
        error: "Invalid token: its subject is not this connection's",
        code: "INVALID_TOKEN",
        id: "r2",
        timestamp: expect.stringMatching(ISO_UTC),
      },
    );
    expect(
      await connection.request(
        { type: "auth", token: await signToken({ sub: "heidi", expiresIn: -5 }) },
        "r3",
      ),
    ).toEqual({
      type: "error",
      error: "Invalid token: Token expired",
      code: "INVALID_TOKEN",
      id: "r3",
      timestamp: expect.stringMatching(ISO_UTC),
    });
    expect(await connection.request({ type: "ping" }, "p")).toEqual({ type: "pong", id: "p" });
  });

  it("a refreshed token with fewer channels leaves the channels it no longer allows", async () => {
    const { connection } = await authenticate(hs256.wsUrl, await signToken({ sub: "judy" }));
    const narrower = await signToken({ sub: "judy", channels: ["price_updates", "signals"] });
    connection.send({ type: "auth", token: narrower, id: "r4" });
    const frames = [await connection.next(), await connection.next(), await connection.next()];
    expect(frames).toEqual([
      { type: "unsubscribed", channel: "portfolio", symbols: [], timestamp: expect.stringMatching(ISO_UTC) },
      { type: "unsubscribed", channel: "trades", symbols: [], timestamp: expect.stringMatching(ISO_UTC) },
      expect.objectContaining({ type: "authenticated", id: "r4" }),
    ]);
  });
});

describe("the channels claim", () => {
  it("narrows the welcome and the auto-subscription, and a subscribe elsewhere gets FORBIDDEN", async () => {
    const token = await signToken({ sub: "kim", channels: ["price_updates", "trades"] });
    const { connection, welcome } = await authenticate(hs256.wsUrl, token);
    expect(welcome).toMatchObject({
      channels: ["price_updates", "trades"],
      subscriptions: { price_updates: "*", trades: "*" },
    });
    // Positions too only for the lossless channels the token allows.
    const epoch = epochOf(hs256, (welcome.positions as { trades?: { epoch?: unknown } })?.trades?.epoch);
    expect(welcome.positions).toEqual({ trades: { seq: await headOf(hs256, "trades"), epoch } });
    // And the stream status only of the channels the token allows.
    expect(Object.keys(welcome.stream_status as object).sort()).toEqual(["price_updates", "trades"]);
    expect(await connection.request({ type: "subscribe", channel: "signals" }, "f1")).toEqual({
      type: "error",
      error: 'Channel not allowed by your token: "signals"',
      code: "FORBIDDEN",
      id: "f1",
      timestamp: expect.stringMatching(ISO_UTC),
    });
    expect(
      await connection.request({ type: "subscribe", channel: "price_updates", symbols: ["AAPL"] }, "f2"),
    ).toEqual(expect.objectContaining({ type: "subscribed", channel: "price_updates", symbols: ["AAPL"] }));
    // Nothing from a forbidden channel arrives (signals: market data, no account filter in the way),
    // while a client whose token allows the channel gets it.
    const allowed = await client(
      `${hs256.wsUrl}?token=${await signToken({ sub: "lee", channels: ["signals"] })}`,
    );
    const before = await upstreamMessages(hs256, "signals");
    stack.publisher.publish(
      "strategy.signals.AAPL",
      JSON.stringify({ symbol: "AAPL", signal_type: "BUY", price: 1, quantity: 1, confidence: 0.5 }),
    );
    await waitForIngest(hs256, stack.publisher, "signals", before + 1);
    expect(await allowed.next("signal")).toMatchObject({ symbol: "AAPL", seq: before + 1, epoch });
    expect((await connection.drainUntilPong()).filter((frame) => frame.type === "signal")).toEqual([]);
  });
});

describe("authentication off (the default)", () => {
  it("answers an auth frame with AUTH_DISABLED and changes nothing", async () => {
    const open = await stack.startGateway();
    const connection = await client(open.wsUrl);
    expect(await connection.request({ type: "auth", token: "x" }, "a")).toEqual({
      type: "error",
      error: "Authentication is not enabled on this gateway",
      code: "AUTH_DISABLED",
      id: "a",
      timestamp: expect.stringMatching(ISO_UTC),
    });
  });
});

describe("connection caps count sockets that are still authenticating", () => {
  it("refuses the socket over WEBSOCKET_MAX_CONNECTIONS with 1013, even one naming a connected client_id", async () => {
    const capped = await gateway({ WEBSOCKET_JWT_SECRET: TEST_SECRET, WEBSOCKET_MAX_CONNECTIONS: "2" });
    await client(`${capped.wsUrl}?token=${await signToken({ sub: "alice" })}`);
    // One socket without a token takes the second slot while it has time to authenticate.
    await client(capped.wsUrl, { welcome: false });
    const over = { code: 1013, reason: "Maximum connections reached (2)" };
    expect(await refused(capped.wsUrl)).toEqual(over);
    // Naming a connected client_id is no way round the cap before the token is verified.
    expect(await refused(`${capped.wsUrl}?client_id=alice`)).toEqual(over);
  });

  it("closes sockets still authenticating with 1001 on shutdown", async () => {
    const stopping = await gateway({ WEBSOCKET_JWT_SECRET: TEST_SECRET });
    const waiting = await client(stopping.wsUrl, { welcome: false });
    await stack.close(stopping);
    expect(await waiting.waitForClose()).toEqual({ code: 1001, reason: "Server shutting down; reconnect" });
    expect(waiting.frames).toEqual([]);
  });
});
