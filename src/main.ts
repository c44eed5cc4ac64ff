/**
 * Entry point: load configuration (and .env when present), build the gateway, listen, and shut
 * down gracefully on SIGTERM/SIGINT.
 *
 * The production start (`node dist/main.js`) needs NATS_URL; the demo (embedded broker and a
 * simulated market) runs only when asked for: GATEWAY_DEMO=true, or `npm start` (which passes
 * --demo) without NATS_URL. A gateway that silently invents prices is worse than one that stops.
 */
import { existsSync } from "node:fs";
import v8 from "node:v8";
import pino, { type Logger } from "pino";
import { buildGateway, type Gateway } from "./app.js";
import { ConfigError, type GatewayConfig, loadConfig, unknownSettings } from "./config.js";
import { PluginLoadError } from "./core/plugin-loader.js";
import { SimulatedMarket } from "./demo/simulated-market.js";

/** V8's default growth factor of the young generation, restored once the gateway listens. */
const V8_SEMI_SPACE_GROWTH_FACTOR = 2;

async function main(): Promise<void> {
  if (existsSync(".env")) process.loadEnvFile(".env");
  const config = loadConfig();
  const logger = pino({ level: config.LOG_LEVEL });
  for (const { variable, closest } of unknownSettings(process.env)) {
    logger.warn(
      { variable, closest },
      closest
        ? `unknown setting ${variable}: did you mean ${closest}?`
        : `unknown setting ${variable} is ignored`,
    );
  }
  const demo = demoMode(config);
  const gateway = await buildGateway({
    config: demo ? { ...config, NATS_URL: undefined } : config,
    logger,
    pluginsDir: config.PLUGINS_DIR,
  });
  // A NATS connection that is gone for good (refused credentials, or the client gave up) must
  // not leave a process that is up but never ready: say why and exit, so a supervisor restarts it.
  gateway.broker.onEvent((event) => {
    if (event.type !== "failed") return;
    logger.fatal({ error: event.error }, "exiting: the NATS connection is closed for good");
    void gateway.close().finally(() => process.exit(2));
    setTimeout(() => process.exit(2), config.SHUTDOWN_GRACE_MS).unref();
  });

  const market = demo ? startMarket(gateway, config) : undefined;
  const address = await gateway.fastify.listen({ port: config.PORT, host: config.HOST });
  // Loaded: let V8 size its young generation for the load again (production-start.ts held it).
  v8.setFlagsFromString(`--semi-space-growth-factor=${V8_SEMI_SPACE_GROWTH_FACTOR}`);
  market?.start();
  const wsUrl = `ws://${config.HOST === "0.0.0.0" ? "localhost" : config.HOST}:${config.PORT}/ws`;
  if (market) {
    logger.warn(
      { websocket: wsUrl },
      "DEMO MODE: the gateway runs on an embedded in-process broker fed by a simulated market. " +
        "Set NATS_URL=nats://host:4222 to stream real data (npm run feed publishes the same simulated market into NATS).",
    );
  }
  logger.info({ address, websocket: wsUrl, status: `${address}/websocket/status` }, "gateway listening");
  handleSignals(gateway, config, logger, market);
}

/** Demo only when asked for; without NATS_URL and without asking, refuse to start. */
function demoMode(config: GatewayConfig): boolean {
  if (config.GATEWAY_DEMO === true) {
    if (config.NATS_URL !== undefined)
      throw new ConfigError(
        "GATEWAY_DEMO=true runs the embedded demo broker: unset NATS_URL, or GATEWAY_DEMO",
      );
    return true;
  }
  if (config.NATS_URL !== undefined) return false;
  if (config.GATEWAY_DEMO === undefined && process.argv.includes("--demo")) return true;
  throw new ConfigError(
    "NATS_URL is not set: set NATS_URL=nats://host:4222 to stream from NATS, or GATEWAY_DEMO=true to run the demo (simulated market)",
  );
}

function startMarket(gateway: Gateway, config: GatewayConfig): SimulatedMarket {
  const broker = gateway.broker;
  return new SimulatedMarket((subject, payload) => broker.publish(subject, payload), {
    subjects: {
      prices: config.subjectOverrides.price_updates?.replace(/\.>$/, ""),
      signals: config.subjectOverrides.signals?.replace(/\.>$/, ""),
      trades: config.subjectOverrides.trades?.replace(/\.>$/, ""),
      portfolio: config.subjectOverrides.portfolio,
    },
  });
}

/**
 * SIGTERM (an orchestrator): drain first. /readyz answers 503 at once and connections keep
 * streaming for SHUTDOWN_DRAIN_MS, so the load balancer takes the instance out of rotation before
 * clients are told to go (1001, reconnect). SIGINT (a person at a terminal): no drain.
 */
function handleSignals(
  gateway: Gateway,
  config: GatewayConfig,
  logger: Logger,
  market?: SimulatedMarket,
): void {
  let stopping = false;
  const shutdown = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    gateway.drain();
    const drainMs = signal === "SIGTERM" ? config.SHUTDOWN_DRAIN_MS : 0;
    if (drainMs > 0) {
      logger.info({ signal, drainMs }, "draining: not ready, connections keep streaming");
      await new Promise((resolve) => setTimeout(resolve, drainMs));
    }
    logger.info({ signal }, "shutting down: closing clients with 1001 and draining NATS");
    const deadline = setTimeout(() => {
      logger.error({ graceMs: config.SHUTDOWN_GRACE_MS }, "shutdown grace period exceeded; exiting");
      process.exit(1);
    }, config.SHUTDOWN_GRACE_MS);
    deadline.unref();
    market?.stop();
    try {
      await gateway.close();
      logger.info("shutdown complete");
      process.exit(0);
    } catch (error) {
      logger.error({ err: error }, "shutdown failed");
      process.exit(1);
    }
  };
  process.on("SIGTERM", () => void shutdown("SIGTERM"));
  process.on("SIGINT", () => void shutdown("SIGINT"));
}

main().catch((error) => {
  if (error instanceof ConfigError || error instanceof PluginLoadError) {
    console.error(`gateway failed to start: ${error.message}`);
  } else {
    console.error("gateway failed to start:", error);
  }
  process.exit(1);
});
