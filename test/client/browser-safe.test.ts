/**
 * The SDK's browser entry must bundle for a browser: following its runtime imports (type-only
 * imports are erased) from src/client/index.ts through the protocol and the plugins' schema
 * files, no module may be a Node built-in or any package but zod. Guards against an import added
 * anywhere along that chain (src/index.ts, src/core/protocol.ts, plugins/*\/schema.ts, ...).
 */
import { readFileSync } from "node:fs";
import path from "node:path";
import ts from "typescript";
import { describe, expect, it } from "vitest";

const ROOT = path.resolve(import.meta.dirname, "../..");
const ALLOWED_PACKAGES = new Set(["zod"]);
/** The plugin API's stable name (package.json "exports"): the gateway's own src/index.ts. */
const SELF = { name: "trading-stream-gateway", file: path.join(ROOT, "src/index.ts") };

/** Specifiers a module imports at run time (`import type` and `export type` are erased). */
function runtimeImports(file: string): string[] {
  const source = ts.createSourceFile(file, readFileSync(file, "utf8"), ts.ScriptTarget.Latest);
  const specifiers: string[] = [];
  for (const statement of source.statements) {
    if (ts.isImportDeclaration(statement) && !statement.importClause?.isTypeOnly)
      specifiers.push((statement.moduleSpecifier as ts.StringLiteral).text);
    if (ts.isExportDeclaration(statement) && !statement.isTypeOnly && statement.moduleSpecifier)
      specifiers.push((statement.moduleSpecifier as ts.StringLiteral).text);
  }
  return specifiers;
}

/** Every module reachable from `entry`, and every package specifier met on the way. */
function importGraph(entry: string): { modules: string[]; packages: Map<string, string> } {
  const seen = new Set<string>();
  const packages = new Map<string, string>();
  const queue = [entry];
  while (queue.length > 0) {
    const file = queue.pop() as string;
    if (seen.has(file)) continue;
    seen.add(file);
    for (const specifier of runtimeImports(file)) {
      if (specifier.startsWith("."))
        queue.push(path.resolve(path.dirname(file), specifier.replace(/\.js$/, ".ts")));
      else if (specifier === SELF.name) queue.push(SELF.file);
      else packages.set(specifier, path.relative(ROOT, file));
    }
  }
  return { modules: [...seen].map((file) => path.relative(ROOT, file)).sort(), packages };
}

describe("the SDK's browser entry", () => {
  it("imports nothing but zod and its own modules at run time", () => {
    const { modules, packages } = importGraph(path.join(ROOT, "src/client/index.ts"));
    const offending = [...packages].filter(([name]) => !ALLOWED_PACKAGES.has(name));
    expect(offending.map(([name, from]) => `${name} (from ${from})`)).toEqual([]);
    // The chain does go through the server's protocol and the plugins' schemas...
    expect(modules).toContain("src/core/protocol.ts");
    expect(modules).toContain("plugins/price-updates/schema.ts");
    // ...but not through the Node entry or the server itself.
    expect(modules.filter((module) => module === "src/client/node.ts" || module === "src/app.ts")).toEqual(
      [],
    );
  });

  it("the Node entry adds ws, and nothing else", () => {
    const { packages } = importGraph(path.join(ROOT, "src/client/node.ts"));
    expect([...packages.keys()].sort()).toEqual(["ws", "zod"]);
  });
});
