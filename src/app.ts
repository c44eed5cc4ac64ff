/**
 * Longer than 250 lines: the composition root, where every part is constructed and wired, once.
 *
 * buildGateway(config): wires plugins, broker, delivery, the WebSocket endpoint and the REST
 * routes into one Fastify instance. It never listens by itself: main.ts and tests call
 * `gateway.fastify.listen()`.
 */
import path from "node:path";
import { fileURLToPath } from "node:url";
import Fastify, { type FastifyBaseLogger, type FastifyInstance, LogController } from "fastify";
import pino, { type Logger } from "pino";
import type { GatewayConfig } from "./config.js";
import { SessionAuth } from "./core/auth/session-auth.js";
import { TokenVerifier } from "./core/auth/token-verifier.js";
import { channelDescriptionsJson, channelInfoJson } from "./core/channel-info.js";
import { ChannelStream } from "./core/channel-stream.js";
import { ClientMessageHandler } from "./core/client-messages.js";
import { ChannelDelivery } from "./core/delivery/channel-delivery.js";
import { Degrader } from "./core/delivery/degrader.js";
import type { Delivery } from "./core/delivery/delivery.js";
import { LosslessDelivery } from "./core/delivery/lossless-delivery.js";
import { OutboundWriter } from "./core/delivery/outbound-writer.js";
import { StreamHealth } from "./core/health.js";
import { ChannelHistory } from "./core/history/channel-history.js";
import { HistorySources, type LosslessChannel } from "./core/history/history-sources.js";
import { Resumer } from "./core/history/resume.js";
import type { Broker } from "./core/ingest/broker.js";
import { EmbeddedBroker } from "./core/ingest/embedded-broker.js";
import { REPLAY_PAGE } from "./core/ingest/jetstream-log.js";
import { NatsBroker } from "./core/ingest/nats-broker.js";
import { natsEndpoint } from "./core/ingest/nats-options.js";
import { createMetricsRegistry } from "./core/metrics.js";
import type { LoadedChannel } from "./core/plugin.js";
import { loadPlugins } from "./core/plugin-loader.js";
import { seedIntervals } from "./core/seed-channels.js";
import { StreamStatusMonitor } from "./core/stream-status.js";
import { SubscriptionIndex } from "./core/subscription-index.js";
import { WebSocketEndpoint } from "./core/websocket-server.js";
import { type RestState, registerRestRoutes } from "./http/rest-routes.js";

/**
 * plugins/ beside src/: the repository's when run from source with tsx, dist/plugins when
 * compiled (the build mirrors the layout, so compiled plugins are loaded as .js).
 */
export const DEFAULT_PLUGINS_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../plugins");

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
  /** Subscribe to upstream and start conflation timers (idempotent). Called by listen() hooks too. */
  start(): void;
  /** Begin draining: /readyz answers 503 and new WebSocket upgrades are refused; streaming goes on. */
  drain(): void;
  /** Graceful: stop accepting, close clients with 1001, drain the broker, close HTTP. */
  close(): Promise<void>;
  /** Connected clients (for status and tests). */
  endpoint: WebSocketEndpoint;
  deliveries: ReadonlyMap<string, Delivery>;
  /** Where the lossless channels' histories come from (JetStream or memory). */
  histories: HistorySources;
  /** Who is subscribed to what (for tests and diagnostics). */
  index: SubscriptionIndex;
}

