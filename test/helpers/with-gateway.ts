/**
 * The one fixture of the suites that run a real nats-server, a publisher connection and an
 * in-process gateway (startGateway), and open real clients against it. Called from a `describe`
 * block (or a file's top level), it registers its own hooks and returns getters for what it
 * started:
 *
 *   const stack = withGateway({ env: MANUAL_FLUSH });
 *   it("…", async () => {
 *     const { running, publisher } = stack;
 *     const client = await stack.connect({ query: { client_id: "desk-1" } });
 *     …
 *   });
 *
 * Everything it opens is closed by itself, in the right order: clients first (all at once), then
 * whatever else was tracked (proxies, extra gateways, …: the latest first), then the gateway, the
 * publisher, and NATS. What a test opens (clients, gateways, anything passed to track()) lasts
 * until that test ends (or, with `closeAfterEach: false`, until the suite ends); what a beforeAll
 * (or the describe block itself) opens, until the suite ends. With `scope: "test"` the whole stack
 * (NATS included) is fresh for every test.
 */
import type { NatsConnection } from "@nats-io/transport-node";
import { afterAll, afterEach, beforeAll, beforeEach } from "vitest";
import { type RunningGateway, startGateway, waitUntilReady } from "./gateway.js";
import { NatsServer } from "./nats-server.js";
import { TestClient } from "./test-client.js";

/** Conflated channels never flush on their timer during a test: the test flushes them itself. */
export const MANUAL_FLUSH = {
  WEBSOCKET_PRICE_UPDATE_INTERVAL: "3600",
  WEBSOCKET_PORTFOLIO_UPDATE_INTERVAL: "3600",
};

export interface WithGatewayOptions {
  /**
   * Start a nats-server (default true); false: no NATS, publisher or gateway of the fixture's own,
   * only the teardown of what the tests start (startNats, startGateway with a NATS_URL, track).
   */
  nats?: boolean;
  /** Settings of every gateway this fixture starts, over NATS_URL and startGateway's test defaults. */
  env?: Record<string, string>;
  /** The plugins directory of the fixture's own gateway (default: the repository's plugins/). */
  pluginsDir?: string;
  /** Run nats-server with JetStream (its store is deleted at teardown). */
  jetstream?: boolean;
  /** A cluster of this many nats-server nodes instead of one; NATS_URL names them all. */
  cluster?: number;
  /** Start the fixture's own gateway (`running`); false: tests start theirs with startGateway(). */
  gateway?: boolean;
  /** Open the `publisher` connection (default true). */
  publisher?: boolean;
  /** "suite" (default): one stack for every test of the block; "test": a fresh one for each test. */
  scope?: "suite" | "test";
  /**
   * false: what a test opens (clients, gateways, tracked resources) stays open until the suite
   * ends, for suites whose tests check what the earlier ones left running. Default true.
   */
  closeAfterEach?: boolean;
}

export interface StartGatewayOptions {
  pluginsDir?: string;
  /** 0 (a free one) unless the gateway must come back where its clients expect it. */
  port?: number;
  /** Wait until it is connected to NATS (default true). */
  ready?: boolean;
}

export interface ConnectOptions {
  /** Where to connect (another gateway, a proxy); default: the fixture's gateway. */
  url?: string;
  /** Query parameters added to the URL, e.g. `{ client_id: "desk-1" }`. */
  query?: Record<string, string>;
  /** Wait for the welcome frame (default true). */
  welcome?: boolean;
  /** Check the frames against the committed asyncapi.yaml (default true). */
  record?: boolean;
  headers?: Record<string, string>;
}

export interface GatewayFixture {
  /** The nats-server (the first node of a cluster). */
  readonly nats: NatsServer;
  /** Every node, with `cluster`; otherwise the one server. */
  readonly cluster: NatsServer[];
  /** A connection to NATS for the test to publish upstream messages on. */
  readonly publisher: NatsConnection;
  /** The fixture's own gateway, connected to NATS. */
  readonly running: RunningGateway;
  /**
   * A further gateway with NATS_URL the fixture's NATS (none with `nats: false`), then the
   * fixture's env, then `env`.
   */
  startGateway(env?: Record<string, string>, options?: StartGatewayOptions): Promise<RunningGateway>;
  /** Stop the fixture's own gateway (its clients see it go); `running` stays the stopped one. */
  stopGateway(): Promise<void>;
  /**
   * Start the fixture's own gateway again, on its port and with its settings (stopping it first
   * if it still runs), for the tests after this one too: `running` is the new one from now on.
   */
  restartGateway(): Promise<RunningGateway>;
  /** A further nats-server, stopped (and its store removed) at teardown. */
  startNats(options?: { jetstream?: boolean; args?: string[] }): Promise<NatsServer>;
  /** A TestClient (welcome received), closed at teardown. */
  connect(options?: ConnectOptions): Promise<TestClient>;
  /**
   * Close `resource` at teardown. `client: true` closes it with the clients, before everything
   * else (an SDK client); otherwise after them, the latest tracked first.
   */
  track<T extends { close(): unknown }>(resource: T, options?: { client?: boolean }): T;
  /** Run `cleanup` at teardown, in the order track() would close a resource. */
  defer(cleanup: () => unknown): void;
  /** Close a resource of this fixture now (a gateway a test stops on purpose): teardown skips it. */
  close(resource: object): Promise<void>;
}

interface Entry {
  resource: object;
  close: () => unknown;
  client: boolean;
}

