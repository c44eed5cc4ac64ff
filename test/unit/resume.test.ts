/**
 * Resumer.resume on its own: a fake ReplayChannel over a real ChannelHistory, sessions from
 * test/helpers/fake-session.ts whose queue the test reads (and whose queued bytes grow with what is
 * sent, as an unflushed socket's would), and, for the paths that need JetStream, a fake log with
 * `state` and `readPage`. Live frames go through the gates the way LosslessDelivery.accept sends
 * them. Time is fake: the waits for readiness, for the NATS link and for a client to drain are
 * advanced, never slept.
 */
import type { Logger } from "pino";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import type { ClientSession } from "../../src/core/client-session.js";
import { encodeFrame } from "../../src/core/frame-encoder.js";
import { ChannelHistory, type HistoryEntry } from "../../src/core/history/channel-history.js";
import { DeliveryCoverage } from "../../src/core/history/delivery-coverage.js";
import { type ReplayChannel, type ResumeAnswer, Resumer } from "../../src/core/history/resume.js";
import { ResumeGates } from "../../src/core/history/resume-gate.js";
import type { JetStreamLog, StoredMessage } from "../../src/core/ingest/jetstream-log.js";
import { fakeSession, framePayload } from "../helpers/fake-session.js";

const CHANNEL = "fills";
const EPOCH = "epoch-1";
const NOW = "2025-03-04T05:06:07.000Z";

/** The frame of a message about `key` at `seq`, as live delivery and a replay both build it. */
function entryOf(seq: number, key: string): HistoryEntry {
  return { seq, key, account: undefined, frame: encodeFrame({ type: "fill", key, seq, epoch: EPOCH }) };
}

/** Every other position about MSFT, the rest about AAPL. */
const keyAt = (seq: number) => (seq % 2 === 0 ? "MSFT" : "AAPL");

/** A lossless channel's delivery as a resume sees it, plus live delivery the way LosslessDelivery does it. */
class FakeChannel implements ReplayChannel {
  readonly name = CHANNEL;
  readonly counters = { framesOut: 0 };

  constructor(
    readonly history: ChannelHistory,
    private readonly gates: ResumeGates,
  ) {}

  entitled(session: ClientSession, entry: HistoryEntry): boolean {
    const subscription = session.subscriptions.get(this.name);
    if (subscription === undefined) return false;
    return entry.key === undefined || subscription === "*" || subscription.has(entry.key);
  }

  entryFor(message: unknown, seq: number, _timeMs: number): HistoryEntry {
    return entryOf(seq, (message as { key: string }).key);
  }

  /** A live message at the next position, to these connections (through their gates). */
  publish(sessions: ClientSession[], key = keyAt(this.history.head + 1)): void {
    const entry = entryOf(this.history.head + 1, key);
    const previousHead = this.history.head;
    this.history.append(entry);
    for (const session of sessions) {
      if (!this.entitled(session, entry)) continue;
      const gate = session.gates?.get(this.name);
      if (
        gate !== undefined &&
        !this.gates.admit(session, this.name, gate, entry.seq, entry.frame, previousHead)
      )
        continue;
      session.send(entry.frame, true);
      this.counters.framesOut++;
    }
  }
}

type Event = { ack: ResumeAnswer } | { frame: Buffer; lossless: boolean };

/** A connection subscribed to CHANNEL; what it is sent and its acks are recorded in order. */
function connect(subscription: "*" | string[] = "*") {
  const events: Event[] = [];
  const handle = fakeSession({
    subscriptions: { [CHANNEL]: subscription },
    writer: {
      enqueue(session, frame, lossless) {
        events.push({ frame, lossless });
        // Nothing is written out: what is sent stays queued until the test drains it.
        session.pendingBytes += frame.length;
        return true;
      },
    },
  });
  const { session, socket } = handle;
  return {
    session,
    socket,
    events,
    ack: (answer: ResumeAnswer) => {
      events.push({ ack: answer });
    },
    /** The acks, and what was sent: a channel frame as its seq, a `replayed` frame as "replayed". */
    timeline: () =>
      events.map((event) => {
        if ("ack" in event) return "ack";
        const payload = framePayload(event.frame) as { type: string; seq?: number };
        return payload.type === "replayed" ? "replayed" : (payload.seq as number);
      }),
    acks: () => events.flatMap((event) => ("ack" in event ? [event.ack] : [])),
    replayed: () =>
      events.flatMap((event) => {
        if ("ack" in event) return [];
        const payload = framePayload(event.frame) as { type: string };
        return payload.type === "replayed" ? [payload] : [];
      }),
    frames: () => events.flatMap((event) => ("frame" in event ? [event] : [])),
  };
}
type Client = ReturnType<typeof connect>;

