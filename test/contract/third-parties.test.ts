/**
 * docs/contract.md's "For third parties" section: its Modelina script, run as a third party runs it (a
 * file of its own, `node models.mjs asyncapi.yaml`), prints clean Java models of the document.
 */
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { PROJECT_ROOT } from "../../src/project-root.js";
import { ASYNCAPI_FILE } from "../../src/specs/generate.js";

/** The section's first js code block. */
function modelsScript(): string {
  const page = readFileSync(path.join(PROJECT_ROOT, "docs", "contract.md"), "utf8");
  const section = page.slice(page.indexOf("## For third parties"));
  const script = /```js\n([\s\S]*?)```/.exec(section)?.[1];
  if (!script) throw new Error('docs/contract.md has no js code block under "## For third parties"');
  return script;
}

describe('docs/contract.md "For third parties"', () => {
  it("its models.mjs prints a Java class or enum per model, named by the document's titles", () => {
    // Under the repository (test/.tmp is ignored by git), so that @asyncapi/modelina resolves.
    mkdirSync(path.join(PROJECT_ROOT, "test", ".tmp"), { recursive: true });
    const directory = mkdtempSync(path.join(PROJECT_ROOT, "test", ".tmp", "third-party-"));
    try {
      writeFileSync(path.join(directory, "models.mjs"), modelsScript());
      const result = spawnSync(process.execPath, ["models.mjs", ASYNCAPI_FILE], {
        cwd: directory,
        encoding: "utf8",
      });
      expect(result.stderr).toBe("");
      expect(result.status).toBe(0);
      const declarations = result.stdout.match(/^public (?:class|enum) \w+/gm) ?? [];
      expect(declarations).toEqual(
        expect.arrayContaining([
          "public class PriceUpdate",
          "public class PriceEntry",
          "public class TradeExecuted",
          "public enum TradeSide",
          "public class Subscribed",
          "public enum ResumeFailure",
          "public class UpstreamPriceTick",
        ]),
      );
      expect(declarations.filter((line) => /Anonymous/.test(line))).toEqual([]);
      expect(result.stdout).toContain("// PriceEntry.java\npublic class PriceEntry {");
    } finally {
      rmSync(directory, { recursive: true, force: true });
    }
  }, 60_000);
});