export async function buildGateway(options: GatewayOptions): Promise<Gateway> {
  const { config } = options;
  const logger = options.logger ?? pino({ level: config.LOG_LEVEL });
  const channels = await loadPlugins(options.pluginsDir ?? DEFAULT_PLUGINS_DIR, config);
  const channelNames = channels.map((channel) => channel.plugin.name);

  const nats = natsEndpoint(config);
  const broker: Broker = nats
    ? new NatsBroker({
        servers: nats.servers,
        security: nats.security,
        reconnectWaitMs: config.NATS_RECONNECT_WAIT_MS,
        logger,
        onFirstConnect: (connection) =>
          histories.wantsJetStream ? histories.onFirstConnect(connection) : Promise.resolve(),
      })
    : new EmbeddedBroker();

  const channelHistories = new Map<string, ChannelHistory>();
  const index = new SubscriptionIndex(channelNames, config.WEBSOCKET_MAX_SYMBOLS_PER_CLIENT, (channel) =>
    channelHistories.get(channel),
  );
  const deliveries = new Map<string, Delivery>();
  const streams: ChannelStream[] = [];
  const lossless: LosslessChannel[] = [];
  for (const channel of channels) {
    let delivery: Delivery;
    if (channel.intervalMs === undefined) {
      const history = new ChannelHistory(config.WEBSOCKET_HISTORY_SIZE);
      channelHistories.set(channel.plugin.name, history);
      delivery = new LosslessDelivery(channel, index, history, {
        maxBufferedBytes: config.WEBSOCKET_MAX_BUFFERED_BYTES,
        onOverflow: (session) => writer.overflow(session),
      });
    } else {
      delivery = new ChannelDelivery(channel, index, logger, config.WEBSOCKET_MAX_CONFLATED_KEYS);
    }
    deliveries.set(channel.plugin.name, delivery);
    const stream = new ChannelStream(
      channel,
      new StreamHealth(),
      delivery,
      config.NATS_MAX_PAYLOAD_BYTES,
      logger,
    );
    streams.push(stream);
    if (delivery instanceof LosslessDelivery) lossless.push({ delivery, stream });
  }
  const histories = new HistorySources(lossless, broker, config, logger);
  const streamStatus = new StreamStatusMonitor(
    channels.map((channel, position) => ({ channel, health: (streams[position] as ChannelStream).health })),
    broker,
    index,
  );
  broker.onEvent((event) => {
    if (event.type === "reconnected") for (const stream of streams) stream.health.recoveryAttempts++;
  });

  const writer = new OutboundWriter(
    {
      maxBufferedBytes: config.WEBSOCKET_MAX_BUFFERED_BYTES,
      conflatedDropBytes: config.WEBSOCKET_CONFLATED_DROP_BYTES,
    },
    (session) => {
      logger.warn(
        { clientId: session.clientId, buffered: session.socket.bufferedAmount },
        "slow consumer disconnected",
      );
      endpoint.disconnect(session, "SLOW_CONSUMER", "Slow consumer: lossless data could not be queued");
    },
  );
  const resumer = new Resumer({
    maxReplay: config.WEBSOCKET_MAX_REPLAY,
    waitMs: config.NATS_REPLAY_WAIT_MS,
    drainedBytes: config.WEBSOCKET_CONFLATED_DROP_BYTES,
    // At least every page the replay consumers can be reading at once: a storm's late clients then
    // find what the first ones read, even with a ring smaller than what they missed.
    cacheSize: Math.max(config.WEBSOCKET_HISTORY_SIZE, REPLAY_PAGE * config.NATS_REPLAY_CONSUMERS_MAX),
    logger,
    parse: (channel, data) => {
      const parsed = streams[channelNames.indexOf(channel)]?.parse(data);
      return parsed?.ok ? parsed.message : undefined;
    },
    logOf: (channel) => histories.logs.get(channel),
    interrupt: (session) =>
      endpoint.disconnect(
        session,
        "REPLAY_INTERRUPTED",
        "Replay interrupted; resume from the last seq received",
      ),
  });
  const handler = new ClientMessageHandler(
    index,
    deliveries,
    {
      maxSymbolsPerSubscribe: config.WEBSOCKET_MAX_SYMBOLS_PER_SUBSCRIBE,
      maxSymbolsPerClient: config.WEBSOCKET_MAX_SYMBOLS_PER_CLIENT,
    },
    resumer,
    { streamStatus, minIntervalMs: config.WEBSOCKET_MIN_INTERVAL_MS },
  );
  const verifier = TokenVerifier.fromConfig(config);
  const sessionAuth =
    verifier &&
    new SessionAuth({
      verifier,
      index,
      logger,
      sendError: (session, code, id, message) => handler.sendError(session, code, id, message),
      disconnect: (session, name, reason) => endpoint.disconnect(session, name, reason),
    });
  if (sessionAuth) handler.refreshToken = (session, token, id) => sessionAuth.refresh(session, token, id);
  const endpoint = new WebSocketEndpoint({
    config,
    logger,
    index,
    handler,
    writer,
    deliveries,
    channelNames,
    welcome: {
      config,
      index,
      deliveries,
      streamStatus,
      channelInfo: channelInfoJson(channels),
      seedIntervals: seedIntervals(channels, config),
    },
    auth: verifier && sessionAuth && { verifier, sessions: sessionAuth },
  });

  const degrader = new Degrader({
    clients: () => endpoint.clients.values(),
    conflated: [...deliveries.values()].filter(
      (delivery): delivery is ChannelDelivery => delivery instanceof ChannelDelivery,
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
  let upstreamState: "connecting" | "connected" | "reconnecting" | "closed" = "connecting";
  broker.onEvent((event) => {
    if (event.type === "connected" || event.type === "reconnected") upstreamState = "connected";
    else if (event.type === "disconnected") upstreamState = "reconnecting";
    else upstreamState = "closed";
  });
  const mode = (): "nats" | "demo" => (broker.kind === "nats" ? "nats" : "demo");
  const status: RestState["status"] = {
    seedIntervals: seedIntervals(channels, config),
    mode,
    upstream: () => ({
      state: upstreamState,
      server: broker.currentServer() ?? null,
      history: histories.mode ?? null,
      ...(broker.failure === undefined ? {} : { error: broker.failure }),
    }),
    activeConnections: () => endpoint.clients.size,
    streamHealth: () =>
      Object.fromEntries(
        streams.map((stream, position) => {
          const channel = channelNames[position] as string;
          return [channel, stream.health.view(streamStatus.isLive(channel))];
        }),
      ),
  };
  await registerRestRoutes(fastify, config, {
    status,
    // Not ready once shutdown has begun, so load balancers stop sending clients before the broker goes.
    health: {
      ready: () => broker.connected && !draining && closing === undefined,
      broker: () => broker.kind,
    },
    metrics: createMetricsRegistry({
      activeConnections: () => endpoint.clients.size,
      mode,
      natsConnected: () => broker.connected,
      connections: () => endpoint.counters,
      outbound: () => writer.counters,
      resumes: () => resumer.counters,
      degradation: () => degrader.counters,
      jetStreamConsumers: () => ({
        live: histories.logs.size,
        replay: histories.slots.inUse,
        replayPeak: histories.slots.peak,
      }),
      channels: () =>
        streams.map((stream, position) => ({
          name: channelNames[position] as string,
          messagesIn: stream.messagesIn,
          framesOut: deliveries.get(channelNames[position] as string)?.counters.framesOut ?? 0,
          keysEvicted: deliveries.get(channelNames[position] as string)?.counters.keysEvicted ?? 0,
          framesFailed: deliveries.get(channelNames[position] as string)?.counters.framesFailed ?? 0,
          rejected: stream.rejected,
        })),
    }),
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
    for (const [position, channel] of channels.entries()) {
      // Lossless channels are fed by their history source (below).
      if (channel.intervalMs !== undefined)
        broker.subscribe(channel.subject, (streams[position] as ChannelStream).handle);
      deliveries.get(channel.plugin.name)?.start();
      logger.info(
        { channel: channel.plugin.name, subject: channel.subject, intervalMs: channel.intervalMs },
        "channel loaded",
      );
    }
    if (!histories.wantsJetStream) histories.startInMemory();
    streamStatus.start();
    degrader.start();
    broker.start();
  };
  fastify.addHook("onListen", async () => start());

  let draining = false;
  const drain = (): void => {
    draining = true;
    endpoint.stopAccepting();
  };

  let closing: Promise<void> | undefined;
  const close = (): Promise<void> => {
    closing ??= (async () => {
      for (const delivery of deliveries.values()) delivery.stop();
      streamStatus.stop();
      degrader.stop();
      await endpoint.closeAll();
      await histories.close();
      await broker.close();
      await fastify.close();
    })();
    return closing;
  };

  return { fastify, config, broker, channels, start, drain, close, endpoint, deliveries, histories, index };
}
