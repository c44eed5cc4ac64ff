/**
 * An SDK client (src/client, the Node entry) of the `trades` channel that records what a rolling
 * deploy test asks of it: every trade delivered to the application (its quantity is the trade's
 * number, as the publisher numbers them), each connection's welcome time (the gateway's clock:
 * when the gateway accepted it), each shutdown_notice, and every resume that failed. It connects
 * from a loopback address of its own (`localAddress`), so that a proxy's X-Forwarded-For names
 * several client addresses.
 */
import type { ClientOptions } from "ws";
import { GatewayClient, NodeWebSocket } from "../../src/client/node.js";

/** `ws` bound to a local address: what the SDK's `WebSocket` option takes. */
function boundWebSocket(localAddress: string) {
  return class BoundWebSocket extends NodeWebSocket {
    constructor(address: string, protocols?: string | string[], options?: ClientOptions) {
      super(address, protocols, { ...options, localAddress });
    }
  };
}

export interface DeliveredTrade {
  /** The publisher's number for the trade. */
  n: number;
  seq: number;
  epoch: string;
  /** When the application got it (ms, this process's clock). */
  at: number;
  /** The frame's `timestamp` (when upstream stamped it: the publisher's send time), in ms. */
  publishedAt: number;
}

export class DeployClient {
  readonly sdk: GatewayClient;
  readonly trades: DeliveredTrade[] = [];
  /** The welcome `timestamp` of every connection (ms): when a gateway accepted it. */
  readonly acceptedAt: number[] = [];
  /** When each shutdown_notice arrived (ms), with its reconnect_in_ms. */
  readonly notices: { at: number; reconnectInMs: number }[] = [];
  /** Resume failures: `gap` events and `subscribed` acks with recovered:false. */
  readonly resumeFailures: string[] = [];
  /** Frames the gateway refused or the SDK could not read. */
  readonly errors: string[] = [];
  /**
   * Called for every trade delivered; `catchingUp` when it came with this client's own resume (from
   * its connection's loss until the replay was delivered), not live.
   */
  onTrade: ((trade: DeliveredTrade, catchingUp: boolean) => void) | undefined;
  /** Between losing a connection and the resume's replay having been delivered. */
  private catchingUp = false;
  private subscribedOnce!: () => void;
  /** Resolves at the first `subscribed` ack of trades. */
  readonly subscribed = new Promise<void>((resolve) => {
    this.subscribedOnce = resolve;
  });

  /**
   * `symbols`: what it subscribes to; `wants(n)`: whether trade n is one of them (every trade
   * when not given).
   */
  constructor(
    url: string,
    localAddress: string,
    private readonly symbols: "*" | string[] = "*",
    private readonly wants: (n: number) => boolean = () => true,
  ) {
    this.sdk = new GatewayClient({ url, WebSocket: boundWebSocket(localAddress) });
    this.sdk.on("open", ({ welcome }) => {
      this.acceptedAt.push(Date.parse(welcome.timestamp));
    });
    this.sdk.on("trade_executed", (frame) => {
      const trade = {
        n: frame.quantity,
        seq: frame.seq,
        epoch: frame.epoch,
        at: Date.now(),
        publishedAt: Date.parse(frame.timestamp),
      };
      this.trades.push(trade);
      this.onTrade?.(trade, this.catchingUp);
    });
    this.sdk.on("closed", () => {
      this.catchingUp = true;
    });
    // Emitted after the replayed frames (and those held during it) were delivered.
    this.sdk.on("recovered", () => {
      this.catchingUp = false;
    });
    this.sdk.on("shutdown_notice", (frame) => {
      this.notices.push({ at: Date.now(), reconnectInMs: frame.reconnect_in_ms });
    });
    this.sdk.on("gap", ({ reason }) => {
      this.resumeFailures.push(`gap: ${reason}`);
      this.catchingUp = false;
    });
    this.sdk.on("subscribed", (frame) => {
      if (frame.channel !== "trades") return;
      if (frame.recovered === false) this.resumeFailures.push(`recovered:false (${frame.reason})`);
      this.subscribedOnce();
    });
    this.sdk.on("server_error", (frame) => this.errors.push(JSON.stringify(frame)));
    this.sdk.on("error", (error) => this.errors.push(`${error.kind}: ${error.message}`));
    this.sdk.subscribe("trades", this.symbols);
  }

  connect(): void {
    this.sdk.connect();
  }

  /** The last trade's number, or 0. */
  get lastTrade(): number {
    return this.trades.at(-1)?.n ?? 0;
  }

  /** Whether it has every wanted trade up to `published`'s last wanted one (checked from the end). */
  hasLastOf(published: number): boolean {
    let last = published;
    while (last > 0 && !this.wants(last)) last--;
    return this.lastTrade >= last;
  }

  /**
   * What is wrong with the delivered trades, against those of trades 1..`published` it wants: each
   * exactly once, in order, `seq` strictly increasing, one epoch. Empty when exact.
   */
  problems(published: number): string[] {
    const { missing, duplicated, outOfOrder, neverPublished, epochs } = this.tally(published);
    const problems: string[] = [];
    if (missing > 0) problems.push(`${missing} missing`);
    if (duplicated > 0) problems.push(`${duplicated} duplicated`);
    if (outOfOrder > 0) problems.push(`${outOfOrder} out of order`);
    if (neverPublished > 0) problems.push(`${neverPublished} never published`);
    if (epochs > 1) problems.push(`${epochs} epochs`);
    return problems;
  }

  /** The counts behind problems(): wanted trades of 1..`published` missing, twice, out of order, unwanted. */
  tally(published: number): {
    missing: number;
    duplicated: number;
    outOfOrder: number;
    neverPublished: number;
    epochs: number;
  } {
    const seen = new Set<number>();
    let duplicates = 0;
    let outOfOrder = 0;
    this.trades.forEach((trade, index) => {
      if (seen.has(trade.n)) duplicates++;
      seen.add(trade.n);
      const previous = this.trades[index - 1];
      if (previous !== undefined && (trade.n <= previous.n || trade.seq <= previous.seq)) outOfOrder++;
    });
    let missing = 0;
    for (let n = 1; n <= published; n++) if (this.wants(n) && !seen.has(n)) missing++;
    return {
      missing,
      duplicated: duplicates,
      outOfOrder,
      neverPublished: this.trades.filter(
        (trade) => trade.n < 1 || trade.n > published || !this.wants(trade.n),
      ).length,
      epochs: new Set(this.trades.map((trade) => trade.epoch)).size,
    };
  }

  close(): Promise<void> {
    return this.sdk.close();
  }
}
