/**
 * AsyncAPI descriptions are CommonMark, and the HTML page renders them so: a subject pattern such
 * as `execution.trades.<venue or account>` written as plain text loses its `<venue or account>`,
 * which a Markdown renderer takes for an HTML tag and drops. Schema descriptions come from the
 * schemas' `.meta()` (plugins included), where they are also plain text for other readers (the
 * message summaries, generated models' docstrings), so they are made Markdown-safe here, in the
 * document only: every word holding an `<...>` placeholder becomes a code span.
 */
import type { JsonSchema } from "./json-schema.js";

/** Words like `market.prices.<SYMBOL>` or `<CHANNEL>_<KEY>`: placeholders with what they stick to. */
const PLACEHOLDER_WORD = /(?:[\w.*>-]*<[^<>`\s][^<>`\n]*>)+[\w.*-]*/g;

/** A description with its placeholder words in code spans (those already in one are left alone). */
export function markdownSafe(text: string): string {
  return text.replace(PLACEHOLDER_WORD, (word, offset: number) => {
    const backticksBefore = text.slice(0, offset).split("`").length - 1;
    return backticksBefore % 2 === 1 ? word : `\`${word}\``;
  });
}

/** The schema with every `description` in it (nested ones included) made Markdown-safe. */
export function withMarkdownSafeDescriptions(schema: JsonSchema): JsonSchema {
  const visit = (node: unknown): unknown => {
    if (Array.isArray(node)) return node.map(visit);
    if (node === null || typeof node !== "object") return node;
    return Object.fromEntries(
      Object.entries(node).map(([key, value]) => [
        key,
        key === "description" && typeof value === "string" ? markdownSafe(value) : visit(value),
      ]),
    );
  };
  return visit(schema) as JsonSchema;
}
