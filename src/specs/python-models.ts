/**
 * Python models of asyncapi.yaml for third-party clients: one module of standard-library
 * dataclasses and enums, named like Modelina names them (the schemas' titles in PascalCase).
 *
 * Why not Modelina's own Python output: with only the standard library it does not round-trip a
 * frame (its deserialize_from_json passes keyword arguments its constructor does not take, its
 * serialize_to_json writes the private `_field` names, dictionaries of models stay plain dicts, and
 * an absent optional field raises AttributeError). test/contract/python-models.test.ts shows it.
 *
 * The input is the published document only, exactly what a third party has: nothing here reads
 * the zod schemas. Decoding ignores fields the document does not name, so a frame that gains a
 * field (the compatible change the contract allows) does not break a client built from it.
 *
 * Longer than 250 lines on purpose: it is one generator, a walk over the document's schemas that
 * emits one Python module, and most of its length is the Python text it writes out; split, the
 * halves would each need the other's naming and ordering rules.
 */
import path from "node:path";
import { parse as parseYaml } from "yaml";
import { PROJECT_ROOT } from "../project-root.js";
import { typeName } from "./type-name.js";

/** Where `npm run models:python` writes the module, beside the example client that imports it. */
export const PYTHON_MODELS_FILE = path.join(PROJECT_ROOT, "examples", "python-client", "gateway_models.py");

type Schema = Record<string, unknown>;

interface PythonType {
  /** The annotation, e.g. `Dict[str, PriceEntry]`. */
  annotation: string;
  /** Python expression turning the JSON value `value` into this type. */
  decode: (value: string) => string;
  /** Python expression turning `value` of this type back into JSON data. */
  encode: (value: string) => string;
}

interface AsyncApi {
  info: { title: string; version: string };
  channels: Record<string, { address: string }>;
  operations: Record<
    string,
    { action: "send" | "receive"; channel: { $ref: string }; messages: { $ref: string }[] }
  >;
  components: {
    schemas: Record<string, Schema>;
    messages: Record<string, { payload: { $ref: string } }>;
  };
}

const PYTHON_KEYWORDS = new Set(
  "False None True and as assert async await break class continue def del elif else except finally for from global if import in is lambda nonlocal not or pass raise return try while with yield".split(
    " ",
  ),
);

const identity = (value: string) => value;

function attributeName(property: string): string {
  const name = property.replace(/[^A-Za-z0-9_]/g, "_");
  return PYTHON_KEYWORDS.has(name) ? `${name}_` : name;
}

function enumMemberName(value: string): string {
  const name = value.toUpperCase().replace(/[^A-Z0-9]+/g, "_");
  return /^[0-9]/.test(name) ? `_${name}` : name;
}

function pythonString(text: string): string {
  return JSON.stringify(text);
}

function docstring(text: string | undefined, indent: string): string[] {
  if (!text) return [];
  return [`${indent}"""${text.replaceAll("\\", "\\\\").replaceAll('"""', '\\"\\"\\"')}"""`];
}

class ModuleBuilder {
  private readonly aliases: string[][] = [];
  private readonly definitions: string[][] = [];
  private readonly named = new Map<string, PythonType>();

  /** The Python type of a schema; titled objects, enums and unions become named definitions. */
  typeOf(schema: Schema, where: string): PythonType {
    if (typeof schema.title === "string") {
      const name = typeName(schema.title);
      const known = this.named.get(name);
      if (known) return known;
      const defined = this.define(name, schema, where);
      this.named.set(name, defined);
      return defined;
    }
    return this.anonymousTypeOf(schema, where);
  }

