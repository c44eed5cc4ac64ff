/**
 * A TCP relay on loopback that can cut a link on demand: `cut()` drops every relayed connection
 * and refuses new ones (as a network partition between the gateway and its NATS server would);
 * `cutAndHold()` drops them too but keeps new connections waiting, unanswered, as a client
 * reconnecting into a dead network would; `restore()` lets connections (held ones first) through
 * again. The far end stays up the whole time, so others (a publisher) keep using it.
 */
import { createServer, type Server, type Socket, connect as tcpConnect } from "node:net";

export class LinkCutter {
  private readonly sockets = new Set<Socket>();
  private open = true;
  private holding = false;
  private held: Socket[] = [];

  private constructor(
    private readonly server: Server,
    readonly port: number,
    private readonly targetPort: number,
  ) {}

  /** A relay on a free loopback port to 127.0.0.1:`targetPort`. */
  static async start(targetPort: number): Promise<LinkCutter> {
    let cutter: LinkCutter | undefined;
    const server = createServer((client) => cutter?.relay(client, targetPort));
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    cutter = new LinkCutter(server, (server.address() as { port: number }).port, targetPort);
    return cutter;
  }

  get url(): string {
    return `nats://127.0.0.1:${this.port}`;
  }

  cut(): void {
    this.open = false;
    for (const socket of this.sockets) socket.destroy();
    this.sockets.clear();
  }

  cutAndHold(): void {
    this.cut();
    this.holding = true;
  }

  restore(): void {
    this.open = true;
    this.holding = false;
    for (const client of this.held.splice(0)) this.relay(client, this.targetPort);
  }

  async close(): Promise<void> {
    this.cut();
    this.holding = false;
    for (const client of this.held.splice(0)) client.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private relay(client: Socket, targetPort: number): void {
    if (this.holding) {
      client.on("error", () => undefined);
      this.held.push(client);
      return;
    }
    if (!this.open) {
      client.destroy();
      return;
    }
    const upstream = tcpConnect(targetPort, "127.0.0.1");
    for (const socket of [client, upstream]) {
      this.sockets.add(socket);
      socket.on("error", () => undefined);
      socket.on("close", () => {
        this.sockets.delete(socket);
        client.destroy();
        upstream.destroy();
      });
    }
    client.pipe(upstream);
    upstream.pipe(client);
  }
}
