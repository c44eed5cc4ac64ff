/**
 * An in-process broker with NATS subject semantics, for the demo start only (no NATS_URL): the
 * simulated market publishes into it so a new user sees live frames at once. Tests of delivery
 * use a real nats-server, never this.
 */
import type { Broker, BrokerEvent, MessageHandler } from "./broker.js";
import { subjectMatches } from "./subject.js";

const encoder = new TextEncoder();

export class EmbeddedBroker implements Broker {
  readonly kind = "embedded";
  connected = false;
  private readonly subscriptions: { subject: string; handler: MessageHandler }[] = [];
  private readonly listeners: ((event: BrokerEvent) => void)[] = [];

  currentServer(): string | undefined {
    return this.connected ? "embedded" : undefined;
  }

  start(): void {
    if (this.connected) return;
    this.connected = true;
    this.emit({ type: "connected", server: "embedded" });
  }

  subscribe(subject: string, handler: MessageHandler): void {
    this.subscriptions.push({ subject, handler });
  }

  publish(subject: string, data: Uint8Array | string): void {
    if (!this.connected) return;
    const bytes = typeof data === "string" ? encoder.encode(data) : data;
    for (const subscription of this.subscriptions) {
      if (subjectMatches(subscription.subject, subject)) subscription.handler(subject, bytes);
    }
  }

  onEvent(listener: (event: BrokerEvent) => void): void {
    this.listeners.push(listener);
  }

  async close(): Promise<void> {
    this.connected = false;
    this.emit({ type: "closed" });
  }

  private emit(event: BrokerEvent): void {
    for (const listener of this.listeners) listener(event);
  }
}
