/**
 * Descriptions in the AsyncAPI document are Markdown: a subject placeholder written as plain text
 * (`execution.trades.<venue or account>`) is an HTML tag to the renderer and vanishes from the page,
 * so the document puts such words in code spans, and leaves everything else as it was written.
 */
import { describe, expect, it } from "vitest";
import { markdownSafe, withMarkdownSafeDescriptions } from "../../src/specs/markdown-descriptions.js";

describe("markdownSafe", () => {
  it("puts a word holding a placeholder in a code span", () => {
    expect(markdownSafe("A trade execution, published on execution.trades.<venue or account>")).toBe(
      "A trade execution, published on `execution.trades.<venue or account>`",
    );
    expect(markdownSafe("each read from <CHANNEL>_<KEY>; absent")).toBe(
      "each read from `<CHANNEL>_<KEY>`; absent",
    );
  });

  it("leaves code spans, comparisons and plain text alone", () => {
    for (const text of ["Published on `market.prices.<SYMBOL>`", "a < b and c > d", "Channel `trades`."])
      expect(markdownSafe(text)).toBe(text);
  });
});

describe("withMarkdownSafeDescriptions", () => {
  it("reaches nested descriptions and nothing else", () => {
    const schema = {
      description: "on market.prices.<SYMBOL>",
      properties: { symbol: { type: "string", description: "as in <SYMBOL>", examples: ["<SYMBOL>"] } },
    };
    expect(withMarkdownSafeDescriptions(schema)).toEqual({
      description: "on `market.prices.<SYMBOL>`",
      properties: { symbol: { type: "string", description: "as in `<SYMBOL>`", examples: ["<SYMBOL>"] } },
    });
  });
});