/** What one test, or one suite, opened: closed together, clients first, then the latest first. */
class Scope {
  private entries: Entry[] = [];

  add(entry: Entry): void {
    this.entries.push(entry);
  }

  has(resource: object): boolean {
    return this.entries.some((entry) => entry.resource === resource);
  }

  take(resource: object): Entry | undefined {
    const index = this.entries.findIndex((entry) => entry.resource === resource);
    return index < 0 ? undefined : this.entries.splice(index, 1)[0];
  }

  async close(): Promise<void> {
    const entries = this.entries.splice(0);
    const errors: unknown[] = [];
    const settled = await Promise.allSettled(
      entries.filter((entry) => entry.client).map(async (entry) => entry.close()),
    );
    for (const result of settled) if (result.status === "rejected") errors.push(result.reason);
    for (const entry of entries.filter((each) => !each.client).reverse()) {
      try {
        await entry.close();
      } catch (error) {
        errors.push(error);
      }
    }
    if (errors.length === 1) throw errors[0];
    if (errors.length > 1) throw new AggregateError(errors, "several resources failed to close");
  }
}

export function withGateway(options: WithGatewayOptions = {}): GatewayFixture {
  const perTest = options.scope === "test";
  const suite = new Scope();
  let test: Scope | undefined;
  let servers: NatsServer[] | undefined;
  let publisher: NatsConnection | undefined;
  let running: RunningGateway | undefined;
  /** Where the fixture's own gateway was started, so that a restart lasts as long as it would have. */
  let runningScope: Scope = suite;

  const scope = () => test ?? suite;
  const owner = (resource: object) => (test?.has(resource) ? test : suite.has(resource) ? suite : undefined);

  /** A gateway on the fixture's NATS, closed with `into`. */
  async function launch(env: Record<string, string>, launchOptions: StartGatewayOptions, into: Scope) {
    const { pluginsDir, port = 0, ready = true } = launchOptions;
    const nats: Record<string, string> = servers
      ? { NATS_URL: servers.map((server) => server.url).join(",") }
      : {};
    const gateway = await startGateway({ ...nats, ...options.env, ...env }, pluginsDir, port);
    into.add({ resource: gateway, close: () => gateway.close(), client: false });
    if (ready) await waitUntilReady(gateway);
    return gateway;
  }
  const started = <T>(value: T | undefined, what: string, hint = ""): T => {
    if (value === undefined)
      throw new Error(
        `withGateway: no ${what}${hint} (use it in a test, or in a hook registered after withGateway)`,
      );
    return value;
  };

  const fixture: GatewayFixture = {
    get nats() {
      return started(servers, "nats-server")[0] as NatsServer;
    },
    get cluster() {
      return started(servers, "nats-server");
    },
    get publisher() {
      return started(publisher, "publisher", options.publisher === false ? ": publisher: false" : "");
    },
    get running() {
      return started(running, "gateway", options.gateway === false ? ": gateway: false" : "");
    },

    startGateway(env = {}, startOptions = {}) {
      return launch(env, startOptions, scope());
    },

    async stopGateway() {
      const own = fixture.running;
      if (owner(own)) await fixture.close(own);
    },

    async restartGateway() {
      await fixture.stopGateway();
      const port = fixture.running.port;
      running = await launch({}, { pluginsDir: options.pluginsDir, port }, runningScope);
      return running;
    },

    async startNats(natsOptions = {}) {
      const server = await NatsServer.start(natsOptions);
      scope().add({ resource: server, close: () => server.remove(), client: false });
      return server;
    },

    async connect({ url, query, ...connectOptions } = {}) {
      const base = url ?? fixture.running.wsUrl;
      const search =
        query === undefined ? "" : `${base.includes("?") ? "&" : "?"}${new URLSearchParams(query)}`;
      return fixture.track(await TestClient.connect(`${base}${search}`, connectOptions), { client: true });
    },

    track(resource, { client = false } = {}) {
      scope().add({ resource, close: () => resource.close(), client });
      return resource;
    },

    defer(cleanup) {
      scope().add({ resource: cleanup, close: cleanup, client: false });
    },

    async close(resource) {
      const entry = owner(resource)?.take(resource);
      if (!entry) throw new Error("withGateway: close() of something this fixture did not open");
      await entry.close();
    },
  };

  /** NATS, the publisher and the gateway, in the current scope (closed in the reverse order). */
  async function setUp(): Promise<void> {
    if (options.nats === false) return;
    const count = options.cluster;
    const nodes =
      count === undefined
        ? [await NatsServer.start({ jetstream: options.jetstream })]
        : await NatsServer.startCluster(count, { jetstream: options.jetstream });
    servers = nodes;
    for (const node of nodes) scope().add({ resource: node, close: () => node.remove(), client: false });
    if (options.publisher !== false) publisher = fixture.track(await fixture.nats.client());
    if (options.gateway !== false) {
      runningScope = scope();
      running = await launch({}, { pluginsDir: options.pluginsDir }, runningScope);
    }
  }

  function forget(): void {
    servers = undefined;
    publisher = undefined;
    running = undefined;
  }

  if (!perTest) beforeAll(setUp);
  afterAll(async () => {
    try {
      await suite.close();
    } finally {
      forget();
    }
  });
  beforeEach(async () => {
    if (options.closeAfterEach !== false || perTest) test = new Scope();
    if (perTest) await setUp();
  });
  afterEach(async () => {
    const closing = test;
    test = undefined;
    try {
      await closing?.close();
    } finally {
      if (perTest) forget();
    }
  });
  return fixture;
}
