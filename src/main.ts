/**
 * Entry point: load configuration (and .env when present), build the gateway, listen, and shut
 * down gracefully on SIGTERM/SIGINT.
 *
 * The production start (`node dist/main.js`) needs NATS_URL; the demo (embedded broker and a
 * simulated market) runs only when asked for: GATEWAY_DEMO=true, or `npm start` (which passes
 * --demo) without NATS_URL. A gateway that silently invents prices is worse than one that stops.
 *
 * Failures nothing else caught are logged with pino, with the plugin and channel when the stack
 * names a plugin's folder (handleEscapedFailures): an unhandled rejection is survived, an uncaught
 * exception ends the process.
 */
import { existsSync } from "node:fs";
import v8 from "node:v8";
import pino, { type Logger } from "pino";
import { buildGateway, type Gateway } from "./app.js";
import { ConfigError, type GatewayConfig, loadConfig, reconnectSpreadMs, unknownSettings } from "./config.js";
import { PluginAttribution } from "./core/plugin-attribution.js";
import { DEFAULT_PLUGINS_DIR, PluginLoadError } from "./core/plugin-loader.js";
import { settingNames } from "./core/plugin-settings.js";
import { SimulatedMarket } from "./demo/simulated-market.js";

/** V8's default growth factor of the young generation, restored once the gateway listens. */
const V8_SEMI_SPACE_GROWTH_FACTOR = 2;

/** At most this many unhandled-rejection log lines a second; the rest are counted. */
const REJECTION_LOGS_PER_SECOND = 10;

async function main(): Promise<void> {
  if (existsSync(".env")) process.loadEnvFile(".env");
  const config = loadConfig();
  const logger = pino({ level: config.LOG_LEVEL });
  // From before the plugins load: a plugin's module code may start a promise that rejects.
  const escaped = handleEscapedFailures(logger);
  const demo = demoMode(config);
  const gateway = await buildGateway({
    config: demo ? { ...config, NATS_URL: undefined } : config,
    logger,
    pluginsDir: config.PLUGINS_DIR,
  });
  // After loading: the plugins' own settings are known settings too.
  for (const { variable, closest } of unknownSettings(process.env, settingNames(gateway.channels))) {
    logger.warn(
      { variable, closest },
      closest
        ? `unknown setting ${variable}: did you mean ${closest}?`
        : `unknown setting ${variable} is ignored`,
    );
  }
  escaped.attribution = new PluginAttribution(gateway.channels, config.PLUGINS_DIR ?? DEFAULT_PLUGINS_DIR);
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
      books: config.subjectOverrides.order_books?.replace(/\.>$/, ""),
    },
  });
}

/**
 * Failures that escaped every catch of the core, which catches what plugin hooks throw while it
 * calls them (logged there with the channel). What escapes is asynchronous: a promise a hook
 * started and nobody awaits (a fire-and-forget call in toFrame), or a throw in a timer.
 *
 * - An unhandled rejection is logged at error level and the gateway keeps serving. Node 20 would
 *   exit (--unhandled-rejections=throw), but the rejected promise had no one waiting for it, so
 *   nothing of the gateway's state hangs on it, and a plugin's stray promise must not disconnect
 *   every client of every channel. Logged at most REJECTION_LOGS_PER_SECOND a second.
 * - An uncaught exception is logged at fatal level and the process exits 1, as Node's docs ask:
 *   the throw cut a synchronous step in half, the state it was changing may be inconsistent, and
 *   a supervisor's restart (clients reconnect and resume) is safer than serving from it.
 *
 * The plugin and channel are read from the error's stack (core/plugin-attribution.ts, which says
 * why promises are not tagged); `plugin: "unknown"` when the stack names no plugin folder.
 */
function handleEscapedFailures(logger: Logger): { attribution: PluginAttribution | undefined } {
  const escaped: { attribution: PluginAttribution | undefined } = { attribution: undefined };
  const originOf = (reason: unknown) => {
    const origin = escaped.attribution?.originOf(reason);
    return { plugin: origin?.plugin ?? "unknown", channel: origin?.channel };
  };
  let windowStart = 0;
  let logsInWindow = 0;
  let suppressed = 0;
  process.on("unhandledRejection", (reason) => {
    // A plugin that rejects on every message must not turn into a log line per message.
    const now = Date.now();
    if (now - windowStart >= 1000) {
      if (suppressed > 0)
        logger.error({ suppressed }, "unhandled promise rejections not logged individually");
      windowStart = now;
      logsInWindow = 0;
      suppressed = 0;
    }
    if (logsInWindow++ >= REJECTION_LOGS_PER_SECOND) {
      suppressed++;
      return;
    }
    logger.error(
      { err: reason, ...originOf(reason) },
      "unhandled promise rejection; the gateway keeps serving",
    );
  });
  process.on("uncaughtException", (error, origin) => {
    logger.fatal({ err: error, origin, ...originOf(error) }, "uncaught exception; exiting");
    // pino writes what is still buffered on exit.
    process.exit(1);
  });
  return escaped;
}

/**
 * SIGTERM (an orchestrator): drain first. /readyz answers 503 at once, and every client gets a
 * shutdown_notice with its own reconnect_in_ms (0 to SHUTDOWN_RECONNECT_SPREAD_MS, clamped to the
 * drain) and keeps streaming until then, when it is closed with 1001: clients come back to other
 * instances spread over the window, not in one wave. After SHUTDOWN_DRAIN_MS whoever is left is
 * closed (1001) and the rest closes. SIGINT (a person at a terminal): no drain, no notice.
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
    const drainMs = signal === "SIGTERM" ? config.SHUTDOWN_DRAIN_MS : 0;
    if (signal === "SIGTERM") {
      // Every client is told when it will be closed (1001), each at its own time within the drain.
      const spreadMs = reconnectSpreadMs(config);
      gateway.drain({ reconnectSpreadMs: spreadMs });
      if (spreadMs < config.SHUTDOWN_RECONNECT_SPREAD_MS)
        logger.info(
          {
            configuredMs: config.SHUTDOWN_RECONNECT_SPREAD_MS,
            reconnectSpreadMs: spreadMs,
            drainMs,
            closeGraceMs: config.WEBSOCKET_CLOSE_GRACE_MS,
          },
          "reconnect spread clamped to SHUTDOWN_DRAIN_MS minus WEBSOCKET_CLOSE_GRACE_MS",
        );
    } else gateway.drain();
    if (drainMs > 0) {
      logger.info(
        { signal, drainMs },
        "draining: not ready, clients told when to reconnect and closed (1001) each at its time",
      );
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
