/**
 * docs/configuration.md is generated (`npm run docs`, scripts/configuration-markdown.ts) from the
 * settings' own schema and the bundled plugins' settings: the committed page must be exactly what
 * the generator makes of them now, so a setting added, renamed, re-described or given another
 * default fails here until the page is regenerated and committed, as .env.example is checked in
 * config.test.ts.
 */
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { CONFIGURATION_MD, configurationMarkdown } from "../../scripts/configuration-markdown.js";

describe("docs/configuration.md", () => {
  it("is what `npm run docs` makes of src/config.ts and the bundled plugins now", async () => {
    const committed = readFileSync(CONFIGURATION_MD, "utf8");
    expect(committed, "docs/configuration.md is stale: run `npm run docs` and commit it").toBe(
      await configurationMarkdown(),
    );
  });

  it("keeps its lines readable in a terminal (no line over 120 characters)", async () => {
    const long = (await configurationMarkdown()).split("\n").filter((line) => line.length > 120);
    expect(long).toEqual([]);
  });
});
