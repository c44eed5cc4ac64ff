/**
 * examples/python-client/gateway_models.py: generated from the committed asyncapi.yaml (drift
 * check), and every example of the document survives a round trip through it. Also shows why the
 * repository generates its own Python models instead of committing Modelina's.
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { PYTHON_JSON_SERIALIZER_PRESET, PythonFileGenerator } from "@asyncapi/modelina";
import { describe, expect, it } from "vitest";
import { ASYNCAPI_FILE } from "../../src/specs/generate.js";
import { PYTHON_MODELS_FILE, renderPythonModels } from "../../src/specs/python-models.js";
import { typeName } from "../../src/specs/type-name.js";
import { loadAsyncApi } from "../helpers/contract.js";
import { python3 } from "../helpers/python3.js";
import { SEED_FRAMES } from "../helpers/seed-frames.js";

/** Run a Python script with `input` as JSON on stdin; its stdout is JSON. */
function runPython(script: string, input: unknown, importPath: string): unknown {
  const result = spawnSync(python3(), ["-c", script], {
    input: JSON.stringify(input),
    encoding: "utf8",
    env: { ...process.env, PYTHONPATH: importPath, PYTHONDONTWRITEBYTECODE: "1" },
  });
  if (result.status !== 0) throw new Error(`python3 failed (${result.status}):\n${result.stderr}`);
  return JSON.parse(result.stdout);
}

const ROUND_TRIP = `
import json, sys
import gateway_models
cases = json.load(sys.stdin)
print(json.dumps([getattr(gateway_models, model).from_dict(payload).to_dict() for model, payload in cases]))
`;

describe("examples/python-client/gateway_models.py", () => {
  it("is what `npm run models:python` generates from the committed asyncapi.yaml", () => {
    expect(
      readFileSync(PYTHON_MODELS_FILE, "utf8") === renderPythonModels(readFileSync(ASYNCAPI_FILE, "utf8")),
      "gateway_models.py is stale: run `npm run models:python` and commit the result",
    ).toBe(true);
  });

  it("round-trips every example of every message: from_dict then to_dict gives the payload back", () => {
    const { schemas, messages } = loadAsyncApi().components;
    const cases = Object.values(messages).flatMap((message) => {
      const schema = schemas[message.payload.$ref.split("/").pop() as string] as { title: string };
      return message.examples.map((example) => [typeName(schema.title), example.payload]);
    });
    expect(cases.length).toBeGreaterThan(20);
    expect(runPython(ROUND_TRIP, cases, path.dirname(PYTHON_MODELS_FILE))).toEqual(
      cases.map(([, payload]) => payload),
    );
  });

  it("ignores fields the document does not name (a frame that gains a field stays readable)", () => {
    const script = `
import json, sys
from gateway_models import parse_server_frame
frame = parse_server_frame(json.load(sys.stdin))
print(json.dumps([type(frame).__name__, frame.side.value, frame.seq, frame.to_dict()]))
`;
    const trade = {
      type: "trade_executed",
      symbol: "AAPL",
      side: "SELL",
      quantity: 5,
      price: 380.5,
      timestamp: "2024-12-19T12:00:00Z",
      seq: 7,
      epoch: "GATEWAY_TRADES@2024-12-19T11:00:00.000000000Z",
    };
    expect(runPython(script, { ...trade, venue: "XNAS" }, path.dirname(PYTHON_MODELS_FILE))).toEqual([
      "TradeExecuted",
      "SELL",
      7,
      trade,
    ]);
  });

  it("is needed: Modelina 5's Python models (with its JSON preset) do not round-trip a frame with the standard library", async () => {
    const output = mkdtempSync(path.join(tmpdir(), "modelina-python-"));
    try {
      await new PythonFileGenerator({ presets: [PYTHON_JSON_SERIALIZER_PRESET] }).generateToFiles(
        readFileSync(ASYNCAPI_FILE, "utf8"),
        path.join(output, "asyncapimodels"),
        { packageName: "asyncapimodels" },
      );
      const script = `
import json, sys
from asyncapimodels.trade_executed import TradeExecuted
from asyncapimodels.resume_position import ResumePosition
from asyncapimodels.price_update import PriceUpdate
from asyncapimodels.subscribe import Subscribe
frames = json.load(sys.stdin)
found = []
try:
    TradeExecuted.deserialize_from_json(json.dumps(frames["trade"]))
except TypeError:
    found.append("deserialize_from_json raises TypeError")
try:
    TradeExecuted(frames["trade"]).serialize_to_json()
except AttributeError:
    found.append("serialize_to_json raises AttributeError on an enum field")
found.append("serialize_to_json writes " + ", ".join(sorted(json.loads(ResumePosition({"seq": 1, "epoch": "e"}).serialize_to_json()))))
found.append("a dict of PriceEntry holds " + type(PriceUpdate(frames["prices"]).symbols["AAPL"]).__name__)
try:
    Subscribe({"type": "subscribe", "channel": "trades"}).since
except AttributeError:
    found.append("an absent optional field raises AttributeError")
print(json.dumps(found))
`;
      const frames = {
        trade: { ...SEED_FRAMES.trade, seq: 1, epoch: "e" },
        prices: {
          type: "price_update",
          symbols: { AAPL: { price: 150.25 } },
          timestamp: "2024-12-19T12:00:00Z",
        },
      };
      expect(runPython(script, frames, output)).toEqual([
        "deserialize_from_json raises TypeError",
        "serialize_to_json raises AttributeError on an enum field",
        "serialize_to_json writes _epoch, _seq",
        "a dict of PriceEntry holds dict",
        "an absent optional field raises AttributeError",
      ]);
    } finally {
      rmSync(output, { recursive: true, force: true });
    }
  });
});
