/**
 * A load worker of the order-books benchmark (bench/books.ts): holds a share of the clients, all
 * from one source address, each subscribed to the same books (order_books, optionally with
 * interval_ms), and checks and measures what they get. Driven over IPC:
 *
 *   connect -> connected    open the clients (raw WebSockets, bench/lib/raw-websocket.ts; bounded
 *                           concurrency), subscribe each and wait for its ack (interval_ms checked)
 *   window  -> window-open  zero the counters: from here frames and bytes count, latencies record
 *   report  -> report       what the clients got in the window, and every check since subscribing
 *   close                   close everything and exit
 *
 * Per frame the work is kept small (the load core has 120,000 of them a second at 1,000 clients):
 * the type by prefix, then symbol, sequence, prev_sequence and timestamp found by their markers,
 * no JSON.parse. That is enough to check every client's chain for every symbol: a snapshot sets
 * the client's sequence, and an update must have the last one as its prev_sequence. One client per
 * worker also keeps the books (the plugin's own Book) and verifies every frame's checksum.
 */
import { Book, bookChecksum, CHECKSUM_LEVELS, type Level } from "../../plugins/order_books/book.js";
import { LatencyHistogram } from "../lib/histogram.js";
import { preciseNow } from "../lib/now.js";
import { openRawWebSocket, type RawWebSocket } from "../lib/raw-websocket.js";

export type BooksWorkerCommand =
  | {
      type: "connect";
      url: string;
      count: number;
      localAddress: string;
      symbols: string[];
      /** interval_ms to subscribe with; none: every change at once. */
      intervalMs?: number;
    }
  | { type: "window" }
  | { type: "report" }
  | { type: "close" };

export interface BooksWorkerReport {
  clients: number;
  /** order_books frames (snapshot, update, state_status) and their payload bytes, in the window. */
  frames: number;
  bytes: number;
  updates: number;
  /** Payload bytes of the update frames alone. */
  updateBytes: number;
  snapshots: number;
  stale: number;
  minFramesPerClient: number;
  maxFramesPerClient: number;
  minBytesPerClient: number;
  maxBytesPerClient: number;
  /** Frames of any other channel or kind in the window (welcome, status of other channels...). */
  otherFrames: number;
  otherBytes: number;
  /** Updates: from the timestamp of the newest upstream change they carry to receipt. */
  histogram: ReturnType<LatencyHistogram["toJSON"]>;
  /** Since subscribing: updates checked, and those whose prev_sequence was not the client's last sequence. */
  chainChecked: number;
  chainViolations: number;
  /** The first violation this worker saw: the symbol, the sequence the client held, and the update's. */
  firstViolation?: { symbol: string; held: number | null; prevSequence: number; sequence: number };
  /** Frames naming a symbol the client did not subscribe to. */
  foreignSymbols: number;
  /** state_status frames since subscribing (a gap upstream or an evicted key: none expected). */
  staleTotal: number;
  /** The order_book_snapshot frames each client got when it subscribed (before the window). */
  subscribeSnapshots: { count: number; bytes: number; minBytes: number; maxBytes: number };
  /** Clients that had not had a snapshot of every symbol when the window opened. */
  clientsWithoutEverySnapshot: number;
  /** One client per worker keeps the books and verifies the checksum of every frame. */
  checksumsChecked: number;
  checksumMismatches: number;
  /** The verifying client's updates: how many, and the levels (bids and asks) they carried. */
  sampledUpdates: number;
  sampledUpdateLevels: number;
  closedByServer: number;
  cpuUserMs: number;
  cpuSystemMs: number;
}

