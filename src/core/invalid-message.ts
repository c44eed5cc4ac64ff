/**
 * The text of INVALID_MESSAGE and UNKNOWN_MESSAGE_TYPE error frames: the seed's "Invalid message
 * format", then the field and the rule it broke, e.g.
 * `Invalid message format: since.seq must be a non-negative integer`.
 *
 * The rule is read from the frame's own zod schema (as JSON Schema, a public and stable shape), not
 * written by hand per field, so a field added to a frame is explained without an edit here. Only
 * what the schema cannot know is given from outside: rules that depend on settings, such as
 * interval_ms's range (WEBSOCKET_MIN_INTERVAL_MS).
 *
 * Nothing the client sent is echoed unbounded: field names come from the schema, and the one echo
 * (an unknown `type`) goes through `quoteClientText`.
 */
import { z } from "zod";
import { ErrorCodes } from "./errors.js";
import { CLIENT_FRAME_TYPES, CLIENT_FRAMES } from "./protocol.js";

/** Longest piece of client text an error message repeats. */
const MAX_ECHOED_CHARS = 64;

export const NOT_JSON = "the message is not valid JSON";
export const NOT_AN_OBJECT = "the message must be a JSON object";
export const BINARY_FRAME = "binary frames are not accepted; send the JSON message as text";

/** The seed's "Invalid message format", then what to fix. */
export function invalidMessage(rule: string): string {
  return `${ErrorCodes.INVALID_MESSAGE.message}: ${rule}`;
}

/** Client text quoted for an error message: JSON-escaped, and cut to 64 characters. */
export function quoteClientText(text: string): string {
  return JSON.stringify(text.length > MAX_ECHOED_CHARS ? `${text.slice(0, MAX_ECHOED_CHARS)}…` : text);
}

export interface FrameProblem {
  code: "INVALID_MESSAGE" | "UNKNOWN_MESSAGE_TYPE";
  error: string;
}

/** The subset of JSON Schema that zod writes for the client frames. */
export interface SchemaNode {
  type?: string;
  const?: unknown;
  enum?: unknown[];
  anyOf?: SchemaNode[];
  oneOf?: SchemaNode[];
  minimum?: number;
  maximum?: number;
  exclusiveMinimum?: number;
  exclusiveMaximum?: number;
  minLength?: number;
  maxLength?: number;
  items?: SchemaNode;
  minItems?: number;
  properties?: Record<string, SchemaNode>;
  required?: string[];
}

const TYPE_RULE = `one of ${CLIENT_FRAME_TYPES.join(", ")}`;

/** Each client frame's JSON Schema, by its `type`. */
const FRAME_SCHEMAS: ReadonlyMap<string, SchemaNode> = new Map(
  CLIENT_FRAMES.map((frame) => [
    frame.shape.type.value,
    z.toJSONSchema(frame, { io: "input", unrepresentable: "any" }) as SchemaNode,
  ]),
);

export class InvalidMessages {
  /**
   * @param fieldRules what a field must be where the schema alone cannot say, by path
   *   (`{ interval_ms: "an integer from 100 to 60000" }`); it wins over the schema's rule.
   */
  constructor(private readonly fieldRules: Readonly<Record<string, string>>) {}

  /** `interval_ms must be an integer from 100 to 60000`: a field's rule, for a check made after the schema. */
  mustBe(field: string): string {
    return invalidMessage(`${field} must be ${this.fieldRules[field] ?? "valid"}`);
  }

  /** Why a parsed JSON value is not a client frame: the first problem zod found, in words. */
  explain(raw: unknown, error: z.ZodError): FrameProblem {
    if (typeof raw !== "object" || raw === null || Array.isArray(raw))
      return { code: "INVALID_MESSAGE", error: invalidMessage(NOT_AN_OBJECT) };
    const { type } = raw as { type?: unknown };
    if (type === undefined)
      return { code: "INVALID_MESSAGE", error: invalidMessage(`type is required: ${TYPE_RULE}`) };
    const frameSchema = typeof type === "string" ? FRAME_SCHEMAS.get(type) : undefined;
    if (frameSchema === undefined) {
      // A string that names no frame is the client speaking another protocol (or version): its
      // own code. Anything else in `type` is a malformed frame.
      if (typeof type === "string")
        return {
          code: "UNKNOWN_MESSAGE_TYPE",
          error: invalidMessage(`unknown type ${quoteClientText(type)}: type must be ${TYPE_RULE}`),
        };
      return { code: "INVALID_MESSAGE", error: invalidMessage(`type must be ${TYPE_RULE}`) };
    }
    const issue = error.issues[0];
    return {
      code: "INVALID_MESSAGE",
      error: invalidMessage(this.ruleAt(frameSchema, raw, issue?.path ?? [])),
    };
  }

