/**
 * WEBSOCKET_TRUSTED_PROXIES with a real gateway and real sockets from several loopback addresses:
 * from a trusted proxy, WEBSOCKET_MAX_CONNECTIONS_PER_IP counts the address X-Forwarded-For names
 * (its right-most entry that is not a trusted proxy); from any other peer the header is ignored
 * and the peer's own address counts, so a client cannot spoof its way past the limit.
 */
import { describe, expect, it } from "vitest";
import WebSocket from "ws";
import { withGateway } from "../helpers/with-gateway.js";

const stack = withGateway();

const OVER_THE_LIMIT = { code: 1013, reason: "Too many connections from this address (1)" };

interface Connection {
  /** The first frame received (the welcome when admitted). */
  firstFrame: Promise<string>;
  closed: Promise<{ code: number; reason: string }>;
}

/** Open a connection from `localAddress` with an X-Forwarded-For header; resolve once it is open. */
function connectFrom(url: string, localAddress: string, forwardedFor?: string): Promise<Connection> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> =
      forwardedFor === undefined ? {} : { "X-Forwarded-For": forwardedFor };
    const socket = new WebSocket(url, { localAddress, headers });
    stack.track({ close: () => socket.terminate() }, { client: true });
    const closed = new Promise<{ code: number; reason: string }>((done) =>
      socket.on("close", (code, reason) => done({ code, reason: reason.toString() })),
    );
    // Listening from the start: the welcome can arrive together with the upgrade response.
    const firstFrame = new Promise<string>((done) => socket.once("message", (data) => done(data.toString())));
    socket.on("error", () => {});
    socket.once("open", () => resolve({ firstFrame, closed }));
    socket.once("unexpected-response", () => reject(new Error("upgrade refused")));
  });
}

async function welcomed(connection: Connection): Promise<string> {
  return (JSON.parse(await connection.firstFrame) as { type: string }).type;
}

describe("WEBSOCKET_TRUSTED_PROXIES", () => {
  it("from a trusted proxy, counts the forwarded client: the same client twice is over the limit, another is not", async () => {
    const running = await stack.startGateway({
      WEBSOCKET_MAX_CONNECTIONS_PER_IP: "1",
      WEBSOCKET_TRUSTED_PROXIES: "127.0.0.1",
    });
    // The proxy (127.0.0.1) forwards two connections of 203.0.113.7: the second is over the limit.
    const first = await connectFrom(running.wsUrl, "127.0.0.1", "203.0.113.7");
    expect(await welcomed(first)).toBe("welcome");
    const second = await connectFrom(running.wsUrl, "127.0.0.1", "203.0.113.7");
    expect(await second.closed).toEqual(OVER_THE_LIMIT);
    // Another client through the same proxy has its own count.
    const other = await connectFrom(running.wsUrl, "127.0.0.1", "203.0.113.8");
    expect(await welcomed(other)).toBe("welcome");
    // What the client wrote itself (left of what the proxy appended) does not count: this is
    // 203.0.113.7 again, claiming to be someone else.
    const spoofing = await connectFrom(running.wsUrl, "127.0.0.1", "198.51.100.1, 203.0.113.7");
    expect(await spoofing.closed).toEqual(OVER_THE_LIMIT);
    const status = (await (await fetch(`${running.httpUrl}/websocket/status`)).json()) as {
      active_connections: number;
    };
    expect(status.active_connections).toBe(2);
  }, 20_000);

  it("skips trusted proxies from the right: a CIDR of proxies in a chain", async () => {
    const running = await stack.startGateway({
      WEBSOCKET_MAX_CONNECTIONS_PER_IP: "1",
      WEBSOCKET_TRUSTED_PROXIES: "127.0.0.0/8, 10.0.0.0/8",
    });
    // client 203.0.113.7 -> proxy 10.1.2.3 -> proxy 127.0.0.1 (the peer): the client is 203.0.113.7.
    const first = await connectFrom(running.wsUrl, "127.0.0.1", "203.0.113.7, 10.1.2.3");
    expect(await welcomed(first)).toBe("welcome");
    const second = await connectFrom(running.wsUrl, "127.0.0.1", "203.0.113.7");
    expect(await second.closed).toEqual(OVER_THE_LIMIT);
  }, 20_000);

  it("ignores X-Forwarded-For from a peer that is not a trusted proxy", async () => {
    const running = await stack.startGateway({
      WEBSOCKET_MAX_CONNECTIONS_PER_IP: "1",
      WEBSOCKET_TRUSTED_PROXIES: "127.0.0.1",
    });
    // 127.0.0.2 is not trusted: its two connections count as 127.0.0.2, whatever the header says.
    const first = await connectFrom(running.wsUrl, "127.0.0.2", "203.0.113.7");
    expect(await welcomed(first)).toBe("welcome");
    const second = await connectFrom(running.wsUrl, "127.0.0.2", "203.0.113.8");
    expect(await second.closed).toEqual(OVER_THE_LIMIT);
  }, 20_000);

  it("trusts nobody by default: the header counts for nothing", async () => {
    const running = await stack.startGateway({ WEBSOCKET_MAX_CONNECTIONS_PER_IP: "1" });
    const first = await connectFrom(running.wsUrl, "127.0.0.1", "203.0.113.7");
    expect(await welcomed(first)).toBe("welcome");
    const second = await connectFrom(running.wsUrl, "127.0.0.1", "203.0.113.8");
    expect(await second.closed).toEqual(OVER_THE_LIMIT);
  }, 20_000);

  it("refuses to start with an entry that is not an address or a CIDR", async () => {
    await expect(
      stack.startGateway({ WEBSOCKET_TRUSTED_PROXIES: "127.0.0.1, nginx.internal" }),
    ).rejects.toThrow(/WEBSOCKET_TRUSTED_PROXIES=.*expected comma-separated IP addresses or CIDR ranges/);
  }, 20_000);
});
