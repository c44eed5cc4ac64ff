/**
 * Plugin folders outside the installation, as PLUGINS_DIR allows: a temporary folder under the
 * system's temp directory, with no node_modules and no package.json anywhere above it, holding a
 * copy of each bundled plugin (plugins/<folder>: index.ts and schema.ts, which import each other
 * relatively, `trading-stream-gateway` and `zod`) and the one-file news plugin. The gateway resolves
 * the two names to its own copies and loads every file of a folder as an ES module, under both
 * starts, each a real process against a real nats-server:
 *
 * - the TypeScript start (src/main.ts under tsx, as `npm start` runs it) loads the .ts folders;
 * - the compiled start (`node dist/main.js` after `npm run build`, here on a built copy of the
 *   repository) loads the same folders compiled to JavaScript with esbuild, one .js per .ts, as
 *   docs/plugins.md says: Node 20 does not run TypeScript.
 *
 * Each channel streams a message published on its subject to a WebSocket client, and the channels
 * are in the status document and the served AsyncAPI document (with their zod `.meta()` titles:
 * one zod, the gateway's) and its HTML page.
 */
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import type { NatsConnection } from "@nats-io/transport-node";
import { buildSync } from "esbuild";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  compiledGateway,
  removeCompiledGateway,
  startCompiledGateway,
  stopCompiledGateways,
} from "../helpers/compiled-gateway.js";
import { loadAsyncApi } from "../helpers/contract.js";
import { GatewayProcess, stopGatewayProcesses } from "../helpers/gateway-process.js";
import { NatsServer } from "../helpers/nats-server.js";
import { SEED_AAPL_POSITION } from "../helpers/seed-frames.js";
import { type Frame, TestClient } from "../helpers/test-client.js";

const ROOT = path.resolve(import.meta.dirname, "../..");
const NEWS_FIXTURE = path.join(ROOT, "test/fixtures/plugins-news/news");
const BUNDLED = ["portfolio", "price-updates", "signals", "trades"];
const ISO_UTC = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{3})?Z$/;
/** Folder-name order, the order the gateway loads them in. */
const CHANNELS = ["news", "portfolio", "price_updates", "signals", "trades"];
/** Short conflation intervals, so that the conflated channels flush quickly. */
const INTERVAL_SECONDS = 0.5;

/** One valid upstream message per bundled channel, and what its client receives. */
const UPSTREAM: {
  channel: string;
  subject: string;
  payload: Record<string, unknown>;
  frame: Record<string, unknown> & { type: string };
}[] = [
  {
    channel: "portfolio",
    subject: "portfolio.updates",
    payload: { positions: { AAPL: SEED_AAPL_POSITION }, total_pnl: 12.5 },
    frame: {
      type: "portfolio_update",
      channel: "portfolio",
      data: {
        total_pnl: 12.5,
        position_count: 1,
        positions: { AAPL: expect.objectContaining({ quantity: 10 }) },
      },
    },
  },
  {
    channel: "price_updates",
    subject: "market.prices.AAPL",
    payload: { symbol: "AAPL", price: 150.25, volume: 1000 },
    frame: { type: "price_update", symbols: { AAPL: { price: 150.25, volume: 1000 } } },
  },
  {
    channel: "signals",
    subject: "strategy.signals.momentum",
    payload: { signal_type: "BUY", symbol: "AAPL", price: 150.25, quantity: 10, confidence: 0.85 },
    frame: { type: "signal", signal_type: "BUY", symbol: "AAPL", price: 150.25, confidence: 0.85 },
  },
  {
    channel: "trades",
    subject: "execution.trades.outside",
    payload: { symbol: "AAPL", side: "BUY", quantity: 10, price: 150.25, trade_id: "outside-1" },
    frame: { type: "trade_executed", symbol: "AAPL", trade_id: "outside-1", seq: 1 },
  },
];

/** The zod `.meta()` titles of the bundled plugins' frames, as the served document must show them. */
const FRAME_TITLES: Record<string, string> = {
  portfolio_update: "Portfolio update",
  signal: "Trading signal",
};

