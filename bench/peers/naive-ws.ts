/**
 * The naive peer: the hand-rolled broadcast loop the gateway competes with. For every NATS message
 * it parses the JSON, then stringifies and sends it once per client, which is what most
 * "NATS to WebSocket" bridges do. Deliberately unoptimised: that per-client cost is what we measure.
 *
 * Env: PORT (0 picks one), NATS_URL, SUBJECT (default "bench.>"). Prints `READY <port>` once it
 * listens and its subscription is live; exits cleanly on SIGTERM/SIGINT.
 */
import { once } from "node:events";
import { connect } from "@nats-io/transport-node";
import { WebSocket, WebSocketServer } from "ws";

const port = Number(process.env.PORT ?? 0);
const natsUrl = process.env.NATS_URL ?? "nats://127.0.0.1:4222";
const subject = process.env.SUBJECT || "bench.>";

const server = new WebSocketServer({ host: "127.0.0.1", port, perMessageDeflate: false });
await once(server, "listening");

const nc = await connect({ servers: natsUrl, name: "bench-naive-ws" });
nc.subscribe(subject, {
  callback: (error, msg) => {
    if (error) return;
    const data = JSON.parse(msg.string());
    for (const client of server.clients) {
      if (client.readyState === WebSocket.OPEN) client.send(JSON.stringify(data));
    }
  },
});
// The subscription is registered with the server only once flushed: READY must mean "live".
await nc.flush();

const { port: boundPort } = server.address() as { port: number };
process.stdout.write(`READY ${boundPort}\n`);

let stopping = false;
async function shutdown(): Promise<void> {
  if (stopping) return;
  stopping = true;
  for (const client of server.clients) client.terminate();
  server.close();
  await nc.drain().catch(() => undefined);
  process.exit(0);
}
process.on("SIGTERM", () => void shutdown());
process.on("SIGINT", () => void shutdown());
