/**
 * A real gateway on a port chosen by the test, so that it can be stopped and started again where
 * the client expects it (test/helpers/gateway.ts always listens on port 0). Same defaults as the
 * shared helper: short conflation intervals and a quiet logger.
 */
import pino from "pino";
import { buildGateway } from "../../../src/app.js";
import { loadConfig } from "../../../src/config.js";
import type { RunningGateway } from "../../helpers/gateway.js";

export async function startGatewayAt(
  port: number,
  env: Record<string, string> = {},
  pluginsDir?: string,
): Promise<RunningGateway> {
  const config = loadConfig({
    WEBSOCKET_PRICE_UPDATE_INTERVAL: "0.2",
    WEBSOCKET_PORTFOLIO_UPDATE_INTERVAL: "0.2",
    LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? "silent",
    ...env,
  });
  const gateway = await buildGateway({ config, pluginsDir, logger: pino({ level: config.LOG_LEVEL }) });
  await gateway.fastify.listen({ port, host: "127.0.0.1" });
  return {
    gateway,
    port,
    wsUrl: `ws://127.0.0.1:${port}/ws`,
    httpUrl: `http://127.0.0.1:${port}`,
    close: () => gateway.close(),
  };
}