interface Gateway {
  readonly wsUrl: string;
  readonly httpUrl: string;
}

/** The temporary root: the TypeScript folders in ts/, their compiled JavaScript in js/. */
const TEMP = mkdtempSync(path.join(tmpdir(), "gateway-plugins-"));
const TS_PLUGINS = path.join(TEMP, "ts");
const JS_PLUGINS = path.join(TEMP, "js");

const STARTS: {
  title: string;
  pluginsDir: string;
  extension: string;
  prepare(): void;
  start(env: Record<string, string>): Promise<Gateway>;
}[] = [
  {
    title: "under the TypeScript start (tsx src/main.ts), as .ts",
    pluginsDir: TS_PLUGINS,
    extension: ".ts",
    prepare: () => {},
    start: (env) => GatewayProcess.start(env),
  },
  {
    title: "under the compiled start (node dist/main.js), compiled to .js",
    pluginsDir: JS_PLUGINS,
    extension: ".js",
    // docs/plugins.md's command (`npx esbuild <plugins>/*/*.ts --outbase=<plugins> ...`): every
    // .ts file to a .js in the same place, relative imports and the names
    // `trading-stream-gateway` and `zod` left as they are.
    prepare: () => {
      buildSync({
        entryPoints: readdirSync(TS_PLUGINS).flatMap((folder) =>
          readdirSync(path.join(TS_PLUGINS, folder))
            .filter((file) => file.endsWith(".ts"))
            .map((file) => path.join(TS_PLUGINS, folder, file)),
        ),
        outbase: TS_PLUGINS,
        outdir: JS_PLUGINS,
        format: "esm",
        platform: "node",
        logLevel: "error",
      });
    },
    start: async (env) => startCompiledGateway(await compiledGateway(), env),
  },
];

mkdirSync(TS_PLUGINS);
for (const folder of BUNDLED)
  cpSync(path.join(ROOT, "plugins", folder), path.join(TS_PLUGINS, folder), { recursive: true });
cpSync(NEWS_FIXTURE, path.join(TS_PLUGINS, "news"), { recursive: true });

let nats: NatsServer;
let publisher: NatsConnection;

beforeAll(async () => {
  nats = await NatsServer.start();
  publisher = await nats.client();
});

afterAll(async () => {
  await stopGatewayProcesses();
  await stopCompiledGateways();
  removeCompiledGateway();
  await publisher?.close();
  await nats?.stop();
  rmSync(TEMP, { recursive: true, force: true });
});