  /**
   * "since.seq must be a non-negative integer", or "channel is required (a string of 1 to 64
   * characters)". The path is followed as far as the schema names it: a bad element of a union
   * such as `symbols` is explained by the whole field's rule.
   */
  private ruleAt(frameSchema: SchemaNode, raw: object, path: readonly PropertyKey[]): string {
    let node = frameSchema;
    let value: unknown = raw;
    let field = "";
    for (const key of path) {
      const next =
        typeof key === "string" ? node.properties?.[key] : typeof key === "number" ? node.items : undefined;
      if (next === undefined) break;
      node = next;
      value = (value as Record<PropertyKey, unknown> | undefined)?.[key];
      field += typeof key === "number" ? `[${key}]` : field === "" ? String(key) : `.${String(key)}`;
    }
    if (field === "") return NOT_AN_OBJECT;
    const rule = this.fieldRules[field] ?? describeSchema(node);
    return value === undefined ? `${field} is required (${rule})` : `${field} must be ${rule}`;
  }
}

/** What a value of this JSON Schema is, in words: "a string of 1 to 64 characters". */
export function describeSchema(node: SchemaNode): string {
  if (node.const !== undefined) return JSON.stringify(node.const);
  if (node.enum !== undefined) return `one of ${node.enum.map((value) => JSON.stringify(value)).join(", ")}`;
  const alternatives = node.anyOf ?? node.oneOf;
  if (alternatives !== undefined) return alternatives.map(describeSchema).join(" or ");
  switch (node.type) {
    case "integer":
      return describeNumber(node, "integer");
    case "number":
      return describeNumber(node, "number");
    case "string":
      return describeString(node);
    case "boolean":
      return "true or false";
    case "array":
      return describeArray(node);
    case "object": {
      const required = node.required ?? [];
      return required.length === 0 ? "an object" : `an object with ${listed(required)}`;
    }
    default:
      return "valid";
  }
}

function describeNumber(node: SchemaNode, noun: "integer" | "number"): string {
  // zod writes the safe-integer range of .int() as bounds; they are no rule a person needs.
  const bound = (value: number | undefined) =>
    value !== undefined && Math.abs(value) < Number.MAX_SAFE_INTEGER ? value : undefined;
  const min = bound(node.minimum);
  const max = bound(node.maximum);
  const above = bound(node.exclusiveMinimum);
  const below = bound(node.exclusiveMaximum);
  const article = noun === "integer" ? "an" : "a";
  if (max === undefined && below === undefined) {
    if (min === 0) return `a non-negative ${noun}`;
    if (above === 0) return `a positive ${noun}`;
  }
  if (min !== undefined && max !== undefined) return `${article} ${noun} from ${min} to ${max}`;
  const limits = [
    min === undefined ? undefined : `at least ${min}`,
    above === undefined ? undefined : `greater than ${above}`,
    max === undefined ? undefined : `at most ${max}`,
    below === undefined ? undefined : `less than ${below}`,
  ].filter((limit) => limit !== undefined);
  return limits.length === 0 ? `${article} ${noun}` : `${article} ${noun} ${limits.join(" and ")}`;
}

function describeString(node: SchemaNode): string {
  const { minLength: min, maxLength: max } = node;
  if (min !== undefined && max !== undefined)
    return min === max ? `a string of ${min} characters` : `a string of ${min} to ${max} characters`;
  if (max !== undefined) return `a string of at most ${max} characters`;
  if (min === 1) return "a non-empty string";
  if (min !== undefined) return `a string of at least ${min} characters`;
  return "a string";
}

/** Plural nouns of the element types an array is plainly "an array of". */
const PLURALS: Readonly<Record<string, string>> = {
  string: "strings",
  integer: "integers",
  number: "numbers",
  boolean: "booleans",
  object: "objects",
};

function describeArray(node: SchemaNode): string {
  const { items } = node;
  const plain =
    items?.type !== undefined && Object.keys(items).length === 1 ? PLURALS[items.type] : undefined;
  const of =
    items === undefined ? "" : plain ? ` of ${plain}` : ` whose items are each ${describeSchema(items)}`;
  return node.minItems === 1 ? `a non-empty array${of}` : `an array${of}`;
}

/** "a", "a and b", "a, b and c" */
function listed(names: readonly string[]): string {
  return names.length <= 1 ? names.join("") : `${names.slice(0, -1).join(", ")} and ${names.at(-1)}`;
}
