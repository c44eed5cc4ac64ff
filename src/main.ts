/**
 * Entry point: load configuration (and .env when present), build the gateway, listen, and shut
 * down gracefully on SIGTERM/SIGINT. Without NATS_URL it runs the embedded demo broker with a
 * simulated market, so `npm start` shows live data at once.
 */
import { existsSync } from "node:fs";
import pino from "pino";
import { buildGateway } from "./app.js";
import { ConfigError, loadConfig } from "./config.js";
import { PluginLoadError } from "./core/plugin-loader.js";
import { SimulatedMarket } from "./demo/simulated-market.js";

async function main(): Promise<void> {
  if (existsSync(".env")) process.loadEnvFile(".env");
  const config = loadConfig();
  const logger = pino({ level: config.LOG_LEVEL });
  const gateway = await buildGateway({ config, logger, pluginsDir: config.PLUGINS_DIR });

  let market: SimulatedMarket | undefined;
  if (gateway.broker.kind === "embedded") {
    const broker = gateway.broker;
    market = new SimulatedMarket((subject, payload) => broker.publish(subject, payload), {
      subjects: {
        prices: config.subjectOverrides.price_updates?.replace(/\.>$/, ""),
        signals: config.subjectOverrides.signals?.replace(/\.>$/, ""),
        trades: config.subjectOverrides.trades?.replace(/\.>$/, ""),
        portfolio: config.subjectOverrides.portfolio,
      },
    });
  }

  const address = await gateway.fastify.listen({ port: config.PORT, host: config.HOST });
  market?.start();
  const wsUrl = `ws://${config.HOST === "0.0.0.0" ? "localhost" : config.HOST}:${config.PORT}/ws`;
  if (market) {
    logger.warn(
      { websocket: wsUrl },
      "DEMO MODE: NATS_URL is not set, so the gateway runs on an embedded in-process broker fed by a simulated market. " +
        "Set NATS_URL=nats://host:4222 to stream real data (npm run feed publishes the same simulated market into NATS).",
    );
  }
  logger.info({ address, websocket: wsUrl, status: `${address}/websocket/status` }, "gateway listening");

  let stopping = false;
  const shutdown = (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, "shutting down: closing clients with 1001 and draining NATS");
    const deadline = setTimeout(() => {
      logger.error({ graceMs: config.SHUTDOWN_GRACE_MS }, "shutdown grace period exceeded; exiting");
      process.exit(1);
    }, config.SHUTDOWN_GRACE_MS);
    deadline.unref();
    market?.stop();
    gateway.close().then(
      () => {
        logger.info("shutdown complete");
        process.exit(0);
      },
      (error) => {
        logger.error({ err: error }, "shutdown failed");
        process.exit(1);
      },
    );
  };
  process.on("SIGTERM", () => shutdown("SIGTERM"));
  process.on("SIGINT", () => shutdown("SIGINT"));
}

main().catch((error) => {
  if (error instanceof ConfigError || error instanceof PluginLoadError) {
    console.error(`gateway failed to start: ${error.message}`);
  } else {
    console.error("gateway failed to start:", error);
  }
  process.exit(1);
});
