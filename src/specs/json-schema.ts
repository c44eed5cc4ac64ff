/**
 * zod 4 schemas as draft-7 JSON Schema, the dialect both Fastify's route validation and the
 * AsyncAPI 3.0 default schema format accept. zod 4's own converter is used because
 * zod-to-json-schema silently returns an empty schema for zod 4.
 */
import { z } from "zod";

export type JsonSchema = Record<string, unknown>;

/**
 * `io: "input"` describes what a sender may send (defaults optional); `"output"` what the gateway
 * guarantees to send (strict: no extra properties).
 */
export function toJsonSchema(schema: z.ZodType, io: "input" | "output"): JsonSchema {
  const {
    $schema: _dialect,
    $id: _id,
    ...rest
  } = z.toJSONSchema(schema, { target: "draft-7", io, unrepresentable: "any" });
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
