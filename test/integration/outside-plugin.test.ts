/**
 * A plugin folder outside the installation, as PLUGINS_DIR allows: a temporary folder under the
 * system's temp directory, with no node_modules and no package.json, holding the news plugin,
 * which imports the plugin API by its stable name (`trading-stream-gateway`) and `zod`. The real
 * gateway process (src/main.ts under tsx, as `npm start` runs it) resolves both to its own copies:
 * the channel streams, is in the served AsyncAPI document and its HTML page, in the status
 * document, and a client subscribes to it.
 */
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import type { NatsConnection } from "@nats-io/transport-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadAsyncApi } from "../helpers/contract.js";
import { GatewayProcess, stopGatewayProcesses } from "../helpers/gateway-process.js";
import { NatsServer } from "../helpers/nats-server.js";
import { TestClient } from "../helpers/test-client.js";

const ROOT = path.resolve(import.meta.dirname, "../..");
const NEWS_FIXTURE = path.join(ROOT, "test/fixtures/plugins-news/news");
const ISO_UTC = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{3})?Z$/;

describe("a plugin folder outside the repository", () => {
  const pluginsDir = mkdtempSync(path.join(tmpdir(), "gateway-plugins-"));
  let nats: NatsServer;
  let publisher: NatsConnection;
  let gateway: GatewayProcess;
  let client: TestClient;

  beforeAll(async () => {
    cpSync(NEWS_FIXTURE, path.join(pluginsDir, "news"), { recursive: true });
    nats = await NatsServer.start();
    publisher = await nats.client();
    gateway = await GatewayProcess.start({ NATS_URL: nats.url, PLUGINS_DIR: pluginsDir });
    // The committed asyncapi.yaml knows nothing of `news`: not recorded for the contract check.
    client = await TestClient.connect(gateway.wsUrl, { record: false });
  }, 30_000);

  afterAll(async () => {
    await client?.close();
    await stopGatewayProcesses();
    await publisher?.close();
    await nats?.stop();
    rmSync(pluginsDir, { recursive: true, force: true });
  });

  it("has nothing to resolve its imports from but the gateway", () => {
    expect(path.relative(ROOT, pluginsDir).startsWith("..")).toBe(true);
    for (let folder = pluginsDir; folder !== path.dirname(folder); folder = path.dirname(folder))
      expect(existsSync(path.join(folder, "node_modules", "zod")), folder).toBe(false);
    const source = readFileSync(path.join(pluginsDir, "news", "index.ts"), "utf8");
    expect(source).toContain('from "trading-stream-gateway"');
    expect(source).toContain('from "zod"');
  });

  it("streams to a client that subscribes to it", async () => {
    expect(client.frames[0]).toMatchObject({
      type: "welcome",
      channels: ["news"],
      subscriptions: { news: "*" },
    });
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

  it("is in the status document", async () => {
    const status = (await (await fetch(`${gateway.httpUrl}/websocket/status`)).json()) as {
      stream_health: Record<string, { is_healthy: boolean; last_update: string | null }>;
      price_update_interval: number;
      portfolio_update_interval: number;
    };
    expect(Object.keys(status.stream_health)).toEqual(["news"]);
    // The seed's fixed fields stay, from the settings when no plugin of those names is loaded.
    expect(status).toMatchObject({ price_update_interval: 3, portfolio_update_interval: 5 });
    expect(status.stream_health.news?.is_healthy).toBe(true);
  });

  it("is in the AsyncAPI document the gateway serves and on its HTML page", async () => {
    const yaml = await (await fetch(`${gateway.httpUrl}/asyncapi.yaml`)).text();
    const document = loadAsyncApi(yaml);
    expect(document.channels.nats_news?.address).toBe("news.>");
    expect(Object.keys(document.channels.websocket?.messages ?? {})).toContain("news");
    const page = await fetch(`${gateway.httpUrl}/docs/asyncapi/js/app.js`);
    expect(page.status).toBe(200);
    expect(page.headers.get("content-type")).toBe("text/javascript; charset=utf-8");
    // The committed page's script, and the live document's messages it does not know after it.
    const script = await page.text();
    expect(script).toContain("AsyncApiStandalone.render(");
    const added = JSON.parse(/const added = (.*);\n/.exec(script)?.[1] ?? "[]") as { id: string }[];
    expect(added.map((message) => message.id)).toEqual(["news", "nats_news"]);
  });
});
