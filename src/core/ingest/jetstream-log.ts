/**
 * The durable history of one lossless channel: a JetStream stream on the channel's subject.
 *
 * Upstream services keep publishing plain NATS messages; the stream stores them (file storage, so
 * it survives a nats-server restart; Nats-Msg-Id duplicates within the duplicate window are stored
 * once). The gateway reads it two ways:
 * - live: one ordered consumer per channel per gateway, which the client library recreates from
 *   the last sequence it delivered after any reconnect, so nothing published meanwhile is missed;
 * - replay: short-lived ordered consumers from a client's position, paged, deleted after use and
 *   capped in number (ReplaySlots).
 * Written for nats-server 2.9's JetStream API (one filter subject per consumer, no batch get).
 */
import {
  DiscardPolicy,
  JetStreamApiCodes,
  JetStreamApiError,
  type JetStreamClient,
  type JetStreamManager,
  type JsMsg,
  jetstream,
  jetstreamManager,
  StorageType,
  type StreamInfo,
} from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import type { Logger } from "pino";
import type { GatewayConfig } from "../../config.js";
import { streamEpoch } from "../epochs.js";
import type { LoadedChannel } from "../plugin.js";
import { JetStreamLiveFeed } from "./jetstream-live-feed.js";
import type { ReplaySlots } from "./replay-slots.js";

/** Messages fetched per replay page. */
export const REPLAY_PAGE = 256;
/** How long one replay fetch waits for messages (nats-server 2.9 wants at least 1 s). */
const FETCH_EXPIRES_MS = 1000;
const NANOS_PER_MS = 1_000_000n;
/** How long one answer about the stream's first and last sequence serves further resumes. */
const STATE_REUSE_MS = 250;

export interface StoredMessage {
  seq: number;
  subject: string;
  data: Uint8Array;
  timeMs: number;
  /** Messages still to come after this one when it was delivered. */
  pending: number;
}

export interface StreamState {
  firstSeq: number;
  lastSeq: number;
}

/** How long one question to the JetStream API ($JS.API.INFO) waits for its answer. */
const PROBE_TIMEOUT_MS = 2000;
/** The server's API error codes that say, for sure, that JetStream is not enabled. */
const NOT_ENABLED_CODES: ReadonlySet<number> = new Set([
  JetStreamApiCodes.JetStreamNotEnabledForAccount, // 10039: JetStream on, not for this account
  10076, // JSNotEnabledErr: "JetStream not enabled"
]);

/**
 * What asking the JetStream API told: it is there; it is definitely absent; or no telling (a
 * timeout on a loaded server, a cluster electing its meta leader, the link lost meanwhile), to be
 * asked again rather than taken for "absent".
 */
export type JetStreamProbe =
  | { kind: "available"; jsm: JetStreamManager }
  | { kind: "absent"; reason: string }
  | { kind: "unknown"; reason: string };

/**
 * Is an error of the JetStream API a definite "JetStream is not enabled"? nats.js 3.4 turns a 503
 * "no responders" to $JS.API.INFO (no server on the path serves the JetStream API: nats-server
 * without -js) into JetStreamNotEnabled; a server with JetStream but not for the account answers
 * with API error 10039. Anything else (TimeoutError, 10008 "JetStream system temporarily
 * unavailable", a closed or reconnecting connection) says nothing about whether JetStream exists.
 */
export function isJetStreamAbsent(error: unknown): boolean {
  // JetStreamNotEnabled is not exported by the package's public entry: known by its name.
  if (error instanceof Error && error.name === "JetStreamNotEnabled") return true;
  return error instanceof JetStreamApiError && NOT_ENABLED_CODES.has(error.code);
}

/**
 * Ask the server for JetStream (one $JS.API.INFO request) and classify the answer. A request that
 * times out on a server whose own INFO says it runs no JetStream is a definite "absent" too: in a
 * cluster of servers without -js, nats-server 2.9 lets $JS.API.INFO time out instead of answering
 * "no responders" (seen with three nodes), and such a gateway would otherwise wait for ever.
 */
export async function probeJetStream(connection: NatsConnection): Promise<JetStreamProbe> {
  try {
    return { kind: "available", jsm: await jetstreamManager(connection, { timeout: PROBE_TIMEOUT_MS }) };
  } catch (error) {
    const reason = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
    if (isJetStreamAbsent(error)) return { kind: "absent", reason };
    const timedOut = error instanceof Error && error.name === "TimeoutError";
    if (timedOut && connection.info !== undefined && connection.info.jetstream !== true)
      return { kind: "absent", reason: `${reason}; the server's INFO says it runs no JetStream` };
    return { kind: "unknown", reason };
  }
}

/** JetStream on this connection, or undefined when the server has none or did not answer. */
export async function jetStreamOf(connection: NatsConnection): Promise<JetStreamManager | undefined> {
  const probe = await probeJetStream(connection);
  return probe.kind === "available" ? probe.jsm : undefined;
}

export class JetStreamLog {
  private live: JetStreamLiveFeed | undefined;
  private lastState: { at: number; pending: Promise<StreamState> } | undefined;
  private readonly js: JetStreamClient;
  /** The short epoch on every frame of the stream's channel (epochs.ts): a hash of `identity`. */
  readonly epoch: string;

  private constructor(
    connection: NatsConnection,
    private readonly jsm: JetStreamManager,
    readonly stream: string,
    /** The stream's identity, `NAME@created`: what the epoch is derived from, announced in acks. */
    readonly identity: string,
    private readonly subject: string,
    private readonly slots: ReplaySlots,
    private readonly logger: Logger,
  ) {
    this.js = jetstream(connection, { timeout: 5000 });
    this.epoch = streamEpoch(identity);
  }

