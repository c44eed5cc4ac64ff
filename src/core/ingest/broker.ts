/**
 * What the gateway needs from a message broker, so that the core does not care whether it runs
 * on real NATS or on the in-process demo broker.
 */

/** Called synchronously for each message; `data` is only valid during the call. */
export type MessageHandler = (subject: string, data: Uint8Array) => void;

export type BrokerEvent =
  /** Connected for the first time; subscriptions are live. */
  | { type: "connected"; server: string }
  /** Lost the connection; the broker keeps trying to reconnect. */
  | { type: "disconnected"; server: string }
  /** Connection and subscriptions re-established after a disconnect. */
  | { type: "reconnected"; server: string }
  /** Closed for good (shutdown). */
  | { type: "closed" }
  /** Gone for good, not by shutdown: refused credentials, or the client library gave up. */
  | { type: "failed"; error: string };

export interface Broker {
  readonly kind: "nats" | "embedded";
  /** True while connected and subscriptions are live. */
  readonly connected: boolean;
  /** Why the connection is gone for good, once it is (a "failed" event was emitted). */
  readonly failure?: string | undefined;
  /** The server currently connected to ("host:port"; "embedded" in demo mode), if any. */
  currentServer(): string | undefined;
  /** Start connecting (in the background; watch events). Idempotent. */
  start(): void;
  /** Subscribe; may be called before the connection exists and is applied once it does. */
  subscribe(subject: string, handler: MessageHandler): void;
  publish(subject: string, data: Uint8Array | string): void;
  onEvent(listener: (event: BrokerEvent) => void): void;
  /** Drain in-flight messages and close. */
  close(): Promise<void>;
}
