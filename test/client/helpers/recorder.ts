/**
 * Records every event of a GatewayClient in order, so that tests can await the next event of a
 * kind (never sleep) and afterwards check the whole sequence.
 */
import type { GatewayClient, GatewayClientEvents } from "../../../src/client/node.js";

export type EventName = keyof GatewayClientEvents;

export const EVENT_NAMES: EventName[] = [
  "connecting",
  "open",
  "reconnecting",
  "closed",
  "error",
  "frame",
  "channel_data",
  "welcome",
  "subscribed",
  "unsubscribed",
  "pong",
  "server_error",
  "authenticated",
  "replayed",
  "recovered",
  "gap",
  "price_update",
  "signal",
  "trade_executed",
  "portfolio_update",
  "stream_status",
  "delivery_status",
  "channel_status",
];

export interface RecordedEvent {
  name: EventName;
  payload: unknown;
}

export class ClientRecorder {
  readonly events: RecordedEvent[] = [];
  /** Per event name: how many of that name next() has consumed. */
  private readonly consumed = new Map<EventName, number>();
  private waiters: (() => void)[] = [];

  constructor(client: GatewayClient) {
    for (const name of EVENT_NAMES) {
      client.on(name, (payload: unknown) => {
        this.events.push({ name, payload });
        const waiters = this.waiters;
        this.waiters = [];
        for (const wake of waiters) wake();
      });
    }
  }

  /** Every payload of one event name, in order. */
  all<K extends EventName>(name: K): GatewayClientEvents[K][] {
    return this.events.filter((event) => event.name === name).map((event) => event.payload) as never;
  }

  /** Event names in order, optionally only those listed. */
  names(only?: EventName[]): EventName[] {
    return this.events.map((event) => event.name).filter((name) => !only || only.includes(name));
  }

  /**
   * The next `name` event (after those of that name already consumed) that matches; events of
   * that name skipped on the way are consumed too. Rejects after `timeoutMs`.
   */
  async next<K extends EventName>(
    name: K,
    match: (payload: GatewayClientEvents[K]) => boolean = () => true,
    timeoutMs = 10_000,
  ): Promise<GatewayClientEvents[K]> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const ofName = this.all(name);
      let position = this.consumed.get(name) ?? 0;
      while (position < ofName.length) {
        const payload = ofName[position++] as GatewayClientEvents[K];
        this.consumed.set(name, position);
        if (match(payload)) return payload;
      }
      const remaining = deadline - Date.now();
      if (remaining <= 0) {
        const recent = this.events
          .slice(-15)
          .map((event) => `${event.name} ${JSON.stringify(event.payload)}`);
        throw new Error(`timed out waiting for "${String(name)}"; last events:\n  ${recent.join("\n  ")}`);
      }
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, remaining);
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }
}
