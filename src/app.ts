/**
 * buildGateway(config): the composition root, where every part is constructed and wired, once,
 * in dependency order: plugins, one pipeline per channel (pipeline.ts), the histories of the
 * lossless ones, the broker, resumes, the WebSocket endpoint and the REST routes, all in one
 * Fastify instance. It never listens by itself: main.ts and tests call `gateway.fastify.listen()`.
 */
import Fastify, { type FastifyBaseLogger, type FastifyInstance, LogController } from "fastify";
import pino, { type Logger } from "pino";
import type { GatewayConfig } from "./config.js";
import { SessionAuth } from "./core/auth/session-auth.js";
import { TokenVerifier } from "./core/auth/token-verifier.js";
import { channelDescriptionsJson, channelInfoJson } from "./core/channel-info.js";
import { ClientMessageHandler } from "./core/client-messages.js";
import { Degrader } from "./core/delivery/degrader.js";
import { OutboundWriter } from "./core/delivery/outbound-writer.js";
import { disconnector } from "./core/disconnect.js";
import { HistorySources } from "./core/history/history-sources.js";
import { Resumer } from "./core/history/resume.js";
import { ResumeGates } from "./core/history/resume-gate.js";
import type { Broker } from "./core/ingest/broker.js";
import { EmbeddedBroker } from "./core/ingest/embedded-broker.js";
import { REPLAY_PAGE } from "./core/ingest/jetstream-log.js";
import { NatsBroker } from "./core/ingest/nats-broker.js";
import { natsEndpoint } from "./core/ingest/nats-options.js";
import { LatencyRecorder } from "./core/latency/latency-recorder.js";
import { registerLatencyMetrics } from "./core/metrics.js";
import { buildPipeline, type LosslessPipeline, type Pipeline } from "./core/pipeline.js";
import { type LoadedChannel, unhandledKind } from "./core/plugin.js";
import { DEFAULT_PLUGINS_DIR, loadPlugins } from "./core/plugin-loader.js";
import { seedIntervals } from "./core/seed-channels.js";
import { StreamStatusMonitor } from "./core/stream-status.js";
import { SubscriptionIndex } from "./core/subscription-index.js";
import { WebSocketEndpoint } from "./core/websocket-server.js";
import { metricsOf, statusState } from "./http/gateway-state.js";
import { registerRestRoutes } from "./http/rest-routes.js";

export interface GatewayOptions {
  config: GatewayConfig;
  pluginsDir?: string;
  logger?: Logger;
}

export interface Gateway {
  fastify: FastifyInstance;
  config: GatewayConfig;
  broker: Broker;
  channels: LoadedChannel[];
  /** Every channel's pipeline, by channel name, in plugin order. */
  pipelines: ReadonlyMap<string, Pipeline>;
  /** Subscribe to upstream and start conflation timers (idempotent). Called by listen() hooks too. */
  start(): void;
  /**
   * Begin draining: /readyz answers 503 and new WebSocket upgrades are refused; streaming goes on.
   * With `reconnectSpreadMs` (SIGTERM), every client also gets a shutdown_notice with its own
   * reconnect_in_ms (0 to the spread) and is closed with 1001 at that time.
   */
  drain(options?: { reconnectSpreadMs?: number }): void;
  /** Graceful: stop accepting, close clients with 1001, drain the broker, close HTTP. */
  close(): Promise<void>;
  /** Connected clients (for status and tests). */
  endpoint: WebSocketEndpoint;
  /** Where the lossless channels' histories come from (JetStream or memory). */
  histories: HistorySources;
  /** Who is subscribed to what (for tests and diagnostics). */
  index: SubscriptionIndex;
}

