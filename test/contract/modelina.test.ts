/**
 * A third party builds its client from asyncapi.yaml alone, usually with AsyncAPI's own model
 * generator, Modelina. Run on the committed document, it must give every message and every nested
 * object or enum a clean type name: no `AnonymousSchema_N`, no `...RoundleftUpstreamRoundright`
 * made of a title's punctuation.
 */
import { readFileSync } from "node:fs";
import {
  CSharpGenerator,
  DartGenerator,
  GoGenerator,
  JavaGenerator,
  KotlinGenerator,
  type OutputModel,
  PhpGenerator,
  PythonGenerator,
  RustGenerator,
  ScalaGenerator,
  TypeScriptGenerator,
} from "@asyncapi/modelina";
import { describe, expect, it } from "vitest";
import { ASYNCAPI_FILE } from "../../src/specs/generate.js";
import { loadAsyncApi } from "../helpers/contract.js";

/** Models Modelina makes of the document today (a frame that gains a titled field adds one). */
const MODEL_NAMES = [
  "Ping",
  "Subscribe",
  "ChannelName",
  "ResumePosition",
  "Unsubscribe",
  "Auth",
  "Welcome",
  "StreamState",
  "StreamLiveness",
  "StaleReason",
  "ChannelPosition",
  "ChannelInfo",
  "ChannelDelivery",
  "Subscribed",
  "ResumeFailure",
  "Unsubscribed",
  "Pong",
  "Error",
  "ErrorCode",
  "Authenticated",
  "Replayed",
  "StreamStatus",
  "DeliveryStatus",
  "StateStatus",
  "ShutdownNotice",
  "OrderBookSnapshot",
  "OrderBookUpdate",
  "UpstreamBookMessage",
  "BookMessageKind",
  "PortfolioUpdate",
  "PortfolioData",
  "PortfolioPosition",
  "PriceUpdate",
  "PriceEntry",
  "TradingSignal",
  "SignalType",
  "TradeExecuted",
  "TradeSide",
  "UpstreamPortfolioSnapshot",
  "UpstreamPortfolioPosition",
  "UpstreamPriceTick",
  "UpstreamTradingSignal",
  "UpstreamTradeExecution",
];

/** The model of each message's payload: WebSocket frames as they are, NATS payloads "Upstream...". */
const MESSAGE_MODELS = {
  ping: "Ping",
  subscribe: "Subscribe",
  unsubscribe: "Unsubscribe",
  auth: "Auth",
  welcome: "Welcome",
  subscribed: "Subscribed",
  unsubscribed: "Unsubscribed",
  pong: "Pong",
  error: "Error",
  authenticated: "Authenticated",
  replayed: "Replayed",
  stream_status: "StreamStatus",
  delivery_status: "DeliveryStatus",
  state_status: "StateStatus",
  shutdown_notice: "ShutdownNotice",
  order_book_snapshot: "OrderBookSnapshot",
  order_book_update: "OrderBookUpdate",
  portfolio_update: "PortfolioUpdate",
  price_update: "PriceUpdate",
  signal: "TradingSignal",
  trade_executed: "TradeExecuted",
  nats_order_books: "UpstreamBookMessage",
  nats_portfolio: "UpstreamPortfolioSnapshot",
  nats_price_updates: "UpstreamPriceTick",
  nats_signals: "UpstreamTradingSignal",
  nats_trades: "UpstreamTradeExecution",
};

/** PascalCase words of letters and digits, nothing else. */
const CLEAN_NAME = /^(?:[A-Z][a-z0-9]*)+$/;
/** What Modelina makes of an untitled schema or of a title's punctuation. */
const MANGLED = /Anonymous|Round(?:left|right)|Square|Curly|Dollar|Hyphen|Dot|Colon|Slash|Comma|Space/;

const document = readFileSync(ASYNCAPI_FILE, "utf8");

function schemaIdOf(model: OutputModel): string {
  return String((model.model.originalInput as Record<string, unknown>)["x-parser-schema-id"]);
}

function messageModels(models: OutputModel[]): Record<string, string | undefined> {
  const { messages } = loadAsyncApi().components;
  return Object.fromEntries(
    Object.entries(messages).map(([id, message]) => {
      const schemaId = message.payload.$ref.split("/").pop();
      return [id, models.find((model) => schemaIdOf(model) === schemaId)?.modelName];
    }),
  );
}

