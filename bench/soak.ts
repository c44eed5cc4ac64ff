/**
 * `npm run soak -- --minutes N`: a long mixed load on the real gateway, printing its health every
 * few seconds, to catch what only time shows (leaks, creeping latency, stuck state).
 *
 * The load: ticks for 50 symbols (500/s), signals (20/s), trades (5/s), portfolios of three
 * accounts (2/s) and a trickle of invalid payloads (2/s), published into a fresh nats-server;
 * 200 steady clients, half of them on explicit watchlists; and churn, 20 clients replaced every
 * second. Every few seconds: gateway RSS, event-loop delay p99 (its /metrics), connections,
 * frames received by the clients, and invalid messages counted.
 */
import { connect } from "@nats-io/transport-node";
import WebSocket from "ws";
import { rssBytes } from "./lib/proc-stats.js";
import { startTarget } from "./lib/targets.js";
import { startNatsServer } from "./peers/nats-websocket.js";

const minutesArgument = process.argv.find((argument) => argument.startsWith("--minutes"));
const minutes = Number(
  minutesArgument?.split("=")[1] ?? process.argv[process.argv.indexOf("--minutes") + 1] ?? 1,
);
if (!Number.isFinite(minutes) || minutes <= 0) throw new Error("usage: npm run soak -- --minutes N");

const REPORT_EVERY_MS = 5000;
const STEADY_CLIENTS = 200;
const CHURN_PER_SECOND = 20;
const SYMBOLS = Array.from({ length: 50 }, (_, i) => `SYM${i}`);

const nats = await startNatsServer({ withWebSocket: false });
const gateway = await startTarget("gateway", { natsUrl: nats.url });
const httpUrl = gateway.url.replace("ws://", "http://").replace(/\/ws$/, "");
const publisher = await connect({ servers: nats.url, name: "soak-publisher" });

let framesReceived = 0;
let unexpectedCloses = 0;
const sockets = new Set<WebSocket>();

function openClient(watchlist: boolean): WebSocket {
  const socket = new WebSocket(gateway.url);
  sockets.add(socket);
  socket.on("message", () => {
    framesReceived++;
  });
  socket.on("open", () => {
    if (watchlist) {
      const symbols = SYMBOLS.filter(() => Math.random() < 0.2);
      socket.send(
        JSON.stringify({
          type: "subscribe",
          channel: "price_updates",
          symbols: symbols.length ? symbols : ["SYM0"],
        }),
      );
    }
  });
  socket.on("close", (code) => {
    sockets.delete(socket);
    if (code !== 1000 && code !== 1005 && !stopping) unexpectedCloses++;
  });
  socket.on("error", () => {});
  return socket;
}

let stopping = false;
const steady = Array.from({ length: STEADY_CLIENTS }, (_, i) => openClient(i % 2 === 0));
const churning: WebSocket[] = [];

let tick = 0;
const publishing = setInterval(() => {
  // Every 10 ms: 5 ticks; every 50 ms a signal; every 200 ms a trade; every 500 ms a portfolio
  // and an invalid payload.
  tick++;
  for (let i = 0; i < 5; i++) {
    const symbol = SYMBOLS[(tick * 5 + i) % SYMBOLS.length] as string;
    publisher.publish(
      `market.prices.${symbol}`,
      JSON.stringify({ symbol, price: 100 + (tick % 100) / 10, volume: tick }),
    );
  }
  if (tick % 5 === 0) {
    publisher.publish(
      "strategy.signals.soak",
      JSON.stringify({ signal_type: "BUY", symbol: "SYM1", price: 100, quantity: 1, confidence: 0.7 }),
    );
  }
  if (tick % 20 === 0) {
    publisher.publish(
      "execution.trades.soak",
      JSON.stringify({ symbol: "SYM2", side: "SELL", quantity: 3, price: 101 }),
    );
  }
  if (tick % 50 === 0) {
    const account = `acct-${tick % 3}`;
    publisher.publish("portfolio.updates", JSON.stringify({ account, positions: {}, total_pnl: tick % 17 }));
    publisher.publish("strategy.signals.soak", "{not json");
  }
}, 10);

const churn = setInterval(() => {
  for (const socket of churning.splice(0, CHURN_PER_SECOND)) socket.close();
  for (let i = 0; i < CHURN_PER_SECOND; i++) churning.push(openClient(Math.random() < 0.5));
}, 1000);

interface Sample {
  rssMb: number;
  lagP99Ms: number;
  connections: number;
}

async function sample(): Promise<Sample> {
  const text = await (await fetch(`${httpUrl}/metrics`)).text();
  const value = (name: string) => Number(new RegExp(`^${name} (\\S+)$`, "m").exec(text)?.[1] ?? Number.NaN);
  return {
    rssMb: rssBytes(gateway.pid) / 2 ** 20,
    lagP99Ms: value("nodejs_eventloop_lag_p99_seconds") * 1000,
    connections: value("gateway_websocket_connections"),
  };
}

const started = Date.now();
const samples: Sample[] = [];
let lastFrames = 0;
console.log(`soak: ${minutes} min against ${gateway.url} (gateway pid ${gateway.pid})`);
while (Date.now() - started < minutes * 60_000) {
  await new Promise((resolve) => setTimeout(resolve, REPORT_EVERY_MS));
  const now = await sample();
  samples.push(now);
  const status = (await (await fetch(`${httpUrl}/websocket/status`)).json()) as {
    stream_health: Record<string, { error_count: number }>;
  };
  const invalid = Object.values(status.stream_health).reduce((sum, health) => sum + health.error_count, 0);
  console.log(
    `${((Date.now() - started) / 1000).toFixed(0).padStart(5)} s  rss ${now.rssMb.toFixed(0)} MB  ` +
      `loop p99 ${now.lagP99Ms.toFixed(1)} ms  connections ${now.connections}  ` +
      `frames ${framesReceived} (+${((framesReceived - lastFrames) / (REPORT_EVERY_MS / 1000)).toFixed(0)}/s)  ` +
      `invalid counted ${invalid}  unexpected closes ${unexpectedCloses}`,
  );
  lastFrames = framesReceived;
}

stopping = true;
clearInterval(publishing);
clearInterval(churn);
for (const socket of [...steady, ...churning]) socket.close();
await publisher.close();
await gateway.stop();
await nats.stop();
const firstMinute = samples.slice(0, Math.max(1, Math.floor(60_000 / REPORT_EVERY_MS)));
const summary = {
  minutes,
  framesReceived,
  unexpectedCloses,
  rssMb: {
    afterFirstMinute: Math.max(...firstMinute.map((s) => s.rssMb)),
    end: samples.at(-1)?.rssMb,
    max: Math.max(...samples.map((s) => s.rssMb)),
  },
  loopLagP99Ms: { max: Math.max(...samples.map((s) => s.lagP99Ms)) },
};
console.log(`summary ${JSON.stringify(summary)}`);
process.exit(unexpectedCloses === 0 ? 0 : 1);
