/**
 * The Socket.IO 4 peer: every NATS message is broadcast with `io.emit`, which encodes the packet
 * once per broadcast and writes it to every socket. WebSocket transport only (no long-polling
 * upgrade dance) and no compression, so it is compared with the others on equal terms.
 *
 * Env: PORT (0 picks one), NATS_URL, SUBJECT (default "bench.>"). Prints `READY <port>` once it
 * listens and its subscription is live; exits cleanly on SIGTERM/SIGINT.
 */
import { once } from "node:events";
import { createServer } from "node:http";
import { connect } from "@nats-io/transport-node";
import { Server } from "socket.io";

const port = Number(process.env.PORT ?? 0);
const natsUrl = process.env.NATS_URL ?? "nats://127.0.0.1:4222";
const subject = process.env.SUBJECT || "bench.>";

const httpServer = createServer();
const io = new Server(httpServer, {
  transports: ["websocket"],
  perMessageDeflate: false,
  serveClient: false,
});
httpServer.listen(port, "127.0.0.1");
await once(httpServer, "listening");

const nc = await connect({ servers: natsUrl, name: "bench-socketio" });
nc.subscribe(subject, {
  callback: (error, msg) => {
    if (error) return;
    // The raw JSON text as the event argument: clients receive exactly what was published.
    io.emit("m", msg.string());
  },
});
// The subscription is registered with the server only once flushed: READY must mean "live".
await nc.flush();

const { port: boundPort } = httpServer.address() as { port: number };
process.stdout.write(`READY ${boundPort}\n`);

let stopping = false;
async function shutdown(): Promise<void> {
  if (stopping) return;
  stopping = true;
  io.disconnectSockets(true);
  io.close();
  await nc.drain().catch(() => undefined);
  process.exit(0);
}
process.on("SIGTERM", () => void shutdown());
process.on("SIGINT", () => void shutdown());