const CONNECT_CONCURRENCY = 50;
const ACK_TIMEOUT_MS = 15_000;
const UPDATE_PREFIX = Buffer.from('{"type":"order_book_update"');
const SNAPSHOT_PREFIX = Buffer.from('{"type":"order_book_snapshot"');
const STATUS_PREFIX = Buffer.from('{"type":"state_status"');
const SUBSCRIBED_PREFIX = Buffer.from('{"type":"subscribed"');
const ERROR_PREFIX = Buffer.from('{"type":"error"');
const SYMBOL_MARKER = Buffer.from('"symbol":"');
/** `"sequence":` cannot match inside `"prev_sequence":` (the quote before it is an underscore there). */
const SEQUENCE_MARKER = Buffer.from('"sequence":');
const PREV_SEQUENCE_MARKER = Buffer.from('"prev_sequence":');
const TIMESTAMP_MARKER = Buffer.from('"timestamp":"');
const QUOTE = 0x22;
/** An ISO timestamp as the gateway writes it: 2024-12-19T12:00:00.123Z. */
const ISO_LENGTH = 24;
const NUMBER_DIGITS = 24;

const sockets: RawWebSocket[] = [];
let symbolIndex = new Map<string, number>();
let symbolCount = 0;
/** Per client x symbol: the last sequence received (NaN: none yet, or stale). */
let lastSequence = new Float64Array(0);
let snapshotSeen = new Uint8Array(0);
let clientFrames = new Uint32Array(0);
let clientBytes = new Float64Array(0);
let counting = false;
let histogram = new LatencyHistogram();
let cpuAtWindow = process.cpuUsage();
const windowCounts = {
  frames: 0,
  bytes: 0,
  updates: 0,
  updateBytes: 0,
  snapshots: 0,
  stale: 0,
  otherFrames: 0,
  otherBytes: 0,
};
const checks = { chainChecked: 0, chainViolations: 0, foreignSymbols: 0, staleTotal: 0 };
const subscribeSnapshots = { count: 0, bytes: 0, minBytes: Number.POSITIVE_INFINITY, maxBytes: 0 };
const checksums = { checked: 0, mismatches: 0, updates: 0, updateLevels: 0 };
let closedByServer = 0;
let firstViolation: BooksWorkerReport["firstViolation"];
/** The checksum-verifying client's books, by symbol. */
const verifiedBooks = new Map<string, Book>();

const startsWith = (bytes: Buffer, start: number, end: number, prefix: Buffer) =>
  end - start >= prefix.length && bytes.compare(prefix, 0, prefix.length, start, start + prefix.length) === 0;

/** Where the value after `marker` starts within bytes[start, end), or -1. */
function valueAt(bytes: Buffer, marker: Buffer, start: number, end: number): number {
  const at = bytes.indexOf(marker, start);
  return at < 0 || at + marker.length >= end ? -1 : at + marker.length;
}

function numberAfter(bytes: Buffer, marker: Buffer, start: number, end: number): number {
  const at = valueAt(bytes, marker, start, end);
  return at < 0
    ? Number.NaN
    : Number.parseFloat(bytes.toString("latin1", at, Math.min(end, at + NUMBER_DIGITS)));
}

function symbolOf(bytes: Buffer, start: number, end: number): number | undefined {
  const at = valueAt(bytes, SYMBOL_MARKER, start, end);
  if (at < 0) return undefined;
  const close = bytes.indexOf(QUOTE, at);
  return close < 0 || close >= end ? undefined : symbolIndex.get(bytes.toString("latin1", at, close));
}

function stampOf(bytes: Buffer, start: number, end: number): number {
  const at = valueAt(bytes, TIMESTAMP_MARKER, start, end);
  return at < 0 ? Number.NaN : Date.parse(bytes.toString("latin1", at, Math.min(end, at + ISO_LENGTH)));
}

/** The verifying client: apply the frame to its books and compare the checksum it must have. */
function verifyChecksum(bytes: Buffer, start: number, end: number): void {
  const frame = JSON.parse(bytes.toString("utf8", start, end)) as {
    type: string;
    symbol: string;
    bids: Level[];
    asks: Level[];
    checksum: number;
  };
  let book = verifiedBooks.get(frame.symbol);
  if (frame.type === "order_book_snapshot" || book === undefined) {
    book = new Book(frame.bids, frame.asks);
    verifiedBooks.set(frame.symbol, book);
  } else {
    book.applyDelta(frame.bids, frame.asks);
    checksums.updates++;
    checksums.updateLevels += frame.bids.length + frame.asks.length;
  }
  checksums.checked++;
  if (bookChecksum(book.view(CHECKSUM_LEVELS)) !== frame.checksum) checksums.mismatches++;
}

