/**
 * Every title inside a generated JSON Schema rewritten as a type name (see type-name.ts), so that
 * a code generator reading asyncapi.yaml names each type the same way in every language.
 */
import type { JsonSchema } from "./json-schema.js";
import { typeName } from "./type-name.js";

/** Keys whose values are data, not schemas: left as they are. */
const DATA_KEYS = new Set(["examples", "enum", "const", "default"]);

export function withTypeNameTitles(schema: JsonSchema): JsonSchema {
  const rewrite = (node: unknown): unknown => {
    if (Array.isArray(node)) return node.map(rewrite);
    if (node === null || typeof node !== "object") return node;
    return Object.fromEntries(
      Object.entries(node).map(([key, value]) => {
        if (key === "title" && typeof value === "string") return [key, typeName(value)];
        if (DATA_KEYS.has(key)) return [key, value];
        // A `properties` map is named by property, not a schema: its entries are the schemas.
        if (key === "properties" && value !== null && typeof value === "object")
          return [
            key,
            Object.fromEntries(Object.entries(value).map(([name, child]) => [name, rewrite(child)])),
          ];
        return [key, rewrite(value)];
      }),
    );
  };
  return rewrite(schema) as JsonSchema;
}