interface FakeLog {
  state: ReturnType<typeof vi.fn<(fresh?: boolean) => Promise<{ firstSeq: number; lastSeq: number }>>>;
  readPage: ReturnType<
    typeof vi.fn<
      (from: number, through: number, stillNeeded: () => boolean) => Promise<StoredMessage[] | undefined>
    >
  >;
}

/** A stream holding these positions (the ones not listed hold another subject's messages). */
function fakeLog(
  range: { firstSeq: number; lastSeq: number },
  stored: { seq: number; key: string; valid?: boolean }[] = [],
): FakeLog {
  return {
    state: vi.fn(async () => range),
    readPage: vi.fn(async (from: number, through: number, stillNeeded: () => boolean) => {
      if (!stillNeeded()) return undefined;
      return stored
        .filter(({ seq }) => seq >= from && seq <= through)
        .map(({ seq, key, valid }) => ({
          seq,
          subject: `fills.${key}`,
          data: Buffer.from(JSON.stringify({ key, valid: valid ?? true })),
          timeMs: 0,
          pending: 0,
        }));
    }),
  };
}

interface Options {
  /** Positions 1..entries in the ring (keys by keyAt). */
  entries?: number;
  capacity?: number;
  ready?: boolean;
  maxReplay?: number;
  waitMs?: number;
  drainedBytes?: number;
  log?: FakeLog;
}

function gateway(options: Options = {}) {
  const history = new ChannelHistory(options.capacity ?? 1000);
  history.begin(EPOCH, 0);
  for (let seq = 1; seq <= (options.entries ?? 5); seq++) history.append(entryOf(seq, keyAt(seq)));
  if (options.ready ?? true) history.markReady();
  const onOverflow = vi.fn();
  const gates = new ResumeGates({ maxBufferedBytes: 100_000_000, onOverflow });
  const channel = new FakeChannel(history, gates);
  const interrupt = vi.fn<(session: ClientSession) => void>();
  const warn = vi.fn();
  const resumer = new Resumer({
    gates,
    maxReplay: options.maxReplay ?? 1000,
    waitMs: options.waitMs ?? 1000,
    drainedBytes: options.drainedBytes ?? 1000,
    cacheSize: 10_000,
    logger: { warn } as unknown as Logger,
    parse: (_channel, data) => {
      const message = JSON.parse(Buffer.from(data).toString("utf8")) as { key: string; valid: boolean };
      return message.valid ? message : undefined;
    },
    logOf: (name) => (name === CHANNEL ? (options.log as unknown as JetStreamLog | undefined) : undefined),
    interrupt,
  });
  const resume = (client: Client, seq: number, epoch = EPOCH) =>
    resumer.resume(client.session, channel, { seq, epoch }, client.ack);
  return { history, channel, resumer, resume, interrupt, warn, onOverflow };
}

const at = (seq: number) => ({ seq, epoch: EPOCH });
const range = (from: number, through: number) =>
  Array.from({ length: through - from + 1 }, (_, index) => from + index);

/** Has the promise settled once pending microtasks have run? */
async function settled(promise: Promise<unknown>): Promise<boolean> {
  let done = false;
  void promise.then(() => {
    done = true;
  });
  await vi.advanceTimersByTimeAsync(0);
  return done;
}

