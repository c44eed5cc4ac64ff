/**
 * What a rolling deploy runs on: one nats-server with JetStream, gateway processes (src/main.ts)
 * on one NATS with NATS_JETSTREAM=required, and nginx with deploy/nginx.conf in front of them.
 * restart(i) does what an orchestrator does to one instance: SIGTERM, wait for the process to
 * exit (it drains first), start a new one on the same port and wait for /readyz. publishTrades
 * numbers the trades it publishes, so that clients can be checked for each of them. Used by
 * test/integration/rolling-deploy.test.ts and bench/deploy.ts.
 */
import { type JetStreamClient, jetstream } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import { GatewayProcess } from "./gateway-process.js";
import { NatsServer } from "./nats-server.js";
import { Nginx } from "./nginx.js";
import { SEED_UPSTREAM } from "./seed-payloads.js";

export interface RestartTiming {
  /** When SIGTERM was sent. */
  signalledAt: number;
  /** When the old process had exited (its drain and close were over). */
  exitedAt: number;
  /** When the new process answered /readyz 200. */
  readyAt: number;
}

/** What a rolling-deploy run sets on every gateway; the rest of its settings are the defaults. */
export interface DeploySettings {
  instances: number;
  /** WEBSOCKET_MAX_CONNECTS_PER_SECOND and WEBSOCKET_CONNECTS_BURST, per instance. */
  connectsPerSecond: number;
  connectsBurst: number;
  /** SHUTDOWN_RECONNECT_SPREAD_MS and SHUTDOWN_DRAIN_MS. */
  spreadMs: number;
  drainMs: number;
  /** WEBSOCKET_MAX_CONNECTIONS (and, when given, WEBSOCKET_MAX_CONNECTIONS_PER_IP). */
  maxConnections: number;
  maxConnectionsPerIp?: number;
  /** Anything else, e.g. WEBSOCKET_CLOSE_GRACE_MS. */
  extra?: Record<string, string>;
}

/** The gateways' environment for a run: admission control, drain, nginx trusted, no auto-subscribe. */
export function deployGatewayEnv(settings: DeploySettings): Record<string, string> {
  return {
    WEBSOCKET_MAX_CONNECTS_PER_SECOND: String(settings.connectsPerSecond),
    WEBSOCKET_CONNECTS_BURST: String(settings.connectsBurst),
    SHUTDOWN_RECONNECT_SPREAD_MS: String(settings.spreadMs),
    SHUTDOWN_DRAIN_MS: String(settings.drainMs),
    WEBSOCKET_MAX_CONNECTIONS: String(settings.maxConnections),
    ...(settings.maxConnectionsPerIp === undefined
      ? {}
      : { WEBSOCKET_MAX_CONNECTIONS_PER_IP: String(settings.maxConnectionsPerIp) }),
    // nginx connects from 127.0.0.1; the clients' own addresses come in X-Forwarded-For.
    WEBSOCKET_TRUSTED_PROXIES: "127.0.0.1",
    WEBSOCKET_AUTO_SUBSCRIBE: "false",
    LOG_LEVEL: "warn",
    ...settings.extra,
  };
}

/**
 * The most connections the instances can accept in any one second: a token bucket admits at most
 * BURST + RATE x T in any window of T, so BURST + RATE per second per instance, and at most every
 * instance accepts at once (a draining one refuses all; its successor starts after it has exited).
 */
export function mostConnectsInAnySecond(settings: DeploySettings): number {
  return settings.instances * (settings.connectsBurst + settings.connectsPerSecond);
}

export class RollingDeployStack {
  private constructor(
    readonly nats: NatsServer,
    readonly gateways: GatewayProcess[],
    readonly nginx: Nginx,
    private readonly env: Record<string, string>,
  ) {}

