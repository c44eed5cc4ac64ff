/**
 * A load worker of `npm run bench:deploy` (bench/deploy.ts): a share of the clients, SDK clients
 * (src/client, the Node entry, test/helpers/deploy-client.ts) of the trades channel, each
 * subscribed to one symbol, all from one loopback address, connected through nginx. Driven over IPC:
 *
 *   connect -> connected  open the clients (admission control paces them) and wait until each is
 *                         subscribed
 *   phase   -> phase-set  from now, live trades' latencies count towards this phase
 *   away    -> away       how many clients were told to go (shutdown_notice) and are not back yet
 *   wait-for -> have      once every client has trade n
 *   report  -> report     every client checked against trades 1..published, the latencies per
 *                         phase, every connection's accept time and every notice
 *   close                 close everything and exit
 *
 * Latency is per delivered trade, from its `timestamp` (the publisher's send time) to its delivery
 * to the application, both on this machine's clock. Trades a client got with its own resume (from
 * losing its connection until its replay was delivered) are not live and not counted: the
 * question is what the deploy costs the clients that stay.
 */
import { DeployClient } from "../../test/helpers/deploy-client.js";
import { symbolOfTrade } from "../../test/helpers/rolling-deploy.js";
import { LatencyHistogram } from "./histogram.js";

export type DeployWorkerCommand =
  | { type: "connect"; url: string; count: number; localAddress: string; symbols: string[]; first: number }
  | { type: "phase"; name: string }
  | { type: "away" }
  | { type: "wait-for"; trade: number }
  | { type: "report"; published: number }
  | { type: "close" };

export interface DeployWorkerReport {
  clients: number;
  /** Trades 1..published: missing, delivered more than once, out of order, over every client. */
  lost: number;
  duplicated: number;
  outOfOrder: number;
  /** Clients whose trades were not all exactly once in order. */
  clientsWithProblems: number;
  resumeFailures: string[];
  errors: string[];
  /** Live trades' latencies, per phase. */
  latency: Record<string, ReturnType<LatencyHistogram["toJSON"]>>;
  /** Trades delivered with a client's own resume (not in the latencies). */
  caughtUp: number;
  /** Every connection's accept time (the welcome's timestamp, the gateway's clock), per client. */
  acceptedAt: number[][];
  /** Every shutdown_notice's arrival (ms), per client. */
  noticesAt: number[][];
}

const clients: DeployClient[] = [];
const latency: Record<string, LatencyHistogram> = {};
let phase = "connecting";
let caughtUp = 0;

/**
 * Client `first + index` subscribes to one symbol, the clients going round `symbols` in turn as
 * the publisher's trades do (symbolOfTrade).
 */
function connect(
  url: string,
  count: number,
  localAddress: string,
  symbols: string[],
  first: number,
): Promise<void> {
  for (let index = 0; index < count; index++) {
    const symbol = symbols[(first + index) % symbols.length] as string;
    const client = new DeployClient(url, localAddress, [symbol], (n) => symbolOfTrade(n, symbols) === symbol);
    client.onTrade = (trade, catchingUp) => {
      if (catchingUp) {
        caughtUp++;
        return;
      }
      const histogram = latency[phase] ?? new LatencyHistogram();
      latency[phase] = histogram;
      histogram.record(trade.at - trade.publishedAt);
    };
    clients.push(client);
    client.connect();
  }
  return Promise.all(clients.map((client) => client.subscribed)).then(() => undefined);
}

function report(published: number): DeployWorkerReport {
  let lost = 0;
  let duplicated = 0;
  let outOfOrder = 0;
  let clientsWithProblems = 0;
  for (const client of clients) {
    const tally = client.tally(published);
    lost += tally.missing;
    duplicated += tally.duplicated;
    outOfOrder += tally.outOfOrder;
    if (client.problems(published).length > 0) clientsWithProblems++;
  }
  return {
    clients: clients.length,
    lost,
    duplicated,
    outOfOrder,
    clientsWithProblems,
    resumeFailures: clients.flatMap((client) => client.resumeFailures),
    errors: clients.flatMap((client) => client.errors),
    latency: Object.fromEntries(
      Object.entries(latency).map(([name, histogram]) => [name, histogram.toJSON()]),
    ),
    caughtUp,
    acceptedAt: clients.map((client) => client.acceptedAt),
    noticesAt: clients.map((client) => client.notices.map((notice) => notice.at)),
  };
}

process.on("message", async (command: DeployWorkerCommand) => {
  switch (command.type) {
    case "connect":
      await connect(command.url, command.count, command.localAddress, command.symbols, command.first);
      process.send?.({ type: "connected" });
      break;
    case "phase":
      phase = command.name;
      process.send?.({ type: "phase-set" });
      break;
    case "away":
      process.send?.({
        type: "away",
        away: clients.filter((client) => (client.notices.at(-1)?.at ?? 0) >= (client.acceptedAt.at(-1) ?? 0))
          .length,
      });
      break;
    case "wait-for":
      while (!clients.every((client) => client.hasLastOf(command.trade)))
        await new Promise((resolve) => setTimeout(resolve, 100));
      process.send?.({ type: "have" });
      break;
    case "report":
      process.send?.({ type: "report", report: report(command.published) });
      break;
    case "close":
      await Promise.allSettled(clients.map((client) => client.close()));
      process.exit(0);
  }
});