  /** Use the channel's stream (by name, or any stream already capturing its subject), or create it. */
  static async open(
    connection: NatsConnection,
    jsm: JetStreamManager,
    channel: LoadedChannel,
    config: GatewayConfig,
    slots: ReplaySlots,
    logger: Logger,
  ): Promise<{ log: JetStreamLog; state: StreamState }> {
    const info = await ensureStream(jsm, channel, config, logger);
    const log = new JetStreamLog(
      connection,
      jsm,
      info.config.name,
      `${info.config.name}@${info.created}`,
      channel.subject,
      slots,
      logger,
    );
    return { log, state: { firstSeq: info.state.first_seq, lastSeq: info.state.last_seq } };
  }

  /**
   * Deliver every message from `fromSeq` on, in order and once, to `onMessage`, across reconnects
   * and node failures (JetStreamLiveFeed). `onEnd` runs if the server deletes the consumer: its
   * stream was deleted.
   */
  async consumeLive(
    fromSeq: number,
    onMessage: (message: StoredMessage) => void,
    onEnd: () => void,
  ): Promise<void> {
    const feed = new JetStreamLiveFeed(
      this.js,
      this.jsm,
      this.stream,
      this.subject,
      fromSeq,
      (message) => onMessage(stored(message)),
      () => {
        if (this.live === feed) this.live = undefined;
        onEnd();
      },
      this.logger,
    );
    this.live = feed;
    await feed.start();
  }

  /**
   * The stream's first and last sequence. Resumes that arrive together (a reconnect storm) share
   * one request: the answer is reused for STATE_REUSE_MS, unless `fresh` asks for a new one.
   */
  state(fresh = false): Promise<StreamState> {
    const now = Date.now();
    if (fresh || this.lastState === undefined || now - this.lastState.at > STATE_REUSE_MS) {
      const pending = this.jsm.streams
        .info(this.stream)
        .then((info) => ({ firstSeq: info.state.first_seq, lastSeq: info.state.last_seq }));
      this.lastState = { at: now, pending };
      // A failed request is not reused.
      pending.catch(() => {
        if (this.lastState?.pending === pending) this.lastState = undefined;
      });
    }
    return this.lastState.pending;
  }

  /**
   * One page of the stream from `fromSeq` (at most REPLAY_PAGE messages, none past `throughSeq`),
   * read with a short-lived consumer that holds one of the replay slots while it lives. Slots are
   * few (NATS_REPLAY_CONSUMERS_MAX), so a reconnect storm queues here: `stillNeeded` is asked once
   * the slot is ours, and a page another replay has read into the cache meanwhile is not read again.
   */
  async readPage(
    fromSeq: number,
    throughSeq: number,
    stillNeeded: () => boolean,
  ): Promise<StoredMessage[] | undefined> {
    const release = await this.slots.acquire();
    try {
      if (!stillNeeded()) return undefined;
      const consumer = await this.js.consumers.get(this.stream, {
        filter_subjects: this.subject,
        opt_start_seq: fromSeq,
      });
      try {
        const page: StoredMessage[] = [];
        const batch = await consumer.fetch({
          max_messages: Math.min(REPLAY_PAGE, throughSeq - fromSeq + 1),
          expires: FETCH_EXPIRES_MS,
        });
        for await (const message of batch) {
          if (message.seq > throughSeq) break;
          page.push(stored(message));
        }
        return page;
      } finally {
        await consumer.delete().catch(() => undefined);
      }
    } finally {
      release();
    }
  }

  async close(): Promise<void> {
    const live = this.live;
    this.live = undefined;
    live?.stop();
  }
}

function stored(message: JsMsg): StoredMessage {
  return {
    seq: message.seq,
    subject: message.subject,
    data: message.data,
    timeMs: Number(message.timestampNanos / NANOS_PER_MS),
    pending: message.info.pending,
  };
}

async function ensureStream(
  jsm: JetStreamManager,
  channel: LoadedChannel,
  config: GatewayConfig,
  logger: Logger,
): Promise<StreamInfo> {
  const named = config.streamNameOverrides[channel.plugin.name];
  const name = named ?? `GATEWAY_${channel.plugin.name.toUpperCase()}`;
  const existing = await jsm.streams.info(name).catch(() => undefined);
  if (existing) return existing;
  if (named === undefined) {
    // An operator's stream that already captures the subject serves as well as ours.
    const found = await jsm.streams.find(channel.subject).catch(() => undefined);
    if (found) return jsm.streams.info(found);
  }
  try {
    const created = await jsm.streams.add({
      name,
      subjects: [channel.subject],
      storage: StorageType.File,
      max_age: config.NATS_STREAM_MAX_AGE_SECONDS * 1e9,
      max_bytes: config.NATS_STREAM_MAX_BYTES,
      num_replicas: config.NATS_STREAM_REPLICAS,
      duplicate_window: config.NATS_STREAM_DUPLICATE_WINDOW_SECONDS * 1e9,
      discard: DiscardPolicy.Old,
    });
    logger.info({ stream: name, subject: channel.subject }, "created JetStream stream");
    return created;
  } catch (error) {
    // Another gateway instance may have created it at the same moment.
    const raced = await jsm.streams.info(name).catch(() => undefined);
    if (raced) return raced;
    throw error;
  }
}
