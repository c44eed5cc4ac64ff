/**
 * zod 4 schemas as JSON Schema: draft-7 for AsyncAPI 3.0 (its default schema format), and the
 * OpenAPI 3.0 dialect for REST routes (no `propertyNames`, `nullable` instead of a null type),
 * which Fastify's serializer also reads. zod 4's own converter is used because
 * zod-to-json-schema silently returns an empty schema for zod 4.
 */
import { z } from "zod";

export type JsonSchema = Record<string, unknown>;

/**
 * `io: "input"` describes what a sender may send (defaults optional); `"output"` what the gateway
 * guarantees to send (strict: no extra properties).
 */
export function toJsonSchema(
  schema: z.ZodType,
  io: "input" | "output",
  target: "draft-7" | "openapi-3.0" = "draft-7",
): JsonSchema {
  const {
    $schema: _dialect,
    $id: _id,
    ...rest
  } = z.toJSONSchema(schema, { target, io, unrepresentable: "any" });
  return rest as JsonSchema;
}

/** The title/description/examples a schema carries in its `.meta()`. */
export function metaOf(schema: z.ZodType): { title?: string; description?: string; examples?: unknown[] } {
  const meta = (z.globalRegistry.get(schema) ?? {}) as {
    title?: string;
    description?: string;
    examples?: unknown[];
  };
  return { title: meta.title, description: meta.description ?? schema.description, examples: meta.examples };
}