beforeEach(() => {
  vi.useFakeTimers();
  vi.setSystemTime(new Date(NOW));
});

afterEach(() => {
  vi.useRealTimers();
});

describe("refusals", () => {
  it("refuses another epoch with the channel's position, and sends nothing else", async () => {
    const { resume, resumer, channel } = gateway();
    const client = connect();
    await resume(client, 3, "epoch-0");

    expect(client.acks()).toStrictEqual([{ position: at(5), recovered: false, reason: "epoch_mismatch" }]);
    expect(client.timeline()).toEqual(["ack"]);
    expect(client.session.gates?.has(CHANNEL)).toBe(false);
    expect(resumer.counters).toEqual({ outcomes: { epoch_mismatch: 1 }, framesReplayed: 0 });
    expect(channel.counters.framesOut).toBe(0);
  });

  it("refuses a position the ring no longer covers when the channel has no stream (too_old)", async () => {
    // A ring of 4 holding 3..6: everything after 2 is covered, after 1 is not.
    const { resume, resumer } = gateway({ entries: 6, capacity: 4 });
    const old = connect();
    await resume(old, 1);
    expect(old.acks()).toStrictEqual([{ position: at(6), recovered: false, reason: "too_old" }]);
    expect(old.timeline()).toEqual(["ack"]);

    const justCovered = connect();
    await resume(justCovered, 2);
    expect(justCovered.acks()).toStrictEqual([{ position: at(6), recovered: true }]);
    expect(justCovered.timeline()).toEqual(["ack", 3, 4, 5, 6, "replayed"]);
    expect(resumer.counters).toEqual({ outcomes: { too_old: 1, recovered: 1 }, framesReplayed: 4 });
  });

  it("refuses more than maxReplay positions (replay_limit), and takes exactly maxReplay", async () => {
    const { resume, resumer } = gateway({ entries: 5, maxReplay: 3 });
    const tooFar = connect();
    await resume(tooFar, 1);
    expect(tooFar.acks()).toStrictEqual([{ position: at(5), recovered: false, reason: "replay_limit" }]);
    expect(tooFar.timeline()).toEqual(["ack"]);

    const atLimit = connect();
    await resume(atLimit, 2);
    expect(atLimit.acks()).toStrictEqual([{ position: at(5), recovered: true }]);
    expect(atLimit.timeline()).toEqual(["ack", 3, 4, 5, "replayed"]);
    expect(resumer.counters.outcomes).toEqual({ replay_limit: 1, recovered: 1 });
  });

  it("refuses a position beyond the head when the channel has no stream (ahead_of_head)", async () => {
    const { resume, resumer } = gateway({ entries: 5 });
    const client = connect();
    await resume(client, 6);
    expect(client.acks()).toStrictEqual([{ position: at(5), recovered: false, reason: "ahead_of_head" }]);
    expect(client.timeline()).toEqual(["ack"]);
    expect(client.session.gates?.has(CHANNEL)).toBe(false);
    expect(resumer.counters.outcomes).toEqual({ ahead_of_head: 1 });
  });

  it("refuses with upstream_unavailable and no position when the history is not ready within waitMs", async () => {
    const { resume, resumer } = gateway({ ready: false, waitMs: 1000 });
    const client = connect();
    const done = resume(client, 3);

    await vi.advanceTimersByTimeAsync(999);
    expect(client.acks()).toEqual([]);
    expect(resumer.running(client.session, CHANNEL)).toBeDefined();

    await vi.advanceTimersByTimeAsync(1);
    await done;
    expect(client.acks()).toStrictEqual([
      { position: undefined, recovered: false, reason: "upstream_unavailable" },
    ]);
    expect(client.timeline()).toEqual(["ack"]);
    expect(client.session.gates?.has(CHANNEL)).toBe(false);
    expect(resumer.counters.outcomes).toEqual({ upstream_unavailable: 1 });
  });

  it("waits for the history to become ready, then resumes", async () => {
    const { resume, history } = gateway({ ready: false, waitMs: 1000 });
    const client = connect();
    const done = resume(client, 3);
    await vi.advanceTimersByTimeAsync(500);
    expect(client.acks()).toEqual([]);

    history.markReady();
    await done;
    expect(client.acks()).toStrictEqual([{ position: at(5), recovered: true }]);
    expect(client.timeline()).toEqual(["ack", 4, 5, "replayed"]);
  });

  it("hands the frames held while deciding over after the refusal, then live delivery goes on", async () => {
    const { resume, channel } = gateway({ entries: 5 });
    const client = connect();
    const done = resume(client, 3, "epoch-0");
    // In the same synchronous step as the subscription: held, not sent.
    channel.publish([client.session]);
    channel.publish([client.session]);
    expect(client.timeline()).toEqual([]);
    await done;

    // The refusal names the position before the held frames: the client takes them from there.
    expect(client.acks()).toStrictEqual([{ position: at(5), recovered: false, reason: "epoch_mismatch" }]);
    expect(client.timeline()).toEqual(["ack", 6, 7]);
    channel.publish([client.session]);
    expect(client.timeline()).toEqual(["ack", 6, 7, 8]);
  });
});

