/**
 * Publishes the benchmark feed into NATS at a fixed rate, as a child process of the orchestrator.
 *
 * Each message carries its *scheduled* publish time `t`, not the time it was actually sent: if the
 * publisher (or the machine) stalls, the messages it owes go out late but stamped on time, so the
 * stall shows up as latency instead of silently lowering the offered load (coordinated omission).
 */
import { connect } from "@nats-io/transport-node";
import { preciseNow } from "../lib/now.js";

export interface PublisherJob {
  natsUrl: string;
  subject: string;
  ratePerSecond: number;
  durationMs: number;
  /** Size of each bench message in bytes. */
  payloadBytes: number;
  /** Symbols to rotate through (the price scenario publishes on market.prices.<symbol>). */
  symbols?: string[];
  /** "bench" payloads ({n,t,symbol,payload}) or price ticks ({symbol,price,...}). */
  kind: "bench" | "price";
}

export interface PublisherReport {
  published: number;
  /** How far behind schedule the publisher fell at worst, in ms. */
  maxLagMs: number;
}

const TICK_MS = 1;

async function run(job: PublisherJob): Promise<PublisherReport> {
  const connection = await connect({ servers: job.natsUrl, name: "bench-publisher" });
  // Connected: the orchestrator may wait for this before it starts measuring (bench/quality.ts).
  process.send?.({ type: "started" });
  const padding = "x".repeat(job.payloadBytes);
  const interval = 1000 / job.ratePerSecond;
  const start = preciseNow() + 50;
  const total = Math.floor((job.ratePerSecond * job.durationMs) / 1000);
  let sent = 0;
  let maxLagMs = 0;
  while (sent < total) {
    const now = preciseNow();
    // Everything scheduled up to now goes out now, each stamped with its own scheduled time.
    while (sent < total && start + sent * interval <= now) {
      const t = start + sent * interval;
      maxLagMs = Math.max(maxLagMs, now - t);
      if (job.kind === "bench") {
        // Exactly payloadBytes (ASCII): the padding takes whatever the other fields leave.
        const head = `{"n":${sent},"t":${t},"symbol":"BENCH","payload":"`;
        const fill = Math.max(0, job.payloadBytes - head.length - 2);
        connection.publish(job.subject, `${head}${padding.slice(0, fill)}"}`);
      } else {
        const symbol = job.symbols?.[sent % job.symbols.length] ?? "AAPL";
        connection.publish(
          `${job.subject}.${symbol}`,
          `{"symbol":"${symbol}","price":${(100 + (sent % 1000) / 100).toFixed(2)},"volume":${sent}}`,
        );
      }
      sent++;
    }
    await new Promise((resolve) => setTimeout(resolve, TICK_MS));
  }
  await connection.flush();
  await connection.close();
  return { published: sent, maxLagMs };
}

process.once("message", (job: PublisherJob) => {
  run(job).then(
    (report) => process.send?.({ type: "done", report }, () => process.exit(0)),
    (error) => {
      console.error(error);
      process.exit(1);
    },
  );
});
