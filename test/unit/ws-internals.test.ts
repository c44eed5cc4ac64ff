/**
 * The gateway uses ws through its public API only: no source file reaches into a private field
 * of a ws object (`_socket`, `_sender`, ...), so a ws release that renames one cannot break the
 * write path. ws is pinned to an exact version all the same.
 */
import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";

const ROOT = path.resolve(import.meta.dirname, "../..");
/** ws's private fields (ws/lib/websocket.js, sender.js, receiver.js), written with a leading underscore. */
const PRIVATE_ACCESS =
  /\._(socket|sender|receiver|readyState|isServer|extensions|paused|closeFrame\w*|closeCode|closeMessage|closeTimer|binaryType|bufferedAmount|protocol|req)\b|\[\s*["'`]_/;

function sources(folder: string): string[] {
  return readdirSync(path.join(ROOT, folder), { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile() && /\.(ts|mts|js)$/.test(entry.name))
    .map((entry) => path.join(entry.parentPath, entry.name));
}

describe("ws through its public API only", () => {
  it("no file in src/ or plugins/ touches a private field of ws", () => {
    const offenders = [...sources("src"), ...sources("plugins")].flatMap((file) =>
      readFileSync(file, "utf8")
        .split("\n")
        .map((line, index) => ({ line, where: `${path.relative(ROOT, file)}:${index + 1}` }))
        .filter(({ line }) => PRIVATE_ACCESS.test(line))
        .map(({ line, where }) => `${where}: ${line.trim()}`),
    );
    expect(offenders).toEqual([]);
  });

  it("ws is pinned to an exact version", () => {
    const manifest = JSON.parse(readFileSync(path.join(ROOT, "package.json"), "utf8")) as {
      dependencies: Record<string, string>;
    };
    expect(manifest.dependencies.ws).toMatch(/^\d+\.\d+\.\d+$/);
  });
});