  private anonymousTypeOf(schema: Schema, where: string): PythonType {
    if (schema.const !== undefined) {
      return { annotation: `Literal[${JSON.stringify(schema.const)}]`, decode: identity, encode: identity };
    }
    if (Array.isArray(schema.enum)) {
      const literals = schema.enum.map((value) => JSON.stringify(value)).join(", ");
      return { annotation: `Literal[${literals}]`, decode: identity, encode: identity };
    }
    const union = (schema.anyOf ?? schema.oneOf) as Schema[] | undefined;
    if (union) {
      const members = union.map((member, position) => this.typeOf(member, `${where}|${position}`));
      // Only unions of plain JSON values: deciding which member a value is would need a discriminator.
      const needsConversion = members.some(
        (member) => member.decode("x") !== "x" || member.encode("x") !== "x",
      );
      if (needsConversion) throw new Error(`${where}: a union of models is not supported`);
      return {
        annotation: `Union[${members.map((member) => member.annotation).join(", ")}]`,
        decode: identity,
        encode: identity,
      };
    }
    switch (schema.type) {
      case "string":
        return { annotation: "str", decode: identity, encode: identity };
      case "integer":
        return { annotation: "int", decode: identity, encode: identity };
      case "number":
        return { annotation: "float", decode: identity, encode: identity };
      case "boolean":
        return { annotation: "bool", decode: identity, encode: identity };
      case "array": {
        const item = this.typeOf((schema.items ?? {}) as Schema, `${where}[]`);
        if (item.decode("x") === "x" && item.encode("x") === "x")
          return { annotation: `List[${item.annotation}]`, decode: identity, encode: identity };
        return {
          annotation: `List[${item.annotation}]`,
          decode: (value) => `[${item.decode("item")} for item in ${value}]`,
          encode: (value) => `[${item.encode("item")} for item in ${value}]`,
        };
      }
      case "object": {
        if (schema.properties !== undefined) throw new Error(`${where}: an object schema needs a title`);
        const values = schema.additionalProperties;
        if (values === undefined || values === true || values === false)
          return { annotation: "Dict[str, Any]", decode: identity, encode: identity };
        const item = this.typeOf(values as Schema, `${where}{}`);
        if (item.decode("x") === "x" && item.encode("x") === "x")
          return { annotation: `Dict[str, ${item.annotation}]`, decode: identity, encode: identity };
        return {
          annotation: `Dict[str, ${item.annotation}]`,
          decode: (value) => `{key: ${item.decode("item")} for key, item in ${value}.items()}`,
          encode: (value) => `{key: ${item.encode("item")} for key, item in ${value}.items()}`,
        };
      }
      default:
        return { annotation: "Any", decode: identity, encode: identity };
    }
  }

  private define(name: string, schema: Schema, where: string): PythonType {
    if (Array.isArray(schema.enum)) return this.defineEnum(name, schema);
    if (schema.type === "object" && schema.properties !== undefined)
      return this.defineClass(name, schema, where);
    // A titled union or primitive: a type alias, so the annotation still says what it is.
    const { title: _title, ...rest } = schema;
    const inner = this.anonymousTypeOf(rest, where);
    this.aliases.push([
      ...(schema.description ? [`#: ${schema.description}`] : []),
      `${name} = ${inner.annotation}`,
    ]);
    return { ...inner, annotation: name };
  }

  private defineEnum(name: string, schema: Schema): PythonType {
    const values = schema.enum as string[];
    this.definitions.push([
      `class ${name}(str, Enum):`,
      ...docstring(schema.description as string | undefined, "    "),
      ...values.map((value) => `    ${enumMemberName(value)} = ${pythonString(value)}`),
    ]);
    return { annotation: name, decode: (value) => `${name}(${value})`, encode: (value) => `${value}.value` };
  }

