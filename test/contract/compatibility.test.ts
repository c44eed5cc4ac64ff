/**
 * The compatibility promise of asyncapi.yaml: within one info.version a frame only gains fields
 * compatibly; anything else is a new info.version. specs/asyncapi-published.yaml is the document as
 * first published under the current version; the committed document must be a compatible growth of
 * it. The checker itself is shown to accept what the promise allows and refuse the rest.
 */
import { readFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { parse as parseYaml, stringify as toYaml } from "yaml";
import { PROJECT_ROOT } from "../../src/project-root.js";
import { incompatibleChanges } from "../../src/specs/compatibility.js";
import { ASYNCAPI_FILE } from "../../src/specs/generate.js";

const PUBLISHED_FILE = path.join(PROJECT_ROOT, "specs", "asyncapi-published.yaml");
const current = readFileSync(ASYNCAPI_FILE, "utf8");

type Schema = { properties: Record<string, Record<string, unknown>>; required: string[]; title: string };

/** The current document with one payload schema changed by `edit`. */
function edited(schemaKey: string, edit: (schema: Schema) => void): string {
  const document = parseYaml(current);
  edit(document.components.schemas[schemaKey]);
  return toYaml(document);
}

describe("asyncapi.yaml keeps the compatibility promise", () => {
  it("is the published document of its info.version, grown only compatibly", () => {
    const published = readFileSync(PUBLISHED_FILE, "utf8");
    const version = (text: string) => (parseYaml(text) as { info: { version: string } }).info.version;
    expect(
      version(current),
      `info.version changed: record the new version's document with \`cp asyncapi.yaml ${path.relative(PROJECT_ROOT, PUBLISHED_FILE)}\``,
    ).toBe(version(published));
    expect(
      incompatibleChanges(published, current),
      "incompatible changes within one info.version: bump VERSION in src/specs/asyncapi.ts, run `npm run specs`, and record the new published document",
    ).toEqual([]);
  });

  it("allows a frame the gateway sends to gain a field, and a frame it receives to gain an optional one", () => {
    const grown = edited("TradeExecutedPayload", (schema) => {
      schema.properties.venue = { type: "string" };
      schema.required.push("venue");
    });
    expect(incompatibleChanges(current, grown)).toEqual([]);
    const optional = edited("SubscribePayload", (schema) => {
      schema.properties.note = { type: "string" };
    });
    expect(incompatibleChanges(current, optional)).toEqual([]);
  });

  it("refuses everything else: removed, retyped, newly required or optional fields, enums, renamed types, new messages", () => {
    expect(
      incompatibleChanges(
        current,
        edited("TradeExecutedPayload", (schema) => delete schema.properties.price),
      ),
    ).toEqual(["trade_executed.price: removed"]);
    expect(
      incompatibleChanges(
        current,
        edited("TradeExecutedPayload", (schema) => {
          schema.properties.quantity = { type: "string" };
        }),
      ),
    ).toEqual(['trade_executed.quantity: type "number" became "string"']);
    expect(
      incompatibleChanges(
        current,
        edited("TradeExecutedPayload", (schema) => {
          schema.required = schema.required.filter((name) => name !== "seq");
        }),
      ),
    ).toEqual(["trade_executed.seq: was always sent, now optional"]);
    expect(
      incompatibleChanges(
        current,
        edited("SubscribePayload", (schema) => {
          schema.properties.note = { type: "string" };
          schema.required.push("note");
        }),
      ),
    ).toEqual(["subscribe.note: newly required of senders"]);
    expect(
      incompatibleChanges(
        current,
        edited("TradeExecutedPayload", (schema) => {
          (schema.properties.side as { enum: string[] }).enum.push("SHORT");
        }),
      ),
    ).toEqual(['trade_executed.side: enum ["BUY","SELL"] became ["BUY","SELL","SHORT"]']);
    expect(
      incompatibleChanges(
        current,
        edited("PriceUpdatePayload", (schema) => {
          schema.title = "PriceFrame";
        }),
      ),
    ).toEqual(['price_update: title "PriceUpdate" became "PriceFrame"']);
    const withNewMessage = parseYaml(current);
    withNewMessage.components.messages.news = withNewMessage.components.messages.signal;
    expect(incompatibleChanges(current, toYaml(withNewMessage))).toEqual(["message news: added"]);
  });
});
