/**
 * Finds `plugins/<folder>/index.(ts|js)`, imports each, and validates it before the gateway
 * listens: a malformed plugin stops start-up with an error naming the folder and the problem,
 * never at the first message. Plugins are loaded in folder-name order, so the result is the same
 * on every machine. What a valid plugin is: plugin-validation.ts.
 */
import { existsSync, readdirSync, statSync } from "node:fs";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { ConfigError, type GatewayConfig, SUBJECT_OVERRIDE_PREFIX } from "../config.js";
import type { LoadedChannel } from "./plugin.js";
import { registerPluginImports } from "./plugin-imports.js";
import { checkTogether, PluginLoadError, validatePlugin } from "./plugin-validation.js";

export { PluginLoadError, validatePlugin } from "./plugin-validation.js";

/**
 * plugins/ beside src/: the repository's when run from source with tsx, dist/plugins when
 * compiled (the build mirrors the layout, so compiled plugins are loaded as .js).
 */
export const DEFAULT_PLUGINS_DIR = path.resolve(
  path.dirname(fileURLToPath(import.meta.url)),
  "../../plugins",
);

const ENTRY_FILES = ["index.ts", "index.mts", "index.js", "index.mjs"];

/** Load and validate every plugin folder under `pluginsDir`. */
export async function loadPlugins(pluginsDir: string, config: GatewayConfig): Promise<LoadedChannel[]> {
  if (!existsSync(pluginsDir)) throw new PluginLoadError(pluginsDir, "plugins directory does not exist");
  const folders = readdirSync(pluginsDir, { withFileTypes: true })
    .filter((entry) => !entry.name.startsWith(".") && isFolder(pluginsDir, entry.name))
    .map((entry) => entry.name)
    .sort();
  const loaded: LoadedChannel[] = [];
  registerPluginImports(folders.map((folder) => path.join(pluginsDir, folder)));
  for (const folder of folders) {
    const directory = path.join(pluginsDir, folder);
    const entry = ENTRY_FILES.map((file) => path.join(directory, file)).find((file) => existsSync(file));
    if (!entry) continue; // A folder without an entry file is not a plugin (e.g. shared helpers).
    let module: { default?: unknown };
    try {
      module = await import(pathToFileURL(entry).href);
    } catch (error) {
      throw new PluginLoadError(folder, `failed to import ${entry}: ${(error as Error).message}`);
    }
    loaded.push(validatePlugin(folder, module.default, config));
  }
  checkTogether(loaded);
  if (loaded.length === 0) throw new PluginLoadError(pluginsDir, "no plugins found");
  // A mistyped override would otherwise be ignored silently, and the channel would listen on
  // its default subject while the operator believes otherwise.
  const names = loaded.map((channel) => channel.plugin.name);
  for (const channel of Object.keys(config.subjectOverrides)) {
    if (!names.includes(channel)) {
      throw new ConfigError(
        `Invalid configuration:\n  ${SUBJECT_OVERRIDE_PREFIX}${channel.toUpperCase()}: no channel named "${channel}" is loaded (channels: ${names.join(", ")})`,
      );
    }
  }
  return loaded;
}

/** A folder, or a link to one (plugin folders may be shared between deployments by symlink). */
function isFolder(pluginsDir: string, name: string): boolean {
  try {
    return statSync(path.join(pluginsDir, name)).isDirectory();
  } catch (error) {
    throw new PluginLoadError(name, `cannot read the plugin folder: ${(error as Error).message}`);
  }
}