  private defineClass(name: string, schema: Schema, where: string): PythonType {
    const properties = schema.properties as Record<string, Schema>;
    const required = new Set((schema.required as string[] | undefined) ?? []);
    const fields = Object.entries(properties).map(([property, propertySchema]) => ({
      property,
      attribute: attributeName(property),
      schema: propertySchema,
      type: this.typeOf(propertySchema, `${where}.${property}`),
      constant: propertySchema.const,
      required: required.has(property),
    }));
    // Dataclass fields with defaults come last: required ones, then the constant `type`, then optional ones.
    const ordered = [
      ...fields.filter((field) => field.required && field.constant === undefined),
      ...fields.filter((field) => field.constant !== undefined),
      ...fields.filter((field) => !field.required && field.constant === undefined),
    ];
    const lines = [
      "@dataclass",
      `class ${name}:`,
      ...docstring(schema.description as string | undefined, "    "),
      "",
      ...ordered.flatMap((field) => {
        const comment =
          typeof field.schema.description === "string" ? [`    #: ${field.schema.description}`] : [];
        if (field.constant !== undefined)
          return [
            ...comment,
            `    ${field.attribute}: ${field.type.annotation} = ${JSON.stringify(field.constant)}`,
          ];
        if (field.required) return [...comment, `    ${field.attribute}: ${field.type.annotation}`];
        return [...comment, `    ${field.attribute}: Optional[${field.type.annotation}] = None`];
      }),
      "",
      "    @classmethod",
      `    def from_dict(cls, data: Dict[str, Any]) -> ${name}:`,
      `        """Build from decoded JSON; fields the document does not name are ignored."""`,
      "        return cls(",
      ...ordered
        .filter((field) => field.constant === undefined)
        .map((field) => {
          const key = pythonString(field.property);
          if (field.required) return `            ${field.attribute}=${field.type.decode(`data[${key}]`)},`;
          const decoded = field.type.decode(`data[${key}]`);
          return decoded === `data[${key}]`
            ? `            ${field.attribute}=data.get(${key}),`
            : `            ${field.attribute}=${decoded} if ${key} in data else None,`;
        }),
      "        )",
      "",
      "    def to_dict(self) -> Dict[str, Any]:",
      `        """As JSON data, in the document's field order; absent optional fields are left out."""`,
      "        data: Dict[str, Any] = {}",
      ...fields.flatMap((field) => {
        const key = pythonString(field.property);
        const value = field.type.encode(`self.${field.attribute}`);
        if (field.required || field.constant !== undefined) return [`        data[${key}] = ${value}`];
        return [`        if self.${field.attribute} is not None:`, `            data[${key}] = ${value}`];
      }),
      "        return data",
    ];
    this.definitions.push(lines);
    return {
      annotation: name,
      decode: (value) => `${name}.from_dict(${value})`,
      encode: (value) => `${value}.to_dict()`,
    };
  }

  render(header: string[], footer: string[]): string {
    const blocks = [header, ...this.aliases, ...this.definitions, footer];
    return `${blocks.map((block) => block.join("\n")).join("\n\n\n")}\n`;
  }
}

/** The whole module, from the text of asyncapi.yaml. */
export function renderPythonModels(asyncApiText: string): string {
  const document = parseYaml(asyncApiText) as AsyncApi;
  const builder = new ModuleBuilder();
  const payloadType = (messageId: string) => {
    const ref = document.components.messages[messageId]?.payload.$ref ?? "";
    const key = ref.split("/").pop() ?? "";
    const schema = document.components.schemas[key];
    if (!schema) throw new Error(`message ${messageId}: no payload schema ${ref}`);
    return builder.typeOf(schema, key).annotation;
  };
  const frames = { send: [] as [string, string][], receive: [] as [string, string][] };
  for (const messageId of Object.keys(document.components.messages)) payloadType(messageId);
  for (const operation of Object.values(document.operations)) {
    if (operation.channel.$ref !== "#/channels/websocket") continue;
    for (const message of operation.messages) {
      const messageId = message.$ref.split("/").pop() ?? "";
      frames[operation.action].push([messageId, payloadType(messageId)]);
    }
  }
  const table = (name: string, entries: [string, string][], comment: string) => [
    `#: ${comment}`,
    `${name}: Dict[str, Any] = {`,
    ...entries.map(([type, model]) => `    ${pythonString(type)}: ${model},`),
    "}",
  ];
  const header = [
    `"""Models of the ${document.info.title}'s messages (AsyncAPI info.version ${document.info.version}).`,
    "",
    "Generated by `npm run models:python` from asyncapi.yaml. Do not edit.",
    '"""',
    "",
    "from __future__ import annotations",
    "",
    "from dataclasses import dataclass",
    "from enum import Enum",
    "from typing import Any, Dict, List, Literal, Optional, Union",
    "",
    `#: The info.version of the document these models were generated from.`,
    `ASYNCAPI_VERSION = ${pythonString(document.info.version)}`,
  ];
  const footer = [
    ...table("SERVER_FRAMES", frames.send, "Frames the gateway sends on the WebSocket, by their `type`."),
    "",
    ...table("CLIENT_FRAMES", frames.receive, "Frames a client may send on the WebSocket, by their `type`."),
    "",
    "",
    "def parse_server_frame(data: Dict[str, Any]) -> Optional[Any]:",
    '    """The model of a decoded server frame, or None for a frame type these models do not know."""',
    '    model = SERVER_FRAMES.get(data.get("type"))',
    "    return model.from_dict(data) if model is not None else None",
  ];
  return builder.render(header, footer);
}
