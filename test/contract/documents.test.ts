/**
 * The published contract: asyncapi.yaml and specs/openapi.json are valid, complete, carry valid
 * examples, and match what the code generates (drift check).
 */
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import Generator from "@asyncapi/generator";
import { Parser } from "@asyncapi/parser";
import { Validator } from "@seriousme/openapi-schema-validator";
import { describe, expect, it } from "vitest";
import { loadConfig } from "../../src/config.js";
import { encodeFrame } from "../../src/core/frame-encoder.js";
import { withTiming } from "../../src/core/latency/timed-frame.js";
import { frameSchemasOf, frameTypeOf } from "../../src/core/plugin.js";
import { DEFAULT_PLUGINS_DIR, loadPlugins } from "../../src/core/plugin-loader.js";
import { ASYNCAPI_HTML } from "../../src/http/docs-routes.js";
import { ASYNCAPI_FILE, generateContract, OPENAPI_FILE } from "../../src/specs/generate.js";
import { ContractValidator, loadAsyncApi } from "../helpers/contract.js";
import { SEED_FRAMES, STATUS_FIELDS } from "../helpers/seed-frames.js";

const WEBSOCKET_MESSAGES = [
  "ping",
  "subscribe",
  "unsubscribe",
  "auth",
  "welcome",
  "subscribed",
  "unsubscribed",
  "pong",
  "error",
  "authenticated",
  "replayed",
  "stream_status",
  "delivery_status",
  "state_status",
  "shutdown_notice",
  "order_book_snapshot",
  "order_book_update",
  "portfolio_update",
  "price_update",
  "signal",
  "trade_executed",
];