/** Every schema in the document that a generator may turn into a type: objects, enums and unions. */
function namedTypeSchemas(): { path: string; schema: Record<string, unknown> }[] {
  const found: { path: string; schema: Record<string, unknown> }[] = [];
  const walk = (node: unknown, path: string) => {
    if (Array.isArray(node)) {
      for (const [position, item] of node.entries()) walk(item, `${path}[${position}]`);
      return;
    }
    if (node === null || typeof node !== "object") return;
    const schema = node as Record<string, unknown>;
    const isObject = schema.type === "object" && schema.properties !== undefined;
    const isUnion = Array.isArray(schema.anyOf) || Array.isArray(schema.oneOf);
    if (isObject || isUnion || Array.isArray(schema.enum)) found.push({ path, schema });
    for (const [key, value] of Object.entries(schema)) {
      if (key !== "examples" && key !== "enum") walk(value, `${path}.${key}`);
    }
  };
  for (const [key, schema] of Object.entries(loadAsyncApi().components.schemas)) walk(schema, key);
  return found;
}

describe("models generated from asyncapi.yaml with Modelina", () => {
  it("TypeScript: every model has a clean PascalCase name, none anonymous or mangled", async () => {
    const models = await new TypeScriptGenerator({ modelType: "interface" }).generate(document);
    const names = models.map((model) => model.modelName);
    expect(names.filter((name) => !CLEAN_NAME.test(name) || MANGLED.test(name))).toEqual([]);
    expect(names).toEqual(expect.arrayContaining(MODEL_NAMES));
    expect(new Set(names).size).toBe(names.length);
  });

  it("Python: every model has a clean PascalCase name, none anonymous or mangled", async () => {
    const models = await new PythonGenerator().generate(document);
    const names = models.map((model) => model.modelName);
    expect(names.filter((name) => !CLEAN_NAME.test(name) || MANGLED.test(name))).toEqual([]);
    expect(names).toEqual(expect.arrayContaining(MODEL_NAMES));
    expect(new Set(names).size).toBe(names.length);
  });

  it("every message of the document has a model, for TypeScript and Python alike", async () => {
    const typescript = await new TypeScriptGenerator({ modelType: "interface" }).generate(document);
    const python = await new PythonGenerator().generate(document);
    for (const models of [typescript, python]) {
      const byMessage = messageModels(models);
      expect(Object.entries(byMessage).filter(([, model]) => model === undefined)).toEqual([]);
      expect(byMessage).toMatchObject(MESSAGE_MODELS);
    }
  });
});

/** Modelina's other generators that name types in PascalCase (C++ uses snake_case by design). */
const OTHER_LANGUAGES = {
  Java: () => new JavaGenerator(),
  "C#": () => new CSharpGenerator(),
  Go: () => new GoGenerator(),
  Kotlin: () => new KotlinGenerator(),
  Rust: () => new RustGenerator(),
  Dart: () => new DartGenerator(),
  PHP: () => new PhpGenerator(),
  Scala: () => new ScalaGenerator(),
};

describe("models for other languages", () => {
  it.each(Object.entries(OTHER_LANGUAGES))("%s: the same clean names", async (_language, generator) => {
    // Java renders no unions (an empty model without a name); every other model must be named.
    const names = (await generator().generate(document))
      .filter((model) => model.result !== "")
      .map((model) => model.modelName);
    expect(names.filter((name) => !CLEAN_NAME.test(name) || MANGLED.test(name))).toEqual([]);
    expect(names).toEqual(expect.arrayContaining(MODEL_NAMES));
  });

  it("Java: leaves out exactly the unions, which Java has no type for", async () => {
    const skipped = (await new JavaGenerator().generate(document))
      .filter((model) => model.result === "")
      .map((model) => model.model.name);
    expect(skipped).toEqual(["MessageId", "SymbolSelection", "SubscriptionState"]);
  });
});

describe("titles in asyncapi.yaml", () => {
  it("every object, enum and union schema, nested ones included, has a type name for a title", () => {
    const untitled = namedTypeSchemas()
      .filter(({ schema }) => typeof schema.title !== "string" || !CLEAN_NAME.test(schema.title))
      .map(({ path, schema }) => `${path}: ${String(schema.title)}`);
    expect(untitled).toEqual([]);
  });

  it("one title names one shape: a generator that merges by name loses nothing", () => {
    // Descriptions may differ where a schema is used; the shape under one title may not.
    const shape = (schema: unknown): string =>
      JSON.stringify(schema, (key, value) =>
        key === "description" || key === "examples" ? undefined : value,
      );
    const shapes = new Map<string, Set<string>>();
    for (const { schema } of namedTypeSchemas()) {
      const title = String(schema.title);
      shapes.set(title, (shapes.get(title) ?? new Set()).add(shape(schema)));
    }
    const ambiguous = [...shapes].filter(([, variants]) => variants.size > 1).map(([title]) => title);
    expect(ambiguous).toEqual([]);
  });
});