describe("replay from the ring", () => {
  it("sends the ring's frames after since in seq order, then `replayed` with its count and position", async () => {
    const { resume, resumer, channel, history } = gateway({ entries: 5 });
    const client = connect();
    await resume(client, 2);

    expect(client.acks()).toStrictEqual([{ position: at(5), recovered: true }]);
    expect(client.timeline()).toEqual(["ack", 3, 4, 5, "replayed"]);
    const ring = history.entriesBetween(2, 5).map((entry) => entry.frame);
    const sent = client.frames();
    // The very bytes kept in the ring, queued losslessly.
    for (const [index, frame] of ring.entries()) expect(sent[index]?.frame).toBe(frame);
    expect(sent.map((event) => event.lossless)).toEqual([true, true, true, true]);
    expect(client.replayed()).toEqual([
      { type: "replayed", channel: CHANNEL, count: 3, position: at(5), timestamp: NOW },
    ]);
    expect(resumer.counters).toEqual({ outcomes: { recovered: 1 }, framesReplayed: 3 });
    expect(channel.counters.framesOut).toBe(3);
    expect(client.session.gates?.has(CHANNEL)).toBe(false);
    expect(resumer.running(client.session, CHANNEL)).toBeUndefined();
  });

  it("answers a client already at the head with an empty replay", async () => {
    const { resume, resumer } = gateway({ entries: 5 });
    const client = connect();
    await resume(client, 5);
    expect(client.acks()).toStrictEqual([{ position: at(5), recovered: true }]);
    expect(client.timeline()).toEqual(["ack", "replayed"]);
    expect(client.replayed()).toEqual([
      { type: "replayed", channel: CHANNEL, count: 0, position: at(5), timestamp: NOW },
    ]);
    expect(resumer.counters).toEqual({ outcomes: { recovered: 1 }, framesReplayed: 0 });
  });

  it("replays only what the subscription entitles the client to", async () => {
    const { resume, resumer, channel } = gateway({ entries: 6 });
    const client = connect(["AAPL"]);
    await resume(client, 0);
    expect(client.timeline()).toEqual(["ack", 1, 3, 5, "replayed"]);
    expect(client.replayed()).toEqual([
      { type: "replayed", channel: CHANNEL, count: 3, position: at(6), timestamp: NOW },
    ]);
    expect(resumer.counters.framesReplayed).toBe(3);
    expect(channel.counters.framesOut).toBe(3);
  });

  it("does not replay what this connection was already sent (its coverage)", async () => {
    const { resume, history } = gateway({ entries: 3 });
    const client = connect();
    // Subscribed to MSFT since position 3: MSFT frames after 3 went to this connection live.
    const coverage = new DeliveryCoverage(history);
    coverage.begin("MSFT");
    client.session.coverage = new Map([[CHANNEL, coverage]]);
    for (let seq = 4; seq <= 6; seq++) history.append(entryOf(seq, keyAt(seq)));

    await resume(client, 0);
    expect(client.timeline()).toEqual(["ack", 1, 2, 3, 5, "replayed"]);
    expect(client.replayed()).toEqual([
      { type: "replayed", channel: CHANNEL, count: 4, position: at(6), timestamp: NOW },
    ]);
  });
});

