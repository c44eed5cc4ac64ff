/**
 * A rolling deploy behind a real load balancer: nginx with deploy/nginx.conf (the file the docs
 * show) in front of two gateway processes on one nats-server with JetStream
 * (NATS_JETSTREAM=required), admission control on, 300 SDK clients subscribed to trades through
 * nginx from four loopback addresses (WEBSOCKET_TRUSTED_PROXIES names nginx, so the per-address
 * limit counts them, not nginx), 200 trades a second published throughout. Gateway A is restarted
 * (SIGTERM, then a new process on its port, ready), then B.
 *
 * Asserted: every client got every trade exactly once and in order, no resume failed, the new
 * connections accepted in any second stayed within what admission control allows, and each
 * instance's clients came back spread over at least half of SHUTDOWN_RECONNECT_SPREAD_MS.
 */
import type { NatsConnection } from "@nats-io/transport-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DeployClient } from "../helpers/deploy-client.js";
import { stopGatewayProcesses } from "../helpers/gateway-process.js";
import {
  type DeploySettings,
  mostConnectsInAnySecond,
  publishTrades,
  RollingDeployStack,
} from "../helpers/rolling-deploy.js";

const CLIENTS = 300;
const SOURCE_ADDRESSES = ["127.0.0.2", "127.0.0.3", "127.0.0.4", "127.0.0.5"];
const TRADES_PER_SECOND = 200;
/** Kept small so the test stays under a minute; the default is 10000. */
/**
 * The spread is kept small so the test stays under a minute (the default is 10000). Per instance:
 * A's 150 clients over a 4 s spread come at ~38/s, B's 300 at ~75/s, over the admission rate.
 */
const CLOSE_GRACE_MS = 1000;
const DEPLOY: DeploySettings = {
  instances: 2,
  connectsPerSecond: 50,
  connectsBurst: 20,
  spreadMs: 4000,
  drainMs: 4000 + CLOSE_GRACE_MS,
  maxConnections: 1000,
  extra: { WEBSOCKET_CLOSE_GRACE_MS: String(CLOSE_GRACE_MS) },
};
const MOST_CONNECTS_IN_ANY_SECOND = mostConnectsInAnySecond(DEPLOY);

let stack: RollingDeployStack;
const clients: DeployClient[] = [];
let upstream: NatsConnection | undefined;

beforeAll(async () => {
  stack = await RollingDeployStack.start(DEPLOY);
}, 60_000);

afterAll(async () => {
  await Promise.allSettled(clients.map((client) => client.close()));
  await upstream?.close();
  await stack?.stop();
  await stopGatewayProcesses();
});

function log(message: string): void {
  console.log(`[rolling-deploy] ${message}`);
}

/** Resolve once `predicate` holds, polled; reject after `timeoutMs` with `describe()`. */
async function until(predicate: () => boolean, timeoutMs: number, describe: () => string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out: ${describe()}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** The most timestamps in any window [t, t + windowMs). */
function mostInAnyWindow(times: number[], windowMs: number): number {
  const sorted = [...times].sort((a, b) => a - b);
  let most = 0;
  let start = 0;
  for (let end = 0; end < sorted.length; end++) {
    while ((sorted[end] as number) - (sorted[start] as number) >= windowMs) start++;
    most = Math.max(most, end - start + 1);
  }
  return most;
}

describe("a rolling deploy behind nginx (deploy/nginx.conf)", () => {
  it("300 clients keep every trade exactly once, no resume fails, connects stay within admission, reconnects spread", async () => {
    for (let index = 0; index < CLIENTS; index++) {
      const client = new DeployClient(
        stack.nginx.wsUrl,
        SOURCE_ADDRESSES[index % SOURCE_ADDRESSES.length] as string,
      );
      clients.push(client);
      client.connect();
    }
    // Admission control paces the first connections too (503 + Retry-After, retried by the SDK).
    await Promise.all(clients.map((client) => client.subscribed));
    log(`${CLIENTS} clients subscribed through nginx`);
    // nginx's least_conn spread them over both instances.
    for (const gateway of stack.gateways) {
      const status = (await (await fetch(`${gateway.httpUrl}/websocket/status`)).json()) as {
        active_connections: number;
      };
      expect(status.active_connections).toBeGreaterThan(CLIENTS / 4);
    }

    upstream = await stack.nats.client();
    const publisher = publishTrades(upstream, TRADES_PER_SECOND, log);
    await until(
      () => publisher.published >= TRADES_PER_SECOND,
      10_000,
      () => "the first second of trades",
    );

    const restarts = [];
    for (let index = 0; index < DEPLOY.instances; index++) {
      const noticesBefore = clients.map((client) => client.notices.length);
      log(`SIGTERM ${stack.gateways[index]?.name}`);
      const timing = await stack.restart(index);
      log(`${stack.gateways[index]?.name} back and ready after ${timing.readyAt - timing.signalledAt} ms`);
      // The instance's clients: those that got a notice from it.
      const moved = clients.filter((client, i) => client.notices.length > (noticesBefore[i] as number));
      // Each is back (accepted again after its notice) before the next instance goes.
      await until(
        () => moved.every((client) => (client.acceptedAt.at(-1) ?? 0) > (client.notices.at(-1)?.at ?? 0)),
        30_000,
        () => `${moved.filter((client) => client.sdk.state !== "open").length} of ${moved.length} still away`,
      );
      const backAt = moved.map((client) => client.acceptedAt.at(-1) as number);
      restarts.push({ timing, moved: moved.length, spreadMs: Math.max(...backAt) - Math.min(...backAt) });
    }

    const published = await publisher.stop();
    log(`stopped publishing after ${published} trades`);
    await until(
      () => clients.every((client) => client.lastTrade === published),
      30_000,
      () =>
        `${clients.filter((client) => client.lastTrade !== published).length} clients without trade ${published}`,
    );

    log(
      `${published} trades; restarts: ${JSON.stringify(restarts.map(({ moved, spreadMs }) => ({ moved, spreadMs })))}; most connects in a second: ${mostInAnyWindow(
        clients.flatMap((client) => client.acceptedAt),
        1000,
      )} (bound ${MOST_CONNECTS_IN_ANY_SECOND})`,
    );

    // Every trade, exactly once, in order, for every client.
    const problems = clients.flatMap((client, index) =>
      client.problems(published).map((problem) => `client ${index}: ${problem}`),
    );
    expect(problems).toEqual([]);
    // No resume failed, and nothing was refused.
    expect(clients.flatMap((client) => client.resumeFailures)).toEqual([]);
    expect(clients.flatMap((client) => client.errors)).toEqual([]);
    // Both restarts moved their clients: A's share, then all of them (A's successor took A's
    // clients back only as new connections arrived; B had everyone else).
    expect(restarts[0]?.moved).toBeGreaterThan(CLIENTS / 4);
    expect(restarts[1]?.moved).toBeGreaterThan(CLIENTS / 4);
    // The gateways' own accept times (welcome timestamps): never more in one second than the
    // token buckets allow.
    const accepts = clients.flatMap((client) => client.acceptedAt);
    expect(accepts.length).toBeGreaterThanOrEqual(
      CLIENTS + (restarts[0]?.moved ?? 0) + (restarts[1]?.moved ?? 0),
    );
    expect(mostInAnyWindow(accepts, 1000)).toBeLessThanOrEqual(MOST_CONNECTS_IN_ANY_SECOND);
    // Each instance's clients came back spread over at least half the spread.
    for (const { spreadMs } of restarts) expect(spreadMs).toBeGreaterThanOrEqual(DEPLOY.spreadMs / 2);
  }, 180_000);
});
