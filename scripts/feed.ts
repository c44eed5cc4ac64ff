/**
 * `npm run feed`: publish the simulated market (prices, signals, trades, portfolio, and the order
 * books of simulated-books.ts, gaps included) into a real NATS (NATS_URL, default
 * nats://127.0.0.1:4222), for demos of the real path: gateway with NATS_URL set + this feed.
 */
import { connect } from "@nats-io/transport-node";
import pino from "pino";
import { SimulatedMarket } from "../src/demo/simulated-market.js";

const logger = pino({ level: process.env.LOG_LEVEL ?? "info" });
const servers = (process.env.NATS_URL ?? "nats://127.0.0.1:4222").split(",").map((server) => server.trim());
const connection = await connect({ servers, name: "simulated-market-feed", maxReconnectAttempts: -1 });
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
