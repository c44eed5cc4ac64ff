/**
 * Smoke test of the harness plumbing: for each target, start it, connect three clients through
 * connectClient, publish five bench messages into NATS, and check every client got all five.
 * Exits 0 only if all four targets pass. Run: npx tsx bench/lib/smoke.ts
 */
import { connect } from "@nats-io/transport-node";
import { startNatsServer } from "../peers/nats-websocket.js";
import { type BenchClient, connectClient } from "./clients.js";
import { type RunningTarget, startTarget, type TargetName } from "./targets.js";

const TARGETS: TargetName[] = ["gateway", "naive-ws", "nats-ws", "socketio"];
const CLIENTS = 3;
const MESSAGES = 5;
const SUBJECT = "bench.>";
const TARGET_TIMEOUT_MS = 10_000;

/** The scan load workers do: `"n":<int>` and `"t":<number>` found literally in the text. */
const SEQ_PATTERN = /"n":(\d+)/;
const TIME_PATTERN = /"t":(-?\d+(?:\.\d+)?(?:e[+-]?\d+)?)/;

const nats = await startNatsServer({ withWebSocket: true });
const publisher = await connect({ servers: nats.url, name: "bench-smoke-publisher" });
let allPassed = true;
try {
  for (const name of TARGETS) {
    const passed = await smokeTarget(name).catch((error: unknown) => {
      console.log(`${name} FAILED: ${error instanceof Error ? error.message : String(error)}`);
      return false;
    });
    allPassed &&= passed;
  }
} finally {
  await publisher.close();
  await nats.stop();
}
process.exit(allPassed ? 0 : 1);

async function smokeTarget(name: TargetName): Promise<boolean> {
  // startTarget bounds itself (20 s) and cleans up when it fails; the rest is bounded here, so the
  // target is always stopped before the next one starts.
  const target = await startTarget(name, { natsUrl: nats.url, natsWsUrl: nats.wsUrl, natsPid: nats.pid });
  const clients: BenchClient[] = [];
  try {
    return await withTimeout(
      checkDelivery(name, target, clients),
      TARGET_TIMEOUT_MS,
      `no verdict within ${TARGET_TIMEOUT_MS} ms`,
    );
  } finally {
    for (const client of clients) client.close();
    await target.stop();
  }
}

async function checkDelivery(
  name: TargetName,
  target: RunningTarget,
  clients: BenchClient[],
): Promise<boolean> {
  const received: Set<number>[] = [];
  let malformed = 0;
  let allDelivered: () => void = () => {};
  const delivered = new Promise<void>((resolve) => {
    allDelivered = resolve;
  });
  for (let index = 0; index < CLIENTS; index++) {
    const seen = new Set<number>();
    received.push(seen);
    clients.push(
      await connectClient(name, target.url, {
        subject: SUBJECT,
        onMessage: (message) => {
          const text = message.toString();
          const seq = SEQ_PATTERN.exec(text)?.[1];
          if (seq === undefined || !TIME_PATTERN.test(text)) {
            malformed++;
            return;
          }
          seen.add(Number(seq));
          if (received.every((set) => set.size === MESSAGES)) allDelivered();
        },
      }),
    );
  }

  for (let seq = 0; seq < MESSAGES; seq++) publisher.publish("bench.feed", benchPayload(seq));
  await publisher.flush();
  await Promise.race([delivered, delay(3000)]);

  const total = received.reduce((sum, seen) => sum + seen.size, 0);
  const expected = CLIENTS * MESSAGES;
  const passed = total === expected && malformed === 0;
  const note = malformed ? ` (${malformed} malformed)` : "";
  console.log(`${name} ${passed ? "ok" : "FAILED"} ${total}/${expected}${note} (pid ${target.pid})`);
  return passed;
}

/** A ~300-byte bench message, shaped like the publisher's. */
function benchPayload(seq: number): string {
  const message = { n: seq, t: Date.now() + 0.5, symbol: "BENCH", payload: "" };
  message.payload = "x".repeat(Math.max(0, 300 - JSON.stringify(message).length));
  return JSON.stringify(message);
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function withTimeout<T>(work: Promise<T>, ms: number, message: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(message)), ms);
  });
  return Promise.race([work, timeout]).finally(() => clearTimeout(timer));
}
