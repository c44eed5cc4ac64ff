/**
 * Arguments that run a TypeScript file in THIS node process's child, with tsx's loader imported:
 * `spawn(process.execPath, tsxArgs("src/main.ts"))`. Not `tsx/dist/cli.mjs`: the tsx CLI runs the
 * script in a second node process and relays signals, so killing its PID (SIGKILL, in a test's
 * clean-up) would leave the real process running, orphaned.
 */
import path from "node:path";
import { pathToFileURL } from "node:url";

const ROOT = path.resolve(import.meta.dirname, "../..");
const TSX_LOADER = pathToFileURL(path.join(ROOT, "node_modules/tsx/dist/loader.mjs")).href;

export function tsxArgs(file: string, ...args: string[]): string[] {
  return ["--import", TSX_LOADER, file, ...args];
}
