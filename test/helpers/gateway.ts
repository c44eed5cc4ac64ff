/**
 * Start a real gateway (the same buildGateway main.ts uses) on a free port against a given
 * NATS server, with test-friendly intervals, and a quiet logger.
 */
import type { NatsConnection } from "@nats-io/transport-node";
import pino from "pino";
import { buildGateway, type Gateway } from "../../src/app.js";
import { loadConfig } from "../../src/config.js";

export interface RunningGateway {
  gateway: Gateway;
  port: number;
  wsUrl: string;
  httpUrl: string;
  close(): Promise<void>;
}

/**
 * `port`: 0 (a free one) unless a test must stop the gateway and start another where its clients
 * expect it (take one from freePort()).
 */
export async function startGateway(
  env: Record<string, string> = {},
  pluginsDir?: string,
  port = 0,
): Promise<RunningGateway> {
  const config = loadConfig({
    WEBSOCKET_PRICE_UPDATE_INTERVAL: "0.2",
    WEBSOCKET_PORTFOLIO_UPDATE_INTERVAL: "0.2",
    LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? "silent",
    ...env,
  });
  const gateway = await buildGateway({ config, pluginsDir, logger: pino({ level: config.LOG_LEVEL }) });
  await gateway.fastify.listen({ port, host: "127.0.0.1" });
  const listening = (gateway.fastify.server.address() as { port: number }).port;
  return {
    gateway,
    port: listening,
    wsUrl: `ws://127.0.0.1:${listening}/ws`,
    httpUrl: `http://127.0.0.1:${listening}`,
    close: () => gateway.close(),
  };
}

/** Resolve once the gateway's broker reports connected (readiness), polling /readyz's source. */
export async function waitUntilReady(running: RunningGateway, timeoutMs = 10_000): Promise<void> {
  const broker = running.gateway.broker;
  if (broker.connected) return;
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error("gateway did not connect to NATS in time")), timeoutMs);
    broker.onEvent((event) => {
      if (event.type === "connected" || event.type === "reconnected") {
        clearTimeout(timer);
        resolve();
      }
    });
  });
}

/** One upstream message counter of the gateway (valid or not), read from /metrics. */
export async function upstreamMessages(running: RunningGateway, channel: string): Promise<number> {
  const text = await (await fetch(`${running.httpUrl}/metrics`)).text();
  const prefix = `gateway_upstream_messages_total{channel="${channel}"} `;
  const line = text.split("\n").find((candidate) => candidate.startsWith(prefix));
  return line === undefined ? 0 : Number(line.slice(prefix.length));
}

/**
 * Resolve once the gateway has taken in exactly `total` upstream messages on `channel`. A bounded
 * poll of /metrics: ingestion into a conflated channel has no client-visible event until a flush.
 */
export async function waitForIngest(
  running: RunningGateway,
  publisher: NatsConnection,
  channel: string,
  total: number,
): Promise<void> {
  await publisher.flush();
  const deadline = Date.now() + 5000;
  for (;;) {
    const seen = await upstreamMessages(running, channel);
    if (seen > total)
      throw new Error(`gateway ingested ${seen} ${channel} messages, more than the ${total} expected`);
    if (seen === total) return;
    if (Date.now() > deadline) throw new Error(`gateway ingested ${seen} of ${total} ${channel} messages`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** Flush a conflated channel now instead of waiting for its interval. */
export function flushChannel(running: RunningGateway, channel: string): void {
  const pipeline = running.gateway.pipelines.get(channel);
  if (pipeline?.kind !== "conflated") throw new Error(`${channel} is not a conflated channel`);
  pipeline.delivery.flush();
}