export async function buildGateway(options: GatewayOptions): Promise<Gateway> {
  const { config } = options;
  const logger = options.logger ?? pino({ level: config.LOG_LEVEL });
  const channels = await loadPlugins(options.pluginsDir ?? DEFAULT_PLUGINS_DIR, config);

  // Channels and who is subscribed to them; a lossless channel's subscriptions track what each
  // connection was sent (coverage), against the channel's ring.
  const pipelines = new Map<string, Pipeline>();
  const index = new SubscriptionIndex(
    channels.map((channel) => channel.plugin.name),
    config.WEBSOCKET_MAX_SYMBOLS_PER_CLIENT,
    (name) => {
      const pipeline = pipelines.get(name);
      return pipeline?.kind === "lossless" ? pipeline.history : undefined;
    },
    channels.filter((channel) => channel.autoSubscribe).map((channel) => channel.plugin.name),
  );
  const disconnect = disconnector(index, config.WEBSOCKET_CLOSE_GRACE_MS);
  // Per-stage timing (docs/latency.md); GATEWAY_TIMING=off builds none, to measure what it costs.
  const latency = config.GATEWAY_TIMING === "on" ? new LatencyRecorder() : undefined;
  const writer = new OutboundWriter(
    {
      maxBufferedBytes: config.WEBSOCKET_MAX_BUFFERED_BYTES,
      conflatedDropBytes: config.WEBSOCKET_CONFLATED_DROP_BYTES,
      maxWriteWindowMs: config.WEBSOCKET_MAX_WRITE_WINDOW_MS,
    },
    (session) => {
      logger.warn(
        { clientId: session.clientId, buffered: session.socket.bufferedAmount },
        "slow consumer disconnected",
      );
      disconnect(session, "SLOW_CONSUMER", "Slow consumer: lossless data could not be queued");
    },
    latency,
  );
  const gates = new ResumeGates({
    maxBufferedBytes: config.WEBSOCKET_MAX_BUFFERED_BYTES,
    onOverflow: (session) => writer.overflow(session as Parameters<typeof writer.overflow>[0]),
  });
  for (const channel of channels)
    pipelines.set(channel.plugin.name, buildPipeline(channel, { config, logger, index, gates, latency }));
  const lossless = [...pipelines.values()].filter(
    (pipeline): pipeline is LosslessPipeline => pipeline.kind === "lossless",
  );

  const histories = new HistorySources(lossless, config, logger);
  const nats = natsEndpoint(config);
  const broker: Broker = nats
    ? new NatsBroker({
        servers: nats.servers,
        security: nats.security,
        reconnectWaitMs: config.NATS_RECONNECT_WAIT_MS,
        logger,
        onFirstConnect: histories.onFirstConnect,
      })
    : new EmbeddedBroker();
  broker.onEvent((event) => {
    if (event.type === "reconnected")
      for (const { stream } of pipelines.values()) stream.health.recoveryAttempts++;
  });
  const streamStatus = new StreamStatusMonitor(
    [...pipelines.values()].map(({ channel, stream }) => ({ channel, health: stream.health })),
    broker,
    index,
  );

  const resumer = new Resumer({
    gates,
    maxReplay: config.WEBSOCKET_MAX_REPLAY,
    waitMs: config.NATS_REPLAY_WAIT_MS,
    drainedBytes: config.WEBSOCKET_CONFLATED_DROP_BYTES,
    // At least every page the replay consumers can be reading at once: a storm's late clients then
    // find what the first ones read, even with a ring smaller than what they missed.
    cacheSize: Math.max(config.WEBSOCKET_HISTORY_SIZE, REPLAY_PAGE * config.NATS_REPLAY_CONSUMERS_MAX),
    logger,
    parse: (channel, data) => {
      const parsed = pipelines.get(channel)?.stream.parse(data);
      return parsed?.ok ? parsed.message : undefined;
    },
    logOf: (channel) => histories.logOf(channel),
    interrupt: (session) =>
      disconnect(session, "REPLAY_INTERRUPTED", "Replay interrupted; resume from the last seq received"),
  });
  const handler = new ClientMessageHandler(
    index,
    pipelines,
    {
      maxSymbolsPerSubscribe: config.WEBSOCKET_MAX_SYMBOLS_PER_SUBSCRIBE,
      maxSymbolsPerClient: config.WEBSOCKET_MAX_SYMBOLS_PER_CLIENT,
    },
    resumer,
    { streamStatus, minIntervalMs: config.WEBSOCKET_MIN_INTERVAL_MS },
    logger,
  );
  const verifier = TokenVerifier.fromConfig(config);
  const sessionAuth =
    verifier &&
    new SessionAuth({
      verifier,
      index,
      logger,
      sendError: (session, code, id, message) => handler.sendError(session, code, id, message),
      disconnect,
    });
  if (sessionAuth) handler.refreshToken = (session, token, id) => sessionAuth.refresh(session, token, id);
  const seed = seedIntervals(channels, config);
  const endpoint = new WebSocketEndpoint({
    config,
    logger,
    index,
    handler,
    writer,
    pipelines,
    disconnect,
    welcome: {
      config,
      index,
      pipelines,
      streamStatus,
      channelInfo: channelInfoJson(channels),
      seedIntervals: seed,
    },
    auth: verifier && sessionAuth && { verifier, sessions: sessionAuth },
  });

  const degrader = new Degrader({
    clients: () => endpoint.clients.values(),
    conflated: [...pipelines.values()].flatMap((pipeline) =>
      pipeline.kind === "conflated" ? [pipeline.delivery] : [],
    ),
    degradeBytes: config.WEBSOCKET_DEGRADE_BYTES,
    maxFactor: config.WEBSOCKET_DEGRADE_MAX_FACTOR,
  });

  const fastify = Fastify({
    // Node drops a socket that has not sent its complete request headers in time, whether it sends
    // nothing or drips a byte at a time (slowloris); WebSocket upgrades are requests like any other.
    http: {
      headersTimeout: config.WEBSOCKET_HANDSHAKE_TIMEOUT_MS,
      connectionsCheckingInterval: Math.min(1000, config.WEBSOCKET_HANDSHAKE_TIMEOUT_MS),
    },
    loggerInstance: logger.child({ component: "http" }) as FastifyBaseLogger,
    // Status and metrics are polled constantly; a log line per request would drown the rest.
    logController: new LogController({ disableRequestLogging: true }),
  });
  endpoint.attach(fastify.server);

  let draining = false;
  let closing: Promise<void> | undefined;
  const parts = {
    config,
    pipelines,
    broker,
    histories,
    endpoint,
    writer,
    resumer,
    degrader,
    streamStatus,
    seedIntervals: seed,
    // Not ready once shutdown has begun, so load balancers stop sending clients before the broker goes.
    ready: () => broker.connected && !draining && closing === undefined,
  };
  const metrics = metricsOf(parts);
  if (latency) registerLatencyMetrics(metrics, latency);
  await registerRestRoutes(fastify, config, {
    ...statusState(parts),
    metrics,
    latency: () => latency?.report(),
    // Built on first request: only the docs need YAML and JSON Schema, so an idle gateway pays nothing for them.
    asyncApi: async () => {
      const [{ stringify }, { buildAsyncApi }] = await Promise.all([
        import("yaml"),
        import("./specs/asyncapi.js"),
      ]);
      const document = buildAsyncApi(channels, config);
      return { yaml: stringify(document), json: JSON.stringify(document) };
    },
    channels: channelDescriptionsJson(channels),
  });

  let started = false;
  const start = (): void => {
    if (started) return;
    started = true;
    for (const pipeline of pipelines.values()) {
      const { channel } = pipeline;
      switch (pipeline.kind) {
        case "conflated":
        case "state":
          broker.subscribe(channel.subject, pipeline.stream.handle);
          pipeline.delivery.start();
          break;
        case "lossless":
          // Fed by its history source (histories.start, below).
          break;
        default:
          unhandledKind(pipeline);
      }
      logger.info(
        {
          channel: pipeline.name,
          subject: channel.subject,
          kind: pipeline.kind,
          intervalMs: pipeline.kind === "conflated" ? pipeline.channel.intervalMs : undefined,
        },
        "channel loaded",
      );
    }
    histories.start(broker);
    streamStatus.start();
    degrader.start();
    broker.start();
  };
  fastify.addHook("onListen", async () => start());

  const drain = (options: { reconnectSpreadMs?: number } = {}): void => {
    draining = true;
    if (options.reconnectSpreadMs === undefined) endpoint.stopAccepting();
    else endpoint.drainWithNotice(options.reconnectSpreadMs);
  };

  const close = (): Promise<void> => {
    closing ??= (async () => {
      for (const pipeline of pipelines.values())
        if (pipeline.kind === "conflated" || pipeline.kind === "state") pipeline.delivery.stop();
      streamStatus.stop();
      degrader.stop();
      await endpoint.closeAll();
      await histories.close();
      await broker.close();
      await fastify.close();
    })();
    return closing;
  };

  return { fastify, config, broker, channels, pipelines, start, drain, close, endpoint, histories, index };
}