describe("the hand-over to live frames", () => {
  it("holds live frames that arrive before the decision and sends them after `replayed`", async () => {
    const { resume, channel, resumer } = gateway({ entries: 5 });
    const client = connect();
    const done = resume(client, 2);
    channel.publish([client.session]);
    channel.publish([client.session]);
    expect(client.timeline()).toEqual([]);
    await done;

    // The replay stops where the held frames begin: no gap, no duplicate.
    expect(client.acks()).toStrictEqual([{ position: at(5), recovered: true }]);
    expect(client.timeline()).toEqual(["ack", 3, 4, 5, "replayed", 6, 7]);
    expect(client.replayed()).toEqual([
      { type: "replayed", channel: CHANNEL, count: 3, position: at(5), timestamp: NOW },
    ]);
    expect(client.session.gates?.has(CHANNEL)).toBe(false);
    channel.publish([client.session]);
    expect(client.timeline()).toEqual(["ack", 3, 4, 5, "replayed", 6, 7, 8]);
    // Held frames are counted as live delivery, not as replayed.
    expect(resumer.counters.framesReplayed).toBe(3);
    expect(channel.counters.framesOut).toBe(6);
  });

  it("holds live frames that arrive while the replay waits for the client to drain", async () => {
    const { resume, channel } = gateway({ entries: 5, drainedBytes: 1000 });
    const client = connect();
    client.session.pendingBytes = 5000;
    const done = resume(client, 2);
    await vi.advanceTimersByTimeAsync(0);
    expect(client.timeline()).toEqual(["ack"]);

    channel.publish([client.session]);
    channel.publish([client.session]);
    await vi.advanceTimersByTimeAsync(50);
    expect(client.timeline()).toEqual(["ack"]);

    client.session.pendingBytes = 0;
    await vi.advanceTimersByTimeAsync(5);
    await done;
    expect(client.timeline()).toEqual(["ack", 3, 4, 5, "replayed", 6, 7]);
    channel.publish([client.session]);
    expect(client.timeline()).toEqual(["ack", 3, 4, 5, "replayed", 6, 7, 8]);
  });

  it("reports the resume as running until the hand-over, and resolves its gate then", async () => {
    const { resume, resumer, channel } = gateway({ entries: 5 });
    const client = connect();
    const other = connect();
    client.session.pendingBytes = 5000;
    const done = resume(client, 2);
    await vi.advanceTimersByTimeAsync(0);

    const gate = resumer.running(client.session, CHANNEL);
    expect(gate).toBeDefined();
    expect(gate).toBe(client.session.gates?.get(CHANNEL));
    expect(resumer.running(other.session, CHANNEL)).toBeUndefined();
    expect(await settled(gate?.released ?? Promise.reject())).toBe(false);
    // Other connections are not held.
    channel.publish([client.session, other.session]);
    expect(other.timeline()).toEqual([6]);

    client.session.pendingBytes = 0;
    await vi.advanceTimersByTimeAsync(5);
    await done;
    expect(await settled(gate?.released ?? Promise.reject())).toBe(true);
    expect(resumer.running(client.session, CHANNEL)).toBeUndefined();
  });
});

