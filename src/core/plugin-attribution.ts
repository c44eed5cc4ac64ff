/**
 * Which plugin an error came from, read from its stack trace: the first frame in a loaded
 * plugin's folder names the plugin and its channel. For failures nothing in the core catches (an
 * unhandled promise rejection, an uncaught exception: main.ts), so that their log line says whose
 * they are when that can be told.
 *
 * Why the stack and nothing more: the core calls plugin hooks synchronously, thousands of times a
 * second, and a promise a hook starts outlives the call. Tagging such promises with the hook that
 * made them needs AsyncLocalStorage or a PromiseHook, which on Node 20 make every promise of the
 * process slower (measured: an `await` 73 -> 205 ns with AsyncLocalStorage enabled, -> 700 ns with
 * a PromiseHook filling a WeakMap; `als.run` around a hook call adds 20-30 ns), NATS and WebSocket
 * code included. Reading a stack costs nothing until something fails. What it cannot tell (a reason
 * that is no Error, an Error made outside plugin code) is reported as unknown, never guessed.
 */
import { realpathSync } from "node:fs";
import path from "node:path";
import { pathToFileURL } from "node:url";
import type { LoadedChannel } from "./plugin.js";

export interface PluginOrigin {
  /** The plugin's folder name (as plugin load errors name it). */
  plugin: string;
  /** The channel the plugin defines. */
  channel: string;
}

/** How deep to follow `cause`: a wrapped error may carry the plugin's in its cause. */
const MAX_CAUSES = 5;

export class PluginAttribution {
  /** Each loaded plugin's folder as stack frames spell it (path and file URL), with its origin. */
  private readonly folders: { prefixes: string[]; origin: PluginOrigin }[];

  constructor(channels: readonly LoadedChannel[], pluginsDir: string) {
    this.folders = channels.map((channel) => {
      const folder = path.resolve(pluginsDir, channel.source);
      // Node imports a symlinked folder from its real path, and stacks show where it was imported from.
      const spellings = new Set([folder, realPath(folder)]);
      return {
        // The trailing separator keeps plugins/news from claiming plugins/newsletter's frames.
        prefixes: [...spellings].flatMap((spelling) => [
          spelling + path.sep,
          `${pathToFileURL(spelling).href}/`,
        ]),
        origin: { plugin: channel.source, channel: channel.plugin.name },
      };
    });
  }

  /** The plugin whose code the error's stack (or its cause's) runs through first; undefined if none. */
  originOf(reason: unknown): PluginOrigin | undefined {
    let error = reason;
    for (let depth = 0; depth <= MAX_CAUSES && error instanceof Error; depth++) {
      const origin = this.originOfStack(error.stack);
      if (origin) return origin;
      error = error.cause;
    }
    return undefined;
  }

  private originOfStack(stack: string | undefined): PluginOrigin | undefined {
    if (stack === undefined) return undefined;
    // Frames only (the message may quote a path), innermost first: the innermost plugin frame decides.
    for (const frame of stack.split("\n")) {
      if (!frame.trimStart().startsWith("at ")) continue;
      for (const { prefixes, origin } of this.folders)
        if (prefixes.some((prefix) => frame.includes(prefix))) return origin;
    }
    return undefined;
  }
}

function realPath(folder: string): string {
  try {
    return realpathSync(folder);
  } catch {
    return folder;
  }
}
