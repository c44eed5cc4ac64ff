/**
 * A TCP relay on loopback between a client and the gateway, to make the network misbehave on
 * demand: freeze() turns the open connections into black holes (bytes in either direction are
 * dropped, nothing is closed), as a hung server or a dead NAT entry would; new connections still
 * go through. inject() writes raw bytes to the clients, e.g. a hand-made WebSocket frame.
 * refuse() makes the gateway unreachable (new connections are closed at once) until accept();
 * holdRequests() lets new connections through their WebSocket upgrade, then keeps what the client
 * sends (its subscribes) until release(), while the gateway's frames still flow to it.
 */
import { createServer, type Server, type Socket, connect as tcpConnect } from "node:net";

interface Pair {
  client: Socket;
  upstream: Socket;
  frozen: boolean;
  /** Client bytes kept back (holdRequests) until release(); undefined: relayed at once. */
  held: Buffer[] | undefined;
  /** The gateway has answered (the upgrade's 101): what the client sends now are frames. */
  answered: boolean;
}

export class TcpProxy {
  private readonly pairs = new Set<Pair>();
  private readonly server: Server;
  private listeningPort = 0;
  private refusing = false;
  private holding = false;

  private constructor(private readonly targetPort: number) {
    this.server = createServer((client) => this.relay(client));
  }

  /** A proxy on a free loopback port relaying to 127.0.0.1:`targetPort`. */
  static async start(targetPort: number): Promise<TcpProxy> {
    const proxy = new TcpProxy(targetPort);
    await new Promise<void>((resolve) => proxy.server.listen(0, "127.0.0.1", resolve));
    proxy.listeningPort = (proxy.server.address() as { port: number }).port;
    return proxy;
  }

  get port(): number {
    return this.listeningPort;
  }

  /** The gateway's WebSocket endpoint, through this relay. */
  get wsUrl(): string {
    return `ws://127.0.0.1:${this.listeningPort}/ws`;
  }

  private relay(client: Socket): void {
    if (this.refusing) {
      client.on("error", () => {});
      client.resetAndDestroy();
      return;
    }
    const upstream = tcpConnect(this.targetPort, "127.0.0.1");
    const pair: Pair = { client, upstream, frozen: false, held: undefined, answered: false };
    this.pairs.add(pair);
    client.on("data", (chunk) => {
      if (pair.frozen) return;
      if (!this.holding || !pair.answered) {
        upstream.write(chunk);
        return;
      }
      pair.held ??= [];
      pair.held.push(chunk);
    });
    upstream.on("data", (chunk) => {
      pair.answered = true;
      if (!pair.frozen) client.write(chunk);
    });
    // An end on one side ends the other, unless frozen: a black hole tells nobody anything.
    const end = () => {
      if (pair.frozen) return;
      client.destroy();
      upstream.destroy();
      this.pairs.delete(pair);
    };
    client.on("close", end);
    upstream.on("close", end);
    client.on("error", () => {});
    upstream.on("error", () => {});
  }

  /** Open connections through the proxy. */
  get connections(): number {
    return this.pairs.size;
  }

  /** Stop relaying on every open connection, in both directions, without closing anything. */
  freeze(): void {
    for (const pair of this.pairs) pair.frozen = true;
  }

  /** From now on, connection attempts are reset at once (the gateway is unreachable). */
  refuse(): void {
    this.refusing = true;
  }

  /** Connection attempts go through again. */
  accept(): void {
    this.refusing = false;
  }

  /**
   * From now on, what clients send after the gateway's first answer (the upgrade) is kept back
   * until release(); the gateway's frames still reach them.
   */
  holdRequests(): void {
    this.holding = true;
  }

  /** Bytes kept back by holdRequests() so far, over every connection. */
  get heldBytes(): number {
    let total = 0;
    for (const pair of this.pairs) for (const chunk of pair.held ?? []) total += chunk.length;
    return total;
  }

  /** Send what was kept back, in order, and relay at once again. */
  release(): void {
    this.holding = false;
    for (const pair of this.pairs) {
      for (const chunk of pair.held ?? []) pair.upstream.write(chunk);
      pair.held = undefined;
    }
  }

  /** Drop every open connection at once (RST), as a crashed middlebox would. */
  dropAll(): void {
    for (const pair of this.pairs) {
      pair.frozen = false;
      pair.client.resetAndDestroy();
      pair.upstream.destroy();
    }
    this.pairs.clear();
  }

  /** Write raw bytes to every open (unfrozen) client connection, as if the server sent them. */
  inject(bytes: Buffer): void {
    for (const pair of this.pairs) if (!pair.frozen) pair.client.write(bytes);
  }

  async close(): Promise<void> {
    for (const pair of this.pairs) {
      pair.client.destroy();
      pair.upstream.destroy();
    }
    this.pairs.clear();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

/** An unmasked server-to-client WebSocket frame (RFC 6455 section 5.2), FIN set. */
export function webSocketFrame(payload: Buffer, opcode: "text" | "binary" = "text"): Buffer {
  const first = 0x80 | (opcode === "text" ? 0x1 : 0x2);
  if (payload.length < 126) return Buffer.concat([Buffer.from([first, payload.length]), payload]);
  if (payload.length > 0xffff) throw new Error("payload too large for this helper");
  const header = Buffer.from([first, 126, payload.length >> 8, payload.length & 0xff]);
  return Buffer.concat([header, payload]);
}