describe("asyncapi.yaml", () => {
  it("parses with @asyncapi/parser with zero errors", async () => {
    const { document, diagnostics } = await new Parser().parse(readFileSync(ASYNCAPI_FILE, "utf8"));
    const errors = diagnostics.filter((diagnostic) => diagnostic.severity === 0);
    expect(errors.map((error) => `${error.message} at ${error.path.join(".")}`)).toEqual([]);
    expect(document?.version()).toBe("3.0.0");
  });

  it("describes every client and server frame on the WebSocket channel, each with title, summary and an example", () => {
    const document = loadAsyncApi();
    expect(document.channels.websocket?.address).toBe("/ws");
    expect(Object.keys(document.channels.websocket?.messages ?? {})).toEqual(WEBSOCKET_MESSAGES);
    for (const id of WEBSOCKET_MESSAGES) {
      const message = document.components.messages[id];
      expect(message?.name, id).toBe(id);
      expect(message?.title, id).toMatch(/\w/);
      expect(message?.summary, id).toMatch(/\w/);
      expect(message?.examples.length, id).toBeGreaterThan(0);
    }
  });

  it("describes the NATS ingest side: one channel per plugin subject with its payload", () => {
    const document = loadAsyncApi();
    const ingest = Object.fromEntries(
      Object.entries(document.channels)
        .filter(([key]) => key.startsWith("nats_"))
        .map(([key, channel]) => [key, channel.address]),
    );
    expect(ingest).toEqual({
      nats_order_books: "market.books.>",
      nats_portfolio: "portfolio.updates",
      nats_price_updates: "market.prices.>",
      nats_signals: "strategy.signals.>",
      nats_trades: "execution.trades.>",
    });
    expect(document.components.messages.nats_price_updates?.examples[0]?.payload).toMatchObject({
      symbol: "AAPL",
      price: 150.25,
    });
  });

  it("carries the seed's frames as examples", () => {
    const { messages } = loadAsyncApi().components;
    // Frames of lossless channels: the seed's fields unchanged, plus the position every such frame carries.
    expect(messages.signal?.examples[0]?.payload).toEqual({
      ...SEED_FRAMES.signal,
      seq: 1041,
      // The short epoch of GATEWAY_SIGNALS@2024-12-19T11:00:00.000000000Z (src/core/epochs.ts).
      epoch: "j6MdjjsBl8Qj",
    });
    expect(messages.trade_executed?.examples[0]?.payload).toEqual({
      ...SEED_FRAMES.trade,
      seq: 1041,
      epoch: "jaE0LMyxxrVh",
    });
    expect(messages.price_update?.examples[0]?.payload).toMatchObject({
      type: "price_update",
      symbols: { AAPL: { price: 150.25, change_pct: 0.33 }, MSFT: { price: 380.5, change: -1.2 } },
    });
    expect(messages.pong?.examples[0]?.payload).toEqual({ type: "pong" });
    expect(messages.subscribe?.examples[0]?.payload).toEqual({
      type: "subscribe",
      channel: "price_updates",
      symbols: ["AAPL", "MSFT"],
    });
  });

  it("has every example valid against its own message schema", () => {
    const validator = new ContractValidator(loadAsyncApi());
    const { messages } = validator.document.components;
    for (const [id, message] of Object.entries(messages)) {
      for (const example of message.examples) expect(validator.problems(id, example.payload), id).toEqual([]);
    }
  });

  it("declares gw_rx and gw_tx, optional integer microseconds, on every data frame of every delivery kind, and a timed frame validates", async () => {
    // The data frames: each loaded channel's frames (lossless, conflated, state), from the plugins.
    const channels = await loadPlugins(DEFAULT_PLUGINS_DIR, loadConfig({}));
    const dataFrames = new Map<string, string>();
    for (const channel of channels)
      for (const schema of frameSchemasOf(channel))
        dataFrames.set(frameTypeOf(schema) as string, channel.kind);
    expect(new Set(dataFrames.values())).toEqual(new Set(["lossless", "conflated", "state"]));

    const validator = new ContractValidator(loadAsyncApi());
    const { document } = validator;
    const payloadOf = (id: string) => {
      const ref = document.components.messages[id]?.payload.$ref as string;
      return document.components.schemas[ref.split("/").pop() as string] as {
        properties?: Record<string, { type?: string; minimum?: number; description?: string }>;
        required: string[];
        additionalProperties?: boolean;
      };
    };
    // Exactly the data frames carry them: no protocol frame (welcome, subscribed, stream_status…).
    const timed = Object.keys(document.channels.websocket?.messages ?? {}).filter(
      (id) => "gw_rx" in (payloadOf(id).properties ?? {}) || "gw_tx" in (payloadOf(id).properties ?? {}),
    );
    expect(timed.sort()).toEqual([...dataFrames.keys()].sort());

    const rxMicros = Date.parse("2024-12-19T12:00:00.100Z") * 1000 + 123;
    const txMicros = rxMicros + 456;
    for (const id of timed) {
      const payload = payloadOf(id);
      for (const field of ["gw_rx", "gw_tx"]) {
        expect(payload.properties?.[field], `${id}.${field}`).toMatchObject({ type: "integer", minimum: 0 });
        expect(payload.properties?.[field]?.description, `${id}.${field}`).toMatch(
          /timing: true.*microseconds since the epoch/,
        );
        // Optional: only a subscription made with timing: true gets them.
        expect(payload.required, `${id}.${field}`).not.toContain(field);
      }
      // No other field may be added: a timed frame is valid because the two are declared.
      expect(payload.additionalProperties, id).toBe(false);

      const untimed = document.components.messages[id]?.examples[0]?.payload as Record<string, unknown>;
      expect(untimed, id).not.toHaveProperty("gw_rx");
      expect(validator.problems(id, untimed), id).toEqual([]);
      // What the gateway writes to a timed subscription: the same frame with the fields spliced in.
      const frame = withTiming(encodeFrame(untimed), rxMicros, txMicros);
      const headerLength = (frame[1] as number) < 126 ? 2 : frame[1] === 126 ? 4 : 10;
      const timedFrame = JSON.parse(frame.subarray(headerLength).toString("utf8"));
      expect(timedFrame, id).toEqual({ ...untimed, gw_rx: rxMicros, gw_tx: txMicros });
      expect(validator.problems(id, timedFrame), id).toEqual([]);
      // The schema does check them: not integers, negative, or another name are rejected.
      expect(validator.problems(id, { ...timedFrame, gw_rx: rxMicros + 0.5 }), id).not.toEqual([]);
      expect(validator.problems(id, { ...timedFrame, gw_tx: -1 }), id).not.toEqual([]);
      expect(validator.problems(id, { ...untimed, gw_rx_us: rxMicros }), id).not.toEqual([]);
    }
  });

  it("rejects frames that break the contract (the contract check can fail)", () => {
    const validator = new ContractValidator(loadAsyncApi());
    expect(validator.frameProblems({ type: "pong", extra: 1 } as { type: string })).not.toEqual([]);
    expect(validator.frameProblems({ type: "signal", symbol: "AAPL" } as { type: string })).not.toEqual([]);
    expect(
      validator.frameProblems({ type: "price_update", symbols: {}, timestamp: "yesterday" } as {
        type: string;
      }),
    ).not.toEqual([]);
    expect(validator.frameProblems({ type: "gossip" })).toEqual([
      'frame type "gossip" is not a message of the websocket channel',
    ]);
  });
});

