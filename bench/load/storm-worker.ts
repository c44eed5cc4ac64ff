/**
 * One load process of the reconnect storm (bench/storm.ts): holds a share of the clients, all from
 * one source address, on the gateway's `trades` channel. The orchestrator drives it over IPC:
 *
 *   connect    -> connected      open `count` clients, each subscribes to trades (bounded concurrency)
 *   positions  -> positions      the last (seq, epoch) each client holds, summarised
 *   disconnect -> disconnected   close every client and wait until each socket is closed
 *   reconnect  -> reconnected    each client reconnects at startAt + a random offset in [0, spreadMs),
 *                                subscribes with `since` its last position, and is timed until the
 *                                `replayed` frame, checking it got exactly the missed trades in order
 *   close                        close everything and exit
 *
 * Frames are few here (about a hundred per client), so they are parsed: the point is to verify them.
 */
import WebSocket from "ws";
import { preciseNow } from "../lib/now.js";

export type StormCommand =
  | { type: "connect"; url: string; count: number; localAddress: string }
  | { type: "positions" }
  | { type: "disconnect" }
  | {
      type: "reconnect";
      /** preciseNow() time of the storm's start; every client reconnects in [startAt, startAt + spreadMs). */
      startAt: number;
      spreadMs: number;
      /** The trade_ids published while the clients were away, in publish order. */
      missedTradeIds: string[];
      /** A client not complete after this long from its own start counts as failed. */
      timeoutMs: number;
    }
  | { type: "close" };

export interface PositionsReply {
  clients: number;
  withPosition: number;
  minSeq: number;
  maxSeq: number;
  epochs: string[];
}

/** One client's resume, timed from its own reconnect start (preciseNow() clock, shared by processes). */
export interface ResumeRecord {
  startedAt: number;
  /** ms from start to the WebSocket open (TCP connect and upgrade). */
  openMs: number;
  /** ms from start to the `subscribed` ack (NaN if none). */
  ackMs: number;
  /** ms from start to the `replayed` frame with every missed trade in hand (NaN if not complete). */
  doneMs: number;
  ok: boolean;
  problem?: string;
}

export interface ReconnectReply {
  records: ResumeRecord[];
  /** This worker's own CPU (user+sys) during the reconnect phase, in ms. */
  cpuMs: number;
}

interface Position {
  seq: number;
  epoch: string;
}

interface Frame {
  type: string;
  channel?: string;
  seq?: number;
  epoch?: string;
  trade_id?: string;
  recovered?: boolean;
  reason?: string;
  count?: number;
  position?: Position;
}

const CONNECT_CONCURRENCY = 50;
const DISCONNECT_TIMEOUT_MS = 10_000;

let url = "";
let localAddress = "";
let sockets: (WebSocket | undefined)[] = [];
let positions: (Position | undefined)[] = [];

function open(index: number): WebSocket {
  const socket = new WebSocket(url, { localAddress, perMessageDeflate: false });
  socket.on("error", () => {});
  sockets[index] = socket;
  return socket;
}

/** Connect and subscribe to trades; resolves once acknowledged. Trade frames keep the position current. */
function subscribeFresh(index: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const socket = open(index);
    const timer = setTimeout(() => reject(new Error("no subscribed ack within 20 s")), 20_000);
    socket.on("message", (data) => {
      const frame = JSON.parse(String(data)) as Frame;
      if (frame.type === "subscribed" && frame.channel === "trades") {
        if (frame.position) positions[index] ??= frame.position;
        clearTimeout(timer);
        resolve();
      } else if (frame.type === "trade_executed" && frame.seq !== undefined && frame.epoch !== undefined) {
        positions[index] = { seq: frame.seq, epoch: frame.epoch };
      }
    });
    socket.once("open", () => socket.send(JSON.stringify({ type: "subscribe", channel: "trades" })));
    socket.once("close", () => {
      clearTimeout(timer);
      reject(new Error("closed before the ack"));
    });
  });
}

async function connectAll(count: number): Promise<number> {
  sockets = new Array(count);
  positions = new Array(count);
  let next = 0;
  let failed = 0;
  const opener = async () => {
    while (next < count) {
      const index = next++;
      await subscribeFresh(index).catch(() => {
        failed++;
      });
    }
  };
  await Promise.all(Array.from({ length: CONNECT_CONCURRENCY }, opener));
  return failed;
}

function positionsReply(): PositionsReply {
  const held = positions.filter((position): position is Position => position !== undefined);
  return {
    clients: sockets.length,
    withPosition: held.length,
    minSeq: Math.min(...held.map((position) => position.seq)),
    maxSeq: Math.max(...held.map((position) => position.seq)),
    epochs: [...new Set(held.map((position) => position.epoch))],
  };
}

