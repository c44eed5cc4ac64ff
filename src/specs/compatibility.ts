/**
 * The contract's compatibility promise, as a check: within one `info.version` of asyncapi.yaml a
 * frame may only gain fields compatibly. Anything else needs a new `info.version`.
 *
 * Compatible, within a version:
 * - a frame the gateway sends gains a field (readers ignore fields they do not know);
 * - a frame or payload the gateway receives (client frames, NATS payloads) gains an optional field.
 * Everything else is a change a client built from the older document can trip over: a message
 * added or removed, a field removed or retyped, a field a reader relied on made optional, a new
 * required field for senders, a changed enum or constant, or a renamed type (a changed title renames
 * the generated class).
 */
import { parse as parseYaml } from "yaml";

type Schema = Record<string, unknown>;

interface Document {
  info: { version: string };
  channels: Record<string, unknown>;
  operations: Record<string, { action: "send" | "receive"; messages: { $ref: string }[] }>;
  components: { schemas: Record<string, Schema>; messages: Record<string, { payload: { $ref: string } }> };
}

/** Who writes a message: the gateway ("send") or its clients and upstream services ("receive"). */
type Writer = "gateway" | "others";

function payloadOf(document: Document, messageId: string): Schema | undefined {
  const ref = document.components.messages[messageId]?.payload.$ref ?? "";
  return document.components.schemas[ref.split("/").pop() ?? ""];
}

function writersOf(document: Document): Map<string, Writer> {
  const writers = new Map<string, Writer>();
  for (const operation of Object.values(document.operations))
    for (const message of operation.messages)
      writers.set(message.$ref.split("/").pop() ?? "", operation.action === "send" ? "gateway" : "others");
  return writers;
}

function same(left: unknown, right: unknown): boolean {
  return JSON.stringify(left) === JSON.stringify(right);
}

function compareSchemas(
  before: Schema,
  after: Schema,
  writer: Writer,
  path: string,
  problems: string[],
): void {
  for (const key of ["type", "const", "title"] as const) {
    if (!same(before[key], after[key]))
      problems.push(`${path}: ${key} ${JSON.stringify(before[key])} became ${JSON.stringify(after[key])}`);
  }
  if (!same(before.enum, after.enum))
    problems.push(`${path}: enum ${JSON.stringify(before.enum)} became ${JSON.stringify(after.enum)}`);

  const beforeProperties = (before.properties ?? {}) as Record<string, Schema>;
  const afterProperties = (after.properties ?? {}) as Record<string, Schema>;
  const beforeRequired = new Set((before.required as string[] | undefined) ?? []);
  const afterRequired = new Set((after.required as string[] | undefined) ?? []);
  for (const [name, schema] of Object.entries(beforeProperties)) {
    const next = afterProperties[name];
    if (next === undefined) {
      problems.push(`${path}.${name}: removed`);
      continue;
    }
    compareSchemas(schema, next, writer, `${path}.${name}`, problems);
    if (writer === "gateway" && beforeRequired.has(name) && !afterRequired.has(name))
      problems.push(`${path}.${name}: was always sent, now optional`);
  }
  if (writer === "others") {
    for (const name of afterRequired)
      if (!beforeRequired.has(name)) problems.push(`${path}.${name}: newly required of senders`);
  }

  for (const key of ["items", "additionalProperties", "propertyNames"] as const) {
    const left = before[key];
    const right = after[key];
    if (typeof left === "object" && left !== null && typeof right === "object" && right !== null)
      compareSchemas(
        left as Schema,
        right as Schema,
        writer,
        `${path}${key === "items" ? "[]" : "{}"}`,
        problems,
      );
    else if (!same(left, right)) problems.push(`${path}: ${key} changed`);
  }
  for (const key of ["anyOf", "oneOf"] as const) {
    const left = (before[key] ?? []) as Schema[];
    const right = (after[key] ?? []) as Schema[];
    if (left.length !== right.length)
      problems.push(`${path}: ${key} has ${left.length} members, now ${right.length}`);
    else
      for (const [position, member] of left.entries())
        compareSchemas(member, right[position] as Schema, writer, `${path}|${position}`, problems);
  }
}

/** What breaks the promise between two texts of asyncapi.yaml with the same `info.version` ([] if nothing). */
export function incompatibleChanges(beforeText: string, afterText: string): string[] {
  const before = parseYaml(beforeText) as Document;
  const after = parseYaml(afterText) as Document;
  const problems: string[] = [];
  const beforeMessages = Object.keys(before.components.messages);
  const afterMessages = Object.keys(after.components.messages);
  for (const id of afterMessages) if (!beforeMessages.includes(id)) problems.push(`message ${id}: added`);
  const writers = writersOf(before);
  for (const id of beforeMessages) {
    const previous = payloadOf(before, id);
    const next = payloadOf(after, id);
    if (next === undefined || previous === undefined) {
      problems.push(`message ${id}: removed`);
      continue;
    }
    compareSchemas(previous, next, writers.get(id) ?? "others", id, problems);
  }
  return problems;
}