  /** `settings.instances` gateways (NATS_JETSTREAM=required, deployGatewayEnv), behind nginx. */
  static async start(settings: DeploySettings): Promise<RollingDeployStack> {
    const nats = await NatsServer.start({ jetstream: true });
    const fullEnv = { NATS_URL: nats.url, NATS_JETSTREAM: "required", ...deployGatewayEnv(settings) };
    const { instances } = settings;
    try {
      const gateways = await Promise.all(
        Array.from({ length: instances }, (_, index) =>
          GatewayProcess.start(fullEnv, { name: `gateway-${"ABCDEFGH"[index]}`, readyTimeoutMs: 90_000 }),
        ),
      );
      const nginx = await Nginx.start(gateways.map((gateway) => gateway.port));
      return new RollingDeployStack(nats, gateways, nginx, fullEnv);
    } catch (error) {
      await nats.remove();
      throw error;
    }
  }

  /** SIGTERM instance `index`, wait until it has exited, start it again on its port, wait for /readyz. */
  async restart(index: number): Promise<RestartTiming> {
    const old = this.gateways[index];
    if (old === undefined) throw new Error(`no gateway ${index}`);
    const signalledAt = Date.now();
    const exit = await old.kill("SIGTERM");
    const exitedAt = Date.now();
    if (exit.code !== 0) throw new Error(`${old.name} exited with ${JSON.stringify(exit)}:\n${old.tail()}`);
    this.gateways[index] = await GatewayProcess.start(this.env, {
      port: old.port,
      name: old.name,
      readyTimeoutMs: 90_000,
    });
    return { signalledAt, exitedAt, readyAt: Date.now() };
  }

  async stop(): Promise<void> {
    await this.nginx.stop();
    await Promise.all(this.gateways.map((gateway) => gateway.kill("SIGKILL")));
    await this.nats.remove();
  }
}

/**
 * Publish until JetStream acknowledges it. An ack that times out (a loaded machine) is asked
 * again with the same Nats-Msg-Id, which the stream stores once: a retry can never duplicate.
 */
async function publishOnce(
  js: JetStreamClient,
  n: number,
  symbol: string,
  payload: string,
  log: (message: string) => void,
): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    try {
      await js.publish(`execution.trades.${symbol}`, payload, { msgID: `trade-${n}`, timeout: 10_000 });
      return;
    } catch (error) {
      log(`trade ${n}: publish attempt ${attempt} failed (${(error as Error).message})`);
      if (attempt >= 5) throw error;
    }
  }
}

export interface TradePublisher {
  /** Trades published so far (the last one's number). */
  readonly published: number;
  /** Stop, wait for the last ack; the number of trades published. */
  stop(): Promise<number>;
}

/** The symbol of trade `n` when trades go round `symbols` in turn (trade 1 to the first). */
export function symbolOfTrade(n: number, symbols: readonly string[]): string {
  return symbols[(n - 1) % symbols.length] as string;
}

/**
 * Publish valid trades 1, 2, ... on execution.trades.<symbol>, round `symbols` in turn (each
 * one's quantity is its number, its timestamp when it was sent) at `perSecond` until stop(): on
 * schedule (trade n at n / perSecond seconds, however long the acks took), each
 * JetStream-acknowledged before the next, so in order.
 */
export function publishTrades(
  connection: NatsConnection,
  perSecond: number,
  log: (message: string) => void = () => {},
  symbols: readonly string[] = ["AAPL"],
): TradePublisher {
  const js = jetstream(connection);
  let published = 0;
  let stopped = false;
  const started = Date.now();
  const done = (async () => {
    while (!stopped) {
      const due = Math.floor(((Date.now() - started) / 1000) * perSecond);
      while (published < due && !stopped) {
        const n = published + 1;
        const symbol = symbolOfTrade(n, symbols);
        const trade = { ...SEED_UPSTREAM.trade, symbol, quantity: n, timestamp: new Date().toISOString() };
        await publishOnce(js, n, symbol, JSON.stringify(trade), log);
        published++;
      }
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
  })();
  // A publish that failed for good is reported by stop(), not as an unhandled rejection meanwhile.
  done.catch(() => {});
  return {
    get published() {
      return published;
    },
    async stop() {
      stopped = true;
      await done;
      return published;
    },
  };
}