async function disconnectAll(): Promise<void> {
  const closed = sockets.map(
    (socket) =>
      new Promise<void>((resolve) => {
        if (!socket || socket.readyState === WebSocket.CLOSED) return resolve();
        socket.once("close", () => resolve());
        socket.close();
      }),
  );
  const timeout = new Promise<void>((resolve) => setTimeout(resolve, DISCONNECT_TIMEOUT_MS).unref());
  await Promise.race([Promise.all(closed), timeout]);
  for (const socket of sockets) socket?.terminate();
  sockets = Array.from({ length: sockets.length }, () => undefined);
}

/** One client's resume: reconnect, subscribe with since, verify the replay, time it. */
function resumeOne(
  index: number,
  command: Extract<StormCommand, { type: "reconnect" }>,
): Promise<ResumeRecord> {
  const since = positions[index];
  return new Promise((resolve) => {
    const startedAt = preciseNow();
    let ackMs = Number.NaN;
    let openMs = Number.NaN;
    const trades: Frame[] = [];
    let settled = false;
    const finish = (problem?: string) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      const doneMs = problem ? Number.NaN : preciseNow() - startedAt;
      resolve({ startedAt, openMs, ackMs, doneMs, ok: problem === undefined, problem });
    };
    const timer = setTimeout(() => finish(`not complete after ${command.timeoutMs} ms`), command.timeoutMs);
    if (!since) return finish("no position before the disconnect");
    const socket = open(index);
    socket.once("open", () => {
      openMs = preciseNow() - startedAt;
      socket.send(JSON.stringify({ type: "subscribe", channel: "trades", since }));
    });
    socket.once("close", (code) => finish(`closed (${code}) before replayed`));
    socket.on("message", (data) => {
      if (settled) return;
      const frame = JSON.parse(String(data)) as Frame;
      if (frame.type === "subscribed" && frame.channel === "trades") {
        ackMs = preciseNow() - startedAt;
        if (frame.recovered !== true) finish(`not recovered (${frame.reason ?? "no reason"})`);
      } else if (frame.type === "trade_executed") {
        trades.push(frame);
      } else if (frame.type === "replayed" && frame.channel === "trades") {
        finish(verify(since, trades, frame, command.missedTradeIds));
      }
    });
  });
}

/** Exactly the missed trades, in order, after `since`, in its epoch, once each: undefined if so. */
function verify(since: Position, trades: Frame[], replayed: Frame, missed: string[]): string | undefined {
  if (replayed.count !== missed.length) return `replayed.count ${replayed.count}, expected ${missed.length}`;
  if (trades.length !== missed.length)
    return `${trades.length} trades before replayed, expected ${missed.length}`;
  let previous = since.seq;
  for (const [position, trade] of trades.entries()) {
    if (trade.trade_id !== missed[position])
      return `trade ${position} is ${trade.trade_id}, expected ${missed[position]}`;
    if (trade.epoch !== since.epoch) return `trade ${position} in epoch ${trade.epoch}`;
    if (trade.seq === undefined || trade.seq <= previous) return `seq ${trade.seq} after ${previous}`;
    previous = trade.seq;
  }
  return undefined;
}

async function reconnectAll(command: Extract<StormCommand, { type: "reconnect" }>): Promise<ResumeRecord[]> {
  return Promise.all(
    Array.from(
      { length: positions.length },
      (_, index) =>
        new Promise<ResumeRecord>((resolve) => {
          const at = command.startAt + Math.random() * command.spreadMs;
          setTimeout(() => resumeOne(index, command).then(resolve), Math.max(0, at - preciseNow()));
        }),
    ),
  );
}

process.on("message", async (command: StormCommand) => {
  switch (command.type) {
    case "connect": {
      url = command.url;
      localAddress = command.localAddress;
      const failed = await connectAll(command.count);
      process.send?.({ type: "connected", failed });
      break;
    }
    case "positions":
      process.send?.({ type: "positions", ...positionsReply() });
      break;
    case "disconnect":
      await disconnectAll();
      process.send?.({ type: "disconnected" });
      break;
    case "reconnect": {
      const cpu = process.cpuUsage();
      const records = await reconnectAll(command);
      const used = process.cpuUsage(cpu);
      process.send?.({ type: "reconnected", records, cpuMs: (used.user + used.system) / 1000 });
      break;
    }
    case "close":
      for (const socket of sockets) socket?.terminate();
      process.exit(0);
  }
});
