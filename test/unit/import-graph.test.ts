/**
 * Which parts of src/ may import which, checked on the import graph of every .ts file under src/
 * (static imports and re-exports, type-only ones included, and `import("…")`), read from the source
 * text. Relative specifiers are resolved to files (also outside src/, such as the bundled plugins'
 * schema files the SDK imports), and `trading-stream-gateway` to src/index.ts, so what a file
 * reaches through them counts too. A relative import that resolves to no file fails the suite,
 * so that a resolver blind spot cannot hide an edge.
 */
import { existsSync, readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";

const ROOT = path.resolve(import.meta.dirname, "../..");
const SRC = path.join(ROOT, "src");
/** The plugin API's name (package.json "name"), resolved as tsconfig.json "paths" does. */
const PACKAGE_NAME = "trading-stream-gateway";

interface Imports {
  /** Files imported (repository-relative, "/"-separated). */
  files: Set<string>;
  /** Packages and built-ins imported ("zod", "node:fs"). */
  packages: Set<string>;
}

/**
 * `import … from "x"`, `import "x"`, `export … from "x"` (with `type` or without) and `import("x")`.
 * Applied to text without comments, so that an example in a doc comment is not an import.
 */
const IMPORT_PATTERN =
  /(?:^|[\s;}])(?:import|export)\s+(?:type\s+)?(?:[^'"`;]*?\sfrom\s+)?["']([^"']+)["']|\bimport\(\s*["']([^"']+)["']\s*\)/g;

function withoutComments(text: string): string {
  // Line comments only where one can start a comment: not the `//` of a URL ("ws://…").
  return text.replace(/\/\*[\s\S]*?\*\//g, "").replace(/(^|[^:"'`\w])\/\/.*$/gm, "$1");
}

function typeScriptFiles(directory: string): string[] {
  return readdirSync(directory, { withFileTypes: true }).flatMap((entry) => {
    const file = path.join(directory, entry.name);
    if (entry.isDirectory()) return typeScriptFiles(file);
    return /\.m?ts$/.test(entry.name) ? [file] : [];
  });
}

function relative(file: string): string {
  return path.relative(ROOT, file).split(path.sep).join("/");
}

/** The file a relative specifier names: written with .js (NodeNext), present as .ts. */
function resolveRelative(from: string, specifier: string): string {
  const target = path.resolve(path.dirname(from), specifier);
  const candidates = [target.replace(/\.js$/, ".ts"), target.replace(/\.mjs$/, ".mts"), target];
  const found = candidates.find((candidate) => /\.m?ts$/.test(candidate) && existsSync(candidate));
  if (!found) throw new Error(`${relative(from)}: cannot resolve ${JSON.stringify(specifier)}`);
  return found;
}

/** Every src/ file's imports, and those of the files outside src/ they reach. */
function importGraph(): Map<string, Imports> {
  const graph = new Map<string, Imports>();
  const pending = typeScriptFiles(SRC);
  for (let file = pending.pop(); file !== undefined; file = pending.pop()) {
    if (graph.has(relative(file))) continue;
    const imports: Imports = { files: new Set(), packages: new Set() };
    graph.set(relative(file), imports);
    for (const match of withoutComments(readFileSync(file, "utf8")).matchAll(IMPORT_PATTERN)) {
      const specifier = (match[1] ?? match[2]) as string;
      let target: string | undefined;
      if (specifier.startsWith(".")) target = resolveRelative(file, specifier);
      else if (specifier === PACKAGE_NAME) target = path.join(SRC, "index.ts");
      if (target === undefined) {
        imports.packages.add(specifier);
        continue;
      }
      imports.files.add(relative(target));
      pending.push(target);
    }
  }
  return graph;
}

const graph = importGraph();

function importsOf(file: string): Imports {
  const imports = graph.get(file);
  if (!imports) throw new Error(`${file} is not in the graph`);
  return imports;
}

/** Every file reachable from `starts` by imports (the starts included). */
function reachable(starts: string[]): Set<string> {
  const seen = new Set<string>();
  const pending = [...starts];
  for (let file = pending.pop(); file !== undefined; file = pending.pop()) {
    if (seen.has(file)) continue;
    seen.add(file);
    pending.push(...importsOf(file).files);
  }
  return seen;
}

/** One path of imports from `from` to `to`, for a failure message; undefined when there is none. */
function importPath(from: string, to: string): string[] | undefined {
  const previous = new Map<string, string>();
  const queue = [from];
  const seen = new Set(queue);
  for (let file = queue.shift(); file !== undefined; file = queue.shift()) {
    if (file === to) {
      const steps = [to];
      for (let step = previous.get(to); step !== undefined; step = previous.get(step)) steps.unshift(step);
      return steps;
    }
    for (const next of importsOf(file).files) {
      if (seen.has(next)) continue;
      seen.add(next);
      previous.set(next, file);
      queue.push(next);
    }
  }
  return undefined;
}

const filesUnder = (folder: string) => [...graph.keys()].filter((file) => file.startsWith(`${folder}/`));

/** Every import between two files as "from -> to". */
const edges = [...graph].flatMap(([from, { files }]) => [...files].map((to) => ({ from, to })));

/** The folder of a file under src/core: src/core/<sub> for its subfolders, src/core for the rest. */
function coreFolderOf(file: string): string {
  const [, , sub, rest] = file.split("/");
  return rest === undefined ? "src/core" : `src/core/${sub}`;
}

/** Folder-level edges between the subfolders of src/core ("src/core/delivery -> src/core/history"). */
const coreFolderEdges = new Set(
  edges
    .filter(({ from, to }) => from.startsWith("src/core/") && to.startsWith("src/core/"))
    .map(({ from, to }) => [coreFolderOf(from), coreFolderOf(to)])
    .filter(([from, to]) => from !== to && from !== "src/core" && to !== "src/core")
    .map(([from, to]) => `${from} -> ${to}`),
);

/**
 * The rules, as they hold today:
 *
 * - src/core/** imports only src/core/**, src/config.ts and src/project-root.ts: never src/http,
 *   src/specs, src/client, src/dashboard, src/cli, src/demo, the composition root (src/app.ts) or
 *   the entry points.
 * - The subfolders of src/core import each other one way only, without a cycle: delivery imports
 *   auth and history, history imports ingest; history never imports delivery, auth never delivery.
 * - src/specs reaches src/app.ts by no path: the specs are built from plugins and config alone.
 * - src/app.ts (the composition root) is imported by src/main.ts alone, src/main.ts by
 *   src/production-start.ts alone.
 * - The SDK (src/client, except its Node entry src/client/node.ts) reaches no Node built-in and
 *   no package but zod, so that it bundles for a browser. It does import src/core: the wire
 *   protocol's modules (protocol, positions, quality, errors, channel-info) and, through the
 *   bundled plugins' frame schemas, src/index.ts; "src/client imports nothing from src/core" does
 *   not hold and is not asserted.
 */
describe("the import graph of src/", () => {
  it("is read whole: static, type-only, re-exported and dynamic imports are all edges", () => {
    expect(graph.size).toBeGreaterThan(100);
    expect(importsOf("src/app.ts").files).toContain("src/specs/asyncapi.ts"); // import("./specs/asyncapi.js")
    expect(importsOf("src/production-start.ts").files).toContain("src/main.ts"); // await import("./main.js")
    expect(importsOf("src/app.ts").files).toContain("src/config.ts"); // import type { GatewayConfig }
    expect(importsOf("src/index.ts").files).toContain("src/core/plugin.ts"); // export { definePlugin } from
    expect(importsOf("src/app.ts").packages).toContain("yaml"); // import("yaml")
  });

  it("src/core imports only src/core, src/config.ts and src/project-root.ts", () => {
    const allowed = (file: string) =>
      file.startsWith("src/core/") || file === "src/config.ts" || file === "src/project-root.ts";
    const outside = edges.filter(({ from, to }) => from.startsWith("src/core/") && !allowed(to));
    expect(outside.map(({ from, to }) => `${from} -> ${to}`)).toEqual([]);
  });

  it("src/core/history imports nothing from src/core/delivery", () => {
    const wrongWay = edges.filter(
      ({ from, to }) => from.startsWith("src/core/history/") && to.startsWith("src/core/delivery/"),
    );
    expect(wrongWay.map(({ from, to }) => `${from} -> ${to}`)).toEqual([]);
  });

  it.each([
    ["src/core/delivery", "src/core/history"],
    ["src/core/delivery", "src/core/auth"],
  ])("%s and %s do not import each other both ways", (one, other) => {
    const both = [`${one} -> ${other}`, `${other} -> ${one}`].filter((edge) => coreFolderEdges.has(edge));
    expect(both.length, both.join(", ")).toBeLessThan(2);
  });

  it("the subfolders of src/core import each other without a cycle", () => {
    const next = new Map<string, string[]>();
    for (const edge of coreFolderEdges) {
      const [from, to] = edge.split(" -> ") as [string, string];
      next.set(from, [...(next.get(from) ?? []), to]);
    }
    const cycles: string[] = [];
    const visit = (folder: string, trail: string[]): void => {
      if (trail.includes(folder)) {
        cycles.push([...trail.slice(trail.indexOf(folder)), folder].join(" -> "));
        return;
      }
      for (const to of next.get(folder) ?? []) visit(to, [...trail, folder]);
    };
    for (const folder of next.keys()) visit(folder, []);
    expect([...new Set(cycles)]).toEqual([]);
  });

  it("src/specs reaches src/app.ts by no path", () => {
    const paths = filesUnder("src/specs").flatMap(
      (file) => importPath(file, "src/app.ts")?.join(" -> ") ?? [],
    );
    expect(filesUnder("src/specs").length).toBeGreaterThan(0);
    expect(paths).toEqual([]);
  });

  it("the composition root is imported by the entry point alone, the entry point by the production start alone", () => {
    const importers = (target: string) => edges.filter(({ to }) => to === target).map(({ from }) => from);
    expect(importers("src/app.ts")).toEqual(["src/main.ts"]);
    expect(importers("src/main.ts")).toEqual(["src/production-start.ts"]);
  });

  it("the SDK (src/client but its Node entry) reaches no Node built-in and no package but zod", () => {
    const sdk = filesUnder("src/client").filter((file) => file !== "src/client/node.ts");
    const packages = [...reachable(sdk)].flatMap((file) =>
      [...importsOf(file).packages].filter((name) => name !== "zod").map((name) => `${file}: ${name}`),
    );
    expect(sdk.length).toBeGreaterThan(0);
    expect(packages).toEqual([]);
  });
});
