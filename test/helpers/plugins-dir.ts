/**
 * A plugins directory for one test file: the four real plugins (symlinked: their imports resolve
 * from where they really are) and the news fixture (copied), a channel nothing in src/ knows.
 * Under test/.tmp/, where vitest resolves the plugin API's name through its alias.
 */
import { cpSync, mkdirSync, readdirSync, rmSync, symlinkSync } from "node:fs";
import path from "node:path";

const ROOT = path.resolve(import.meta.dirname, "../..");

export function pluginsWithNews(name: string): { dir: string; remove(): void } {
  const dir = path.join(ROOT, "test/.tmp", `${name}-${process.pid}-${Date.now()}`);
  mkdirSync(dir, { recursive: true });
  for (const folder of readdirSync(path.join(ROOT, "plugins")))
    symlinkSync(path.join(ROOT, "plugins", folder), path.join(dir, folder), "dir");
  cpSync(path.join(ROOT, "test/fixtures/plugins-news/news"), path.join(dir, "news"), { recursive: true });
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}