describe("paging", () => {
  it("queues a page of 256 only once the client has drained the last one", async () => {
    const { resume, resumer } = gateway({ entries: 300, drainedBytes: 1000 });
    const client = connect();
    const done = resume(client, 0);
    await vi.advanceTimersByTimeAsync(0);
    // The first page goes at once; it fills the queue past drainedBytes.
    expect(client.timeline()).toEqual(["ack", ...range(1, 256)]);
    expect(client.session.pendingBytes).toBeGreaterThan(1000);

    await vi.advanceTimersByTimeAsync(100);
    expect(client.timeline()).toHaveLength(257);
    expect(resumer.running(client.session, CHANNEL)).toBeDefined();

    // Socket and queue together still above drainedBytes: still waiting.
    client.session.pendingBytes = 1000;
    client.socket.bufferedAmount = 1;
    await vi.advanceTimersByTimeAsync(100);
    expect(client.timeline()).toHaveLength(257);

    // Exactly drainedBytes queued counts as drained.
    client.socket.bufferedAmount = 0;
    await vi.advanceTimersByTimeAsync(5);
    await done;
    expect(client.timeline()).toEqual(["ack", ...range(1, 300), "replayed"]);
    expect(client.replayed()).toEqual([
      // Stamped when it is sent, after the waits.
      {
        type: "replayed",
        channel: CHANNEL,
        count: 300,
        position: at(300),
        timestamp: new Date().toISOString(),
      },
    ]);
    expect(resumer.counters.framesReplayed).toBe(300);
  });
});

describe("a connection closing", () => {
  it("stops a replay that waits for the client when the connection closes: no `replayed`, no held frames", async () => {
    const { resume, resumer, channel, interrupt } = gateway({ entries: 5, drainedBytes: 1000 });
    const client = connect();
    client.session.pendingBytes = 5000;
    const done = resume(client, 2);
    await vi.advanceTimersByTimeAsync(0);
    channel.publish([client.session]);

    client.session.closing = true;
    await vi.advanceTimersByTimeAsync(5);
    await done;
    expect(client.timeline()).toEqual(["ack"]);
    expect(interrupt).not.toHaveBeenCalled();
    expect(resumer.counters).toEqual({ outcomes: { recovered: 1 }, framesReplayed: 0 });
  });

  it("stops between pages when the connection closes", async () => {
    const { resume, resumer } = gateway({ entries: 300, drainedBytes: 1000 });
    const client = connect();
    const done = resume(client, 0);
    await vi.advanceTimersByTimeAsync(0);
    expect(client.timeline()).toHaveLength(257);

    client.session.closing = true;
    await vi.advanceTimersByTimeAsync(5);
    await done;
    expect(client.timeline()).toEqual(["ack", ...range(1, 256)]);
    expect(resumer.counters.outcomes).toEqual({ recovered: 1 });
  });

  it("neither answers nor sends, held frames included, when the connection closes before the decision", async () => {
    const { resume, resumer, history, channel } = gateway({ ready: false, waitMs: 1000 });
    const client = connect();
    const done = resume(client, 3);
    history.markReady();
    // Live again, and held for the resume; then the connection closes before the decision.
    channel.publish([client.session]);
    client.session.closing = true;
    await done;
    expect(client.timeline()).toEqual([]);
    expect(client.session.gates?.has(CHANNEL)).toBe(false);
    expect(resumer.counters).toEqual({ outcomes: {}, framesReplayed: 0 });
  });
});

describe("counters", () => {
  it("count every outcome, and the frames replayed over all resumes", async () => {
    const { resume, resumer, channel } = gateway({ entries: 5, maxReplay: 3 });
    await resume(connect(), 2);
    await resume(connect(["AAPL"]), 2);
    await resume(connect(), 1);
    await resume(connect(), 2, "epoch-0");
    await resume(connect(), 9);
    expect(resumer.counters).toEqual({
      outcomes: { recovered: 2, replay_limit: 1, epoch_mismatch: 1, ahead_of_head: 1 },
      framesReplayed: 5,
    });
    expect(channel.counters.framesOut).toBe(5);
  });
});