function onFrame(client: number, bytes: Buffer, start: number, end: number): void {
  const size = end - start;
  const update = startsWith(bytes, start, end, UPDATE_PREFIX);
  const snapshot = !update && startsWith(bytes, start, end, SNAPSHOT_PREFIX);
  const status = !update && !snapshot && startsWith(bytes, start, end, STATUS_PREFIX);
  if (!update && !snapshot && !status) {
    if (counting) {
      windowCounts.otherFrames++;
      windowCounts.otherBytes += size;
    }
    return;
  }
  if (counting) {
    windowCounts.frames++;
    windowCounts.bytes += size;
    clientFrames[client] = (clientFrames[client] ?? 0) + 1;
    clientBytes[client] = (clientBytes[client] ?? 0) + size;
  }
  const symbol = symbolOf(bytes, start, end);
  if (symbol === undefined) {
    checks.foreignSymbols++;
    return;
  }
  const slot = client * symbolCount + symbol;
  if (status) {
    // The key waits for an upstream snapshot: the next frame for it must be a snapshot.
    checks.staleTotal++;
    if (counting) windowCounts.stale++;
    lastSequence[slot] = Number.NaN;
    return;
  }
  const sequence = numberAfter(bytes, SEQUENCE_MARKER, start, end);
  if (snapshot) {
    lastSequence[slot] = sequence;
    snapshotSeen[slot] = 1;
    if (counting) windowCounts.snapshots++;
    else {
      subscribeSnapshots.count++;
      subscribeSnapshots.bytes += size;
      subscribeSnapshots.minBytes = Math.min(subscribeSnapshots.minBytes, size);
      subscribeSnapshots.maxBytes = Math.max(subscribeSnapshots.maxBytes, size);
    }
  } else {
    const previous = numberAfter(bytes, PREV_SEQUENCE_MARKER, start, end);
    checks.chainChecked++;
    // NaN (no snapshot yet, or stale) never equals: an update there breaks the chain too.
    if (previous !== lastSequence[slot] || !(sequence > previous)) {
      checks.chainViolations++;
      firstViolation ??= {
        symbol: [...symbolIndex.keys()][symbol] as string,
        // null: no snapshot yet, or stale (NaN would not survive IPC's JSON anyway).
        held: Number.isNaN(lastSequence[slot]) ? null : (lastSequence[slot] as number),
        prevSequence: previous,
        sequence,
      };
    }
    lastSequence[slot] = sequence;
    if (counting) {
      windowCounts.updates++;
      windowCounts.updateBytes += size;
      histogram.record(preciseNow() - stampOf(bytes, start, end));
    }
  }
  if (client === 0) verifyChecksum(bytes, start, end);
}

/** Open one client, subscribe it, and resolve on its ack (rejecting a wrong interval_ms). */
async function open(
  client: number,
  command: Extract<BooksWorkerCommand, { type: "connect" }>,
): Promise<RawWebSocket> {
  let acked = false;
  let settle: (error?: Error) => void = () => {};
  const ack = new Promise<void>((resolve, reject) => {
    settle = (error) => (error ? reject(error) : resolve());
  });
  const socket = await openRawWebSocket(command.url, command.localAddress, {
    onMessage: (_socket, bytes, start, end) => {
      if (!acked && startsWith(bytes, start, end, SUBSCRIBED_PREFIX)) {
        const frame = JSON.parse(bytes.toString("utf8", start, end)) as {
          channel: string;
          interval_ms?: number;
        };
        if (frame.channel !== "order_books") return;
        acked = true;
        if (frame.interval_ms !== command.intervalMs)
          settle(new Error(`ack interval_ms ${frame.interval_ms}, asked for ${command.intervalMs}`));
        else settle();
        return;
      }
      if (!acked && startsWith(bytes, start, end, ERROR_PREFIX))
        settle(new Error(`subscribe refused: ${bytes.toString("utf8", start, end)}`));
      onFrame(client, bytes, start, end);
    },
    onClose: (code) => {
      // After the ack only: a client given up on while subscribing is a connect failure instead.
      if (acked) closedByServer++;
      settle(new Error(`closed (${code}) before the ack`));
    },
  });
  socket.send(
    JSON.stringify({
      type: "subscribe",
      channel: "order_books",
      symbols: command.symbols,
      ...(command.intervalMs === undefined ? {} : { interval_ms: command.intervalMs }),
    }),
  );
  const timer = setTimeout(() => settle(new Error("no ack in time")), ACK_TIMEOUT_MS);
  try {
    await ack;
  } catch (error) {
    socket.destroy();
    throw error;
  } finally {
    clearTimeout(timer);
  }
  return socket;
}

