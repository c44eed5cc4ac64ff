/**
 * The real upstream: a NATS connection that retries forever, re-establishes subscriptions after
 * every reconnect (the client library does that), and reports its state as BrokerEvents that feed
 * stream health and readiness.
 */
import {
  AuthorizationError,
  connect,
  type NatsConnection,
  UserAuthenticationExpiredError,
} from "@nats-io/transport-node";
import type { Logger } from "pino";
import type { Broker, BrokerEvent, MessageHandler } from "./broker.js";
import { type NatsSecurity, redactUrl } from "./nats-options.js";

/** Random extra wait added to each reconnect attempt, so a fleet of gateways does not reconnect in lockstep. */
const RECONNECT_JITTER_MS = 100;

export interface NatsBrokerOptions {
  servers: string[];
  /** Credentials and TLS (nats-options.ts). */
  security?: NatsSecurity;
  reconnectWaitMs: number;
  logger: Logger;
  /**
   * Runs once, on the first connection, before the broker reports itself connected (ready): the
   * JetStream histories of lossless channels are set up here.
   */
  onFirstConnect?: (connection: NatsConnection) => Promise<void>;
}

export class NatsBroker implements Broker {
  readonly kind = "nats";
  connected = false;
  private connection: NatsConnection | undefined;
  private starting = false;
  private closing = false;
  private readonly pending: { subject: string; handler: MessageHandler }[] = [];
  private readonly listeners: ((event: BrokerEvent) => void)[] = [];
  /** Why the connection closed for good, once it has. */
  failure: string | undefined;
  /** Cuts the pause between first-connection attempts short (on close). */
  private wake: () => void = () => {};

  constructor(private readonly options: NatsBrokerOptions) {}

  currentServer(): string | undefined {
    return this.connected ? this.connection?.getServer() : undefined;
  }

  start(): void {
    if (this.starting) return;
    this.starting = true;
    void this.connectForever();
  }

  subscribe(subject: string, handler: MessageHandler): void {
    if (this.connection) this.attach(this.connection, subject, handler);
    else this.pending.push({ subject, handler });
  }

  publish(subject: string, data: Uint8Array | string): void {
    this.connection?.publish(subject, data);
  }

  onEvent(listener: (event: BrokerEvent) => void): void {
    this.listeners.push(listener);
  }

  async close(): Promise<void> {
    this.closing = true;
    this.wake();
    const connection = this.connection;
    this.connection = undefined;
    this.connected = false;
    if (connection && !connection.isClosed()) {
      // drain() lets messages already received reach their handlers before closing.
      await connection.drain().catch(() => connection.close());
      this.options.logger.info("NATS connection drained and closed");
    }
    this.emit({ type: "closed" });
  }

  private async connectForever(): Promise<void> {
    const { servers, reconnectWaitMs, logger, security } = this.options;
    const printable = servers.map(redactUrl);
    let connection: NatsConnection | undefined;
    // Absent at start is a normal state (NATS may come up after us): keep trying until closed.
    // Our own loop rather than the library's waitOnFirstConnect, so that close() can stop it.
    for (let attempt = 0; !this.closing; attempt++) {
      try {
        connection = await connect({
          servers,
          ...security,
          name: "trading-stream-gateway",
          maxReconnectAttempts: -1,
          reconnectTimeWait: reconnectWaitMs,
          reconnectJitter: Math.min(RECONNECT_JITTER_MS, reconnectWaitMs),
        });
        break;
      } catch (error) {
        // Credentials the server refuses will not become right by waiting: give up, loudly.
        if (error instanceof AuthorizationError || error instanceof UserAuthenticationExpiredError) {
          this.fail(error);
          return;
        }
        if (attempt === 0)
          logger.warn(
            { err: errorText(error), servers: printable },
            "NATS not reachable yet; retrying until it is",
          );
        await this.pause(reconnectWaitMs);
      }
    }
    if (!connection) return;
    if (this.closing) {
      await connection.close();
      return;
    }
    this.connection = connection;
    for (const { subject, handler } of this.pending.splice(0)) this.attach(connection, subject, handler);
    // A round trip proves the server has processed our SUBs: only then are we really subscribed.
    await connection.flush().catch(() => undefined);
    if (this.closing) return; // close() took over the connection meanwhile
    await this.options.onFirstConnect?.(connection);
    if (this.closing) return;
    // What subscribed meanwhile (the lossless channels' in-memory histories, once NATS has said it
    // has no JetStream) must be on the server too before we say connected: a message published
    // right after readiness would otherwise reach the server before our SUB (seen in the tests).
    await connection.flush().catch(() => undefined);
    if (this.closing) return;
    this.connected = true;
    const server = connection.getServer();
    logger.info({ server }, "connected to NATS");
    this.emit({ type: "connected", server });
    void this.watchStatus(connection);
    void connection.closed().then((error) => {
      // Closed by close() is the normal end; closed by the library means it gave up for good.
      if (!this.closing) this.fail(error ?? new Error("NATS connection closed"));
    });
  }

  /** The connection is gone for good (refused credentials, or the client library gave up). */
  private fail(error: Error): void {
    this.connected = false;
    this.failure = errorText(error);
    this.options.logger.fatal({ err: this.failure }, "NATS connection closed for good");
    this.emit({ type: "failed", error: this.failure });
  }

  /** A sleep that close() cuts short. */
  private pause(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, ms);
      this.wake = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }

  private attach(connection: NatsConnection, subject: string, handler: MessageHandler): void {
    // The callback form delivers synchronously as the client parses, without an async iterator
    // per message: the cheapest path the library offers.
    connection.subscribe(subject, {
      callback: (error, message) => {
        if (error) {
          this.options.logger.warn({ err: error, subject }, "NATS subscription error");
          return;
        }
        handler(message.subject, message.data);
      },
    });
  }

  private async watchStatus(connection: NatsConnection): Promise<void> {
    const { logger } = this.options;
    for await (const status of connection.status()) {
      if (status.type === "disconnect") {
        this.connected = false;
        logger.warn({ server: status.server }, "NATS disconnected; reconnecting");
        this.emit({ type: "disconnected", server: status.server });
      } else if (status.type === "reconnect") {
        await connection.flush().catch(() => undefined);
        this.connected = true;
        logger.info({ server: status.server }, "NATS reconnected; subscriptions re-established");
        this.emit({ type: "reconnected", server: status.server });
      } else if (status.type === "error") {
        logger.warn({ err: status.error }, "NATS server error");
      }
    }
  }

  private emit(event: BrokerEvent): void {
    for (const listener of this.listeners) listener(event);
  }
}

/** An error's message, for logs and the status document: never the options it was given. */
function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