describe("specs/openapi.json", () => {
  it("validates against the OpenAPI 3 schema", async () => {
    const result = await new Validator().validate(JSON.parse(readFileSync(OPENAPI_FILE, "utf8")));
    expect(result.errors ?? []).toEqual([]);
    expect(result.valid).toBe(true);
  });

  it("documents the REST routes with their response schemas", () => {
    const openapi = JSON.parse(readFileSync(OPENAPI_FILE, "utf8"));
    expect(Object.keys(openapi.paths).sort()).toEqual([
      "/healthz",
      "/metrics",
      "/readyz",
      "/websocket/channels",
      "/websocket/latency",
      "/websocket/status",
    ]);
    const channels =
      openapi.paths["/websocket/channels"].get.responses["200"].content["application/json"].schema;
    expect(Object.keys(channels.additionalProperties.properties)).toEqual([
      "frame_type",
      "update_frame_type",
      "delivery",
      "interval_ms",
      "stale_after_ms",
      "settings",
      "frame_schema",
    ]);
    const status = openapi.paths["/websocket/status"].get.responses["200"].content["application/json"].schema;
    expect(Object.keys(status.properties)).toEqual(STATUS_FIELDS);
    expect(Object.keys(openapi.paths["/readyz"].get.responses).sort()).toEqual(["200", "503"]);
    const latency =
      openapi.paths["/websocket/latency"].get.responses["200"].content["application/json"].schema;
    expect(Object.keys(latency.properties)).toEqual([
      "window_seconds",
      "bucket_seconds",
      "timestamp",
      "channels",
    ]);
    expect(Object.keys(latency.properties.channels.additionalProperties.properties)).toEqual([
      "kind",
      "hop",
      "queue",
      "conflation_wait",
      "upstream_lag",
      "series",
    ]);
  });
});

describe("drift", () => {
  it("the committed documents are what `npm run specs` generates", async () => {
    const generated = await generateContract();
    const advice =
      "the committed contract is stale: run `npm run specs` (and `npm run docs`) and commit the result";
    expect(readFileSync(ASYNCAPI_FILE, "utf8"), `asyncapi.yaml: ${advice}`).toBe(generated.asyncapi);
    expect(readFileSync(OPENAPI_FILE, "utf8"), `specs/openapi.json: ${advice}`).toBe(generated.openapi);
  });

  it("the committed AsyncAPI HTML is what `npm run docs` renders from asyncapi.yaml", async () => {
    const output = mkdtempSync(path.join(tmpdir(), "asyncapi-html-"));
    try {
      const generator = new Generator("@asyncapi/html-template", output, {
        forceWrite: true,
        templateParams: { outFilename: "index.html" },
      });
      await generator.generateFromFile(ASYNCAPI_FILE);
      expect(
        readFileSync(ASYNCAPI_HTML, "utf8") === readFileSync(path.join(output, "index.html"), "utf8"),
        "docs/asyncapi/index.html is stale: run `npm run docs`",
      ).toBe(true);
    } finally {
      rmSync(output, { recursive: true, force: true });
    }
  }, 120_000);
});