async function connectAll(command: Extract<BooksWorkerCommand, { type: "connect" }>): Promise<string[]> {
  symbolIndex = new Map(command.symbols.map((symbol, index) => [symbol, index]));
  symbolCount = command.symbols.length;
  lastSequence = new Float64Array(command.count * symbolCount).fill(Number.NaN);
  snapshotSeen = new Uint8Array(command.count * symbolCount);
  clientFrames = new Uint32Array(command.count);
  clientBytes = new Float64Array(command.count);
  const failures: string[] = [];
  let next = 0;
  const opener = async () => {
    while (next < command.count) {
      const client = next++;
      try {
        sockets[client] = await open(client, command);
      } catch (error) {
        failures.push((error as Error).message);
      }
    }
  };
  await Promise.all(Array.from({ length: CONNECT_CONCURRENCY }, opener));
  return failures;
}

function openWindow(): void {
  clientFrames.fill(0);
  clientBytes.fill(0);
  for (const key of Object.keys(windowCounts) as (keyof typeof windowCounts)[]) windowCounts[key] = 0;
  histogram = new LatencyHistogram();
  cpuAtWindow = process.cpuUsage();
  counting = true;
}

function report(): BooksWorkerReport {
  counting = false;
  let withoutEverySnapshot = 0;
  for (let client = 0; client < clientFrames.length; client++) {
    if (snapshotSeen.subarray(client * symbolCount, (client + 1) * symbolCount).includes(0))
      withoutEverySnapshot++;
  }
  const cpu = process.cpuUsage(cpuAtWindow);
  const clients = clientFrames.length;
  return {
    clients,
    ...windowCounts,
    minFramesPerClient: clients ? Math.min(...clientFrames) : 0,
    maxFramesPerClient: clients ? Math.max(...clientFrames) : 0,
    minBytesPerClient: clients ? Math.min(...clientBytes) : 0,
    maxBytesPerClient: clients ? Math.max(...clientBytes) : 0,
    histogram: histogram.toJSON(),
    ...checks,
    firstViolation,
    subscribeSnapshots: {
      ...subscribeSnapshots,
      minBytes: subscribeSnapshots.count ? subscribeSnapshots.minBytes : 0,
    },
    clientsWithoutEverySnapshot: withoutEverySnapshot,
    checksumsChecked: checksums.checked,
    checksumMismatches: checksums.mismatches,
    sampledUpdates: checksums.updates,
    sampledUpdateLevels: checksums.updateLevels,
    closedByServer,
    cpuUserMs: cpu.user / 1000,
    cpuSystemMs: cpu.system / 1000,
  };
}

process.on("message", async (command: BooksWorkerCommand) => {
  switch (command.type) {
    case "connect": {
      const started = preciseNow();
      const failures = await connectAll(command);
      process.send?.({ type: "connected", ms: preciseNow() - started, failures });
      break;
    }
    case "window":
      openWindow();
      process.send?.({ type: "window-open" });
      break;
    case "report":
      process.send?.({ type: "report", report: report() });
      break;
    case "close":
      for (const socket of sockets) socket?.destroy();
      process.exit(0);
  }
});