describe("with a JetStream log (fake)", () => {
  it("recovers a position ahead of this instance that the stream has: an empty replay, then live after it", async () => {
    const log = fakeLog({ firstSeq: 1, lastSeq: 7 });
    const { resume, resumer, channel } = gateway({ entries: 5, log });
    const client = connect();
    await resume(client, 7);

    expect(log.state).toHaveBeenCalledWith(true);
    expect(client.acks()).toStrictEqual([{ position: at(7), recovered: true }]);
    expect(client.timeline()).toEqual(["ack", "replayed"]);
    expect(client.replayed()).toEqual([
      { type: "replayed", channel: CHANNEL, count: 0, position: at(7), timestamp: NOW },
    ]);
    // This instance has yet to see 6 and 7: the client has them, so they are skipped.
    expect(resumer.running(client.session, CHANNEL)).toBeUndefined();
    channel.publish([client.session]);
    channel.publish([client.session]);
    expect(client.timeline()).toEqual(["ack", "replayed"]);
    channel.publish([client.session]);
    expect(client.timeline()).toEqual(["ack", "replayed", 8]);
    expect(client.session.gates?.has(CHANNEL)).toBe(false);
    expect(resumer.counters).toEqual({ outcomes: { recovered: 1 }, framesReplayed: 0 });
  });

  it("sends the held frames after a position ahead of the replay bound", async () => {
    const log = fakeLog({ firstSeq: 1, lastSeq: 7 });
    const { resume, channel } = gateway({ entries: 5, log });
    const client = connect();
    const done = resume(client, 6);
    channel.publish([client.session]);
    channel.publish([client.session]);
    await done;
    expect(client.acks()).toStrictEqual([{ position: at(6), recovered: true }]);
    expect(client.timeline()).toEqual(["ack", "replayed", 7]);
    expect(client.session.gates?.has(CHANNEL)).toBe(false);
  });

  it("refuses a position beyond the stream's last (ahead_of_head)", async () => {
    const log = fakeLog({ firstSeq: 1, lastSeq: 6 });
    const { resume } = gateway({ entries: 5, log });
    const client = connect();
    await resume(client, 7);
    expect(client.acks()).toStrictEqual([{ position: at(5), recovered: false, reason: "ahead_of_head" }]);
    expect(client.timeline()).toEqual(["ack"]);
  });

  it("refuses with upstream_unavailable when the stream cannot be asked for waitMs", async () => {
    const log = fakeLog({ firstSeq: 1, lastSeq: 8 });
    log.state.mockRejectedValue(new Error("no NATS link"));
    const { resume, resumer } = gateway({ entries: 5, log, waitMs: 1000 });
    const client = connect();
    const done = resume(client, 7);
    await vi.advanceTimersByTimeAsync(999);
    expect(client.acks()).toEqual([]);

    await vi.advanceTimersByTimeAsync(1);
    await done;
    expect(client.acks()).toStrictEqual([
      { position: at(5), recovered: false, reason: "upstream_unavailable" },
    ]);
    expect(client.timeline()).toEqual(["ack"]);
    expect(resumer.counters.outcomes).toEqual({ upstream_unavailable: 1 });
  });

  it("asks the stream again until the NATS link is back within waitMs", async () => {
    const log = fakeLog({ firstSeq: 1, lastSeq: 8 });
    log.state.mockRejectedValueOnce(new Error("no NATS link"));
    const { resume } = gateway({ entries: 5, log, waitMs: 1000 });
    const client = connect();
    const done = resume(client, 7);
    await vi.advanceTimersByTimeAsync(250);
    await done;
    expect(log.state).toHaveBeenCalledTimes(2);
    expect(client.acks()).toStrictEqual([{ position: at(7), recovered: true }]);
  });

  it("refuses a position older than the stream keeps (too_old), and replays the oldest it keeps", async () => {
    // The ring (4) holds 7..10; the stream keeps 5..10.
    const stored = range(5, 10).map((seq) => ({ seq, key: keyAt(seq) }));
    const log = fakeLog({ firstSeq: 5, lastSeq: 10 }, stored);
    const { resume, resumer } = gateway({ entries: 10, capacity: 4, log });
    const old = connect();
    await resume(old, 3);
    expect(old.acks()).toStrictEqual([{ position: at(10), recovered: false, reason: "too_old" }]);
    expect(old.timeline()).toEqual(["ack"]);

    const oldestKept = connect();
    await resume(oldestKept, 4);
    expect(oldestKept.acks()).toStrictEqual([{ position: at(10), recovered: true }]);
    expect(oldestKept.timeline()).toEqual(["ack", ...range(5, 10), "replayed"]);
    expect(resumer.counters.outcomes).toEqual({ too_old: 1, recovered: 1 });
  });

  it("replays from the stream up to the ring's floor, then from the ring, skipping positions with nothing", async () => {
    // The ring (4) holds 7..10, floor 6. In the stream 4 is invalid and 5 is another subject's.
    const log = fakeLog({ firstSeq: 1, lastSeq: 10 }, [
      { seq: 3, key: "AAPL" },
      { seq: 4, key: "MSFT", valid: false },
      { seq: 6, key: "MSFT" },
    ]);
    const { resume, resumer, channel } = gateway({ entries: 10, capacity: 4, log });
    const client = connect();
    await resume(client, 2);

    expect(log.readPage).toHaveBeenCalledTimes(1);
    expect(log.readPage.mock.calls[0]?.slice(0, 2)).toEqual([3, 6]);
    expect(client.acks()).toStrictEqual([{ position: at(10), recovered: true }]);
    expect(client.timeline()).toEqual(["ack", 3, 6, 7, 8, 9, 10, "replayed"]);
    expect(client.replayed()).toEqual([
      { type: "replayed", channel: CHANNEL, count: 6, position: at(10), timestamp: NOW },
    ]);
    expect(resumer.counters).toEqual({ outcomes: { recovered: 1 }, framesReplayed: 6 });
    expect(channel.counters.framesOut).toBe(6);

    // A second client from the same position is served from the cache: the stream is not read again.
    const second = connect(["MSFT"]);
    await resume(second, 2);
    expect(log.readPage).toHaveBeenCalledTimes(1);
    expect(second.timeline()).toEqual(["ack", 6, 8, 10, "replayed"]);
  });

  it("interrupts a stream replay whose connection closes while it waits for the client to drain", async () => {
    // The ring (4) holds 307..310; the stream gives 1..306, more than one page of 256.
    const stored = range(1, 306).map((seq) => ({ seq, key: keyAt(seq) }));
    const log = fakeLog({ firstSeq: 1, lastSeq: 310 }, stored);
    const { resume, resumer, interrupt, warn } = gateway({
      entries: 310,
      capacity: 4,
      log,
      drainedBytes: 1000,
    });
    const client = connect();
    const done = resume(client, 0);
    await vi.advanceTimersByTimeAsync(0);
    expect(client.timeline()).toEqual(["ack", ...range(1, 256)]);

    client.session.closing = true;
    await vi.advanceTimersByTimeAsync(5);
    await done;
    expect(client.timeline()).toEqual(["ack", ...range(1, 256)]);
    expect(interrupt).toHaveBeenCalledTimes(1);
    expect(interrupt).toHaveBeenCalledWith(client.session);
    expect(warn).toHaveBeenCalledTimes(1);
    expect(resumer.counters).toEqual({ outcomes: { recovered: 1, interrupted: 1 }, framesReplayed: 0 });
    // The gate no longer holds (a second resume would not wait for it) and lets nothing through.
    expect(resumer.running(client.session, CHANNEL)).toBeUndefined();
  });

  it("pages a stream replay: the next 256 go once the client has drained", async () => {
    const stored = range(1, 306).map((seq) => ({ seq, key: keyAt(seq) }));
    const log = fakeLog({ firstSeq: 1, lastSeq: 310 }, stored);
    const { resume, resumer } = gateway({ entries: 310, capacity: 4, log, drainedBytes: 1000 });
    const client = connect();
    const done = resume(client, 0);
    await vi.advanceTimersByTimeAsync(100);
    expect(client.timeline()).toEqual(["ack", ...range(1, 256)]);

    client.session.pendingBytes = 0;
    await vi.advanceTimersByTimeAsync(5);
    await done;
    expect(client.timeline()).toEqual(["ack", ...range(1, 310), "replayed"]);
    expect(resumer.counters.framesReplayed).toBe(310);
  });
});
