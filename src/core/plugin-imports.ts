/**
 * Makes a plugin folder work wherever it is (PLUGINS_DIR may be anywhere on disk, with no
 * node_modules and no package.json of its own): a Node module resolution hook answers, for code in
 * a plugin folder, the plugin API's stable name `trading-stream-gateway` with the running
 * gateway's own src/index (the .ts source under tsx, the compiled .js under `node dist/main.js`),
 * and `zod` with the gateway's own zod: one zod instance, so a plugin's `.meta()` titles reach the
 * published documents. Plugin files are ES modules even where no package.json says so (Node and
 * tsx would otherwise load them as CommonJS, and require() does not pass through this hook).
 *
 * The hook is registered before the plugins are imported, once per set of plugin folders. Its
 * source is a data: URL, not a file, so the same code runs under tsx and from dist/ with nothing
 * to copy.
 */
import { realpathSync } from "node:fs";
import { register } from "node:module";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { PROJECT_ROOT } from "../project-root.js";

/** The name plugins import the gateway's plugin API by (package.json "name" and "exports"). */
export const PLUGIN_API_NAME = "trading-stream-gateway";

/**
 * Runs on Node's loader thread. `trading-stream-gateway` is resolved as `./index.js` from a module
 * in src/ (tsx, later in the chain, maps .js to .ts when running the sources); `zod` (and
 * `zod/...`) as if this module had imported it.
 *
 * Every other file a plugin folder resolves to (its entry, and whatever its files import
 * relatively) is an ES module: with no package.json "type" above it, Node and tsx answer
 * "commonjs" for .ts and .js. Under tsx, a CommonJS-format file that an ES module imports named
 * bindings from (`import { tradeFrame } from "./schema.js"`) also gets a marked URL
 * (`schema.ts%3F...?tsx-commonjs-export-preparse=1&tsx-commonjs-virtual-query=1`), which tsx's
 * load compiles to CommonJS: its require() calls never reach this hook, so `zod` is not found.
 * The marks are taken off with the format: the plain file URL, as an ES module, which tsx's load
 * compiles as ESM. Where Node strips types itself (22.18 and later; the tests run Node 20),
 * "commonjs-typescript" becomes "module-typescript" likewise.
 */
const HOOK_SOURCE = `
let api, gateway, folders;
const TSX_COMMONJS_MARKS = ["tsx-commonjs-export-preparse", "tsx-commonjs-virtual-query"];
const inPlugin = (url) => url !== undefined && !url.includes("/node_modules/") && folders.some((folder) => url.startsWith(folder));
export function initialize(data) { ({ api, gateway, folders } = data); }
export async function resolve(specifier, context, next) {
  if (inPlugin(context.parentURL)) {
    if (specifier === ${JSON.stringify(PLUGIN_API_NAME)}) return next("./index.js", { ...context, parentURL: api });
    if (specifier === "zod" || specifier.startsWith("zod/")) return next(specifier, { ...context, parentURL: gateway });
  }
  const resolved = await next(specifier, context);
  if (!inPlugin(resolved.url)) return resolved;
  if (resolved.format === "commonjs-typescript") return { ...resolved, format: "module-typescript" };
  if (resolved.format !== "commonjs") return resolved;
  const url = new URL(resolved.url);
  if (TSX_COMMONJS_MARKS.some((mark) => url.searchParams.has(mark))) {
    url.pathname = url.pathname.replace(/%3F.*$/i, "");
    for (const mark of TSX_COMMONJS_MARKS) url.searchParams.delete(mark);
  }
  return /\\.[jt]sx?$/.test(url.pathname) ? { ...resolved, url: url.href, format: "module" } : resolved;
}
`;

const registered = new Set<string>();

/**
 * Running compiled (`node dist/main.js`), plugins inside the installation need no hook: the API's
 * name resolves through the package's own "exports" (a self-reference, to the same dist/src the
 * gateway runs), zod from its node_modules, and "type": "module" makes their files ES modules.
 * The hook costs Node 20 a loader thread (about 15 MB of an idle production start's RSS), so it is
 * registered there only for plugin folders elsewhere. Under tsx it is always registered: tsx runs
 * a loader thread anyway, and the project's tsconfig paths apply only when it starts from the
 * project's folder.
 */
const RUNNING_COMPILED = import.meta.url.endsWith(".js");

const isInside = (file: string, folder: string) => {
  const relative = path.relative(folder, file);
  return relative !== "" && !relative.startsWith("..") && !path.isAbsolute(relative);
};

/** Register the resolution hook for these plugin folders (once per distinct set). */
export function registerPluginImports(folders: readonly string[]): void {
  // Real paths: Node resolves a symlinked folder's files to where they really are.
  const real = folders.map((folder) => realpathSync(folder));
  if (RUNNING_COMPILED && real.every((folder) => isInside(folder, PROJECT_ROOT))) return;
  const urls = real.map((folder) => `${pathToFileURL(folder).href}/`);
  const key = urls.join("\n");
  if (registered.has(key)) return;
  registered.add(key);
  register(`data:text/javascript,${encodeURIComponent(HOOK_SOURCE)}`, {
    data: {
      // A module in src/ (the folder of index), so "./index.js" resolves to the plugin API.
      api: new URL("../app.js", import.meta.url).href,
      gateway: import.meta.url,
      folders: urls,
    },
  });
}
