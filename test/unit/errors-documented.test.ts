/**
 * Every error code and close code a client can meet is documented in docs/errors.md, the README
 * points there, and the code under src/ only closes connections with codes from the table.
 * (In the manner of fastify's test that every error in lib/errors.js is documented.)
 */
import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { CloseCodes, ErrorCodes } from "../../src/core/errors.js";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const read = (relative: string) => readFileSync(path.join(ROOT, relative), "utf8");
const errorsDoc = read("docs/errors.md");
/** Table rows with runs of whitespace collapsed (the formatter pads columns to align them). */
const rows = errorsDoc
  .split("\n")
  .filter((line) => line.startsWith("|"))
  .map((line) => line.replace(/\s+/g, " "));

/** Every .ts file under src/, with its text. */
function sources(): { file: string; text: string }[] {
  const entries = readdirSync(path.join(ROOT, "src"), { recursive: true, withFileTypes: true });
  return entries
    .filter((entry) => entry.isFile() && entry.name.endsWith(".ts"))
    .map((entry) => path.join(entry.parentPath, entry.name))
    .map((file) => ({ file: path.relative(ROOT, file), text: readFileSync(file, "utf8") }));
}

describe("docs/errors.md", () => {
  it.each(Object.entries(ErrorCodes))("documents error code %s with its message", (code, { message }) => {
    const row = rows.find((line) => line.startsWith(`| \`${code}\` |`));
    expect(row, `no table row for ${code}`).toBeDefined();
    expect(row).toContain(message);
  });

  it.each(Object.entries(CloseCodes))(
    "documents close code %s with its number and reconnect advice",
    (name, entry) => {
      const row = rows.find((line) => line.startsWith(`| \`${entry.code}\` | \`${name}\` |`));
      expect(row, `no table row "| \`${entry.code}\` | \`${name}\` |"`).toBeDefined();
      expect(row?.toLowerCase()).toMatch(entry.reconnect ? /\|\s*yes\b/ : /\|\s*no\b/);
    },
  );

  it("documents the HTTP statuses the /ws upgrade can answer", () => {
    for (const status of ["404", "503", "400"])
      expect(rows.some((row) => row.startsWith(`| \`${status}\` |`))).toBe(true);
    expect(errorsDoc).toContain("WEBSOCKET_ENABLED=false");
    expect(errorsDoc).toContain("client_id");
  });

  it("explains that dead peers are terminated without a close frame (the client sees 1006)", () => {
    expect(errorsDoc).toContain("1006");
  });
});

describe("close codes used in src/", () => {
  const files = sources();

  it("finds the code it checks (the scan is not vacuous)", () => {
    const all = files.map(({ text }) => text).join("\n");
    expect(all).toMatch(/CloseCodes\.[A-Z_]+/);
    expect(all).toMatch(/\.close\(\s*"[A-Z_]+"/);
  });

  it("every CloseCodes.X names an entry of the table", () => {
    for (const { file, text } of files) {
      for (const [, name] of text.matchAll(/CloseCodes\.([A-Za-z_]+)/g)) {
        expect(Object.keys(CloseCodes), `${file}: CloseCodes.${name}`).toContain(name);
      }
    }
  });

  it('every session.close("X", ...) names an entry of the table', () => {
    for (const { file, text } of files) {
      for (const [, name] of text.matchAll(/\.close\(\s*"([A-Za-z_]+)"/g)) {
        expect(Object.keys(CloseCodes), `${file}: close("${name}")`).toContain(name);
      }
    }
  });

  it("no socket is closed with a bare numeric code that is not in the table", () => {
    const documented = Object.values(CloseCodes).map((entry) => entry.code);
    for (const { file, text } of files) {
      for (const [, code] of text.matchAll(/\.close\(\s*(\d+)/g)) {
        expect(documented, `${file}: close(${code})`).toContain(Number(code));
      }
    }
  });
});

describe("README.md", () => {
  it("links docs/errors.md", () => {
    expect(read("README.md")).toMatch(/\]\((\.\/)?docs\/errors\.md(#[^)]*)?\)/);
  });
});
