/**
 * `npm run feed`: publish the simulated market (prices, signals, trades, portfolio, and the order
 * books of simulated-books.ts, gaps included) into a real NATS (NATS_URL, default
 * nats://127.0.0.1:4222), for demos of the real path: gateway with NATS_URL set + this feed.
 *
 * NATS not up yet is a normal state, as it is for the gateway: one line says so, and the feed
 * retries every NATS_RECONNECT_WAIT_MS (default 500, the gateway's) until it connects. Credentials
 * the server refuses will not become right by waiting: one line, exit 1.
 */
import {
  AuthorizationError,
  connect,
  type NatsConnection,
  UserAuthenticationExpiredError,
} from "@nats-io/transport-node";
import pino from "pino";
import { SimulatedMarket } from "../src/demo/simulated-market.js";

const logger = pino({ level: process.env.LOG_LEVEL ?? "info" });
const servers = (process.env.NATS_URL ?? "nats://127.0.0.1:4222").split(",").map((server) => server.trim());
const retryMs =
  Number(process.env.NATS_RECONNECT_WAIT_MS) > 0 ? Number(process.env.NATS_RECONNECT_WAIT_MS) : 500;
const printable = servers.map(redactUrl).join(",");

/** A server URL with its password (or token) replaced, for printing. */
function redactUrl(url: string): string {
  try {
    const parsed = new URL(url.includes("://") ? url : `nats://${url}`);
    if (parsed.password === "" && parsed.username === "") return url;
    if (parsed.password !== "") parsed.password = "***";
    else parsed.username = "***";
    return parsed.toString().replace(/\/$/, "");
  } catch {
    return url;
  }
}

/** Stop while still waiting for NATS: nothing to drain. */
const giveUp = () => process.exit(0);
process.on("SIGINT", giveUp);
process.on("SIGTERM", giveUp);

async function connectForever(): Promise<NatsConnection> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await connect({ servers, name: "simulated-market-feed", maxReconnectAttempts: -1 });
    } catch (error) {
      const reason = error instanceof Error ? error.message : String(error);
      if (error instanceof AuthorizationError || error instanceof UserAuthenticationExpiredError) {
        console.error(`feed: NATS at ${printable} refused the credentials (${reason}); exiting`);
        process.exit(1);
      }
      if (attempt === 0)
        console.error(
          `feed: NATS not reachable at ${printable} (${reason}); retrying every ${retryMs / 1000} s`,
        );
      await new Promise((resolve) => setTimeout(resolve, retryMs));
    }
  }
}

const connection = await connectForever();
process.off("SIGINT", giveUp);
process.off("SIGTERM", giveUp);
let published = 0;
const market = new SimulatedMarket((subject, payload) => {
  connection.publish(subject, payload);
  published++;
});
market.start();
logger.info({ servers }, "publishing the simulated market into NATS; Ctrl-C to stop");
const progress = setInterval(() => logger.info({ published }, "feed progress"), 5000);

const stop = async () => {
  clearInterval(progress);
  market.stop();
  await connection.drain();
  logger.info({ published }, "feed stopped");
  process.exit(0);
};
process.on("SIGINT", stop);
process.on("SIGTERM", stop);
// Keep the process alive: the market's timers are unref'd so that the gateway can exit cleanly.
setInterval(() => {}, 1 << 30);