describe.each(STARTS)("plugin folders outside the repository $title", (start) => {
  let gateway: Gateway;
  let client: TestClient;

  beforeAll(async () => {
    start.prepare();
    gateway = await start.start({
      NATS_URL: nats.url,
      PLUGINS_DIR: start.pluginsDir,
      WEBSOCKET_PRICE_UPDATE_INTERVAL: String(INTERVAL_SECONDS),
      WEBSOCKET_PORTFOLIO_UPDATE_INTERVAL: String(INTERVAL_SECONDS),
    });
    // The committed asyncapi.yaml knows nothing of `news`: not recorded for the contract check.
    client = await TestClient.connect(gateway.wsUrl, { record: false });
    // The build of the compiled start (npm run build on a copy) takes up to a minute or two.
  }, 240_000);

  afterAll(async () => {
    await client?.close();
  });

  it("have nothing to resolve their imports from but the gateway", () => {
    expect(path.relative(ROOT, start.pluginsDir).startsWith("..")).toBe(true);
    for (let folder = start.pluginsDir; folder !== path.dirname(folder); folder = path.dirname(folder)) {
      expect(existsSync(path.join(folder, "node_modules")), folder).toBe(false);
      expect(existsSync(path.join(folder, "package.json")), folder).toBe(false);
    }
    for (const folder of BUNDLED) {
      const files = readdirSync(path.join(start.pluginsDir, folder)).sort();
      expect(files).toEqual([`index${start.extension}`, `schema${start.extension}`]);
      const index = readFileSync(path.join(start.pluginsDir, folder, `index${start.extension}`), "utf8");
      const schema = readFileSync(path.join(start.pluginsDir, folder, `schema${start.extension}`), "utf8");
      expect(index).toContain('from "trading-stream-gateway"');
      expect(index).toContain('from "./schema.js"');
      expect(schema).toContain('from "trading-stream-gateway"');
      expect(schema).toContain('from "zod"');
    }
    const news = readFileSync(path.join(start.pluginsDir, "news", `index${start.extension}`), "utf8");
    expect(news).toContain('from "trading-stream-gateway"');
    expect(news).toContain('from "zod"');
  });

  it("are every channel of the welcome frame", () => {
    expect(client.frames[0]).toMatchObject({
      type: "welcome",
      channels: CHANNELS,
      subscriptions: Object.fromEntries(CHANNELS.map((channel) => [channel, "*"])),
    });
  });

  it.each(UPSTREAM)("streams $channel from its subject to a client", async ({ subject, payload, frame }) => {
    publisher.publish(subject, JSON.stringify(payload));
    await publisher.flush();
    const received: Frame = await client.next(frame.type, () => true, 10_000);
    expect(received).toMatchObject({ ...frame, timestamp: expect.stringMatching(ISO_UTC) });
  });

  it("streams the one-file news plugin to a client that subscribes to it", async () => {
    const ack = await client.request({ type: "subscribe", channel: "news", symbols: ["AAPL"] }, "n1");
    expect(ack).toMatchObject({ type: "subscribed", channel: "news", symbols: ["AAPL"], id: "n1" });
    publisher.publish(
      "news.wire",
      JSON.stringify({ symbol: "AAPL", headline: "Apple beats estimates", source: "wire" }),
    );
    expect(await client.next("news")).toEqual({
      type: "news",
      symbol: "AAPL",
      headline: "Apple beats estimates",
      source: "wire",
      timestamp: expect.stringMatching(ISO_UTC),
      seq: 1,
      epoch: expect.any(String),
    });
  });

  it("are in the status document", async () => {
    const status = (await (await fetch(`${gateway.httpUrl}/websocket/status`)).json()) as {
      stream_health: Record<string, { is_healthy: boolean; last_update: string | null }>;
      price_update_interval: number;
      portfolio_update_interval: number;
    };
    expect(Object.keys(status.stream_health)).toEqual(CHANNELS);
    // The seed's fixed fields, from the copied price_updates and portfolio plugins.
    expect(status).toMatchObject({
      price_update_interval: INTERVAL_SECONDS,
      portfolio_update_interval: INTERVAL_SECONDS,
    });
    for (const channel of CHANNELS) expect(status.stream_health[channel]?.is_healthy, channel).toBe(true);
  });

  it("are in the AsyncAPI document the gateway serves and on its HTML page", async () => {
    const yaml = await (await fetch(`${gateway.httpUrl}/asyncapi.yaml`)).text();
    const document = loadAsyncApi(yaml);
    expect(document.channels.nats_news?.address).toBe("news.>");
    expect(document.channels.nats_signals?.address).toBe("strategy.signals.>");
    const messages = Object.keys(document.channels.websocket?.messages ?? {});
    for (const type of ["news", ...UPSTREAM.map(({ frame }) => frame.type)]) expect(messages).toContain(type);
    // The titles schema.ts gives with zod's .meta(): the plugins' zod is the gateway's.
    for (const [type, title] of Object.entries(FRAME_TITLES))
      expect(document.components.messages[type]?.title, type).toBe(title);
    const page = await fetch(`${gateway.httpUrl}/docs/asyncapi/js/app.js`);
    expect(page.status).toBe(200);
    expect(page.headers.get("content-type")).toBe("text/javascript; charset=utf-8");
    // The committed page's script, and the live document's messages it does not know after it:
    // only news (the copies of the bundled plugins are the committed ones).
    const script = await page.text();
    expect(script).toContain("AsyncApiStandalone.render(");
    const added = JSON.parse(/const added = (.*);\n/.exec(script)?.[1] ?? "[]") as { id: string }[];
    expect(added.map((message) => message.id)).toEqual(["news", "nats_news"]);
  });
});
