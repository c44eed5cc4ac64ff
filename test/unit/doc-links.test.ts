/**
 * Every relative link in README.md and docs/*.md resolves: the file (or folder) exists, and a
 * `#anchor` names a heading of the target page as GitHub slugs it (or an explicit `id`). External
 * http(s) links are not fetched: they would make the suite depend on the network. Links inside code
 * blocks and code spans are text, not links, and are not checked. The README also keeps the shape
 * issue #22 asks of it: one screenful per topic, at most 300 lines, prose lines of at most 120
 * characters outside code blocks and tables.
 */
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { PROJECT_ROOT } from "../../src/project-root.js";

const PAGES = [
  "README.md",
  ...readdirSync(path.join(PROJECT_ROOT, "docs"))
    .filter((name) => name.endsWith(".md"))
    .map((name) => `docs/${name}`),
];

/** The page without its fenced code blocks (their lines blanked, so that line numbers hold). */
function withoutCode(markdown: string): string[] {
  let fence: string | undefined;
  return markdown.split("\n").map((line) => {
    const marker = /^\s*(`{3,}|~{3,})/.exec(line)?.[1];
    if (fence === undefined && marker) {
      fence = marker;
      return "";
    }
    if (fence !== undefined) {
      if (marker?.startsWith(fence)) fence = undefined;
      return "";
    }
    return line.replace(/`[^`]*`/g, "``");
  });
}

/** GitHub's anchor for a heading: markup dropped, lower case, punctuation removed, spaces to hyphens. */
function githubSlug(heading: string): string {
  return heading
    .replace(/`/g, "")
    .replace(/!?\[([^\]]*)\]\([^)]*\)/g, "$1")
    .replace(/<[^>]+>/g, "")
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{N}\p{M}\s_-]/gu, "")
    .replace(/ /g, "-");
}

/** Every anchor a page offers: its headings' slugs (repeats numbered as GitHub does) and explicit ids. */
function anchorsOf(file: string): Set<string> {
  const markdown = readFileSync(file, "utf8");
  const anchors = new Set<string>();
  const seen = new Map<string, number>();
  let fence: string | undefined;
  for (const line of markdown.split("\n")) {
    const marker = /^\s*(`{3,}|~{3,})/.exec(line)?.[1];
    if (marker && (fence === undefined || marker.startsWith(fence))) {
      fence = fence === undefined ? marker : undefined;
      continue;
    }
    if (fence !== undefined) continue;
    const heading = /^#{1,6}\s+(.*?)\s*#*\s*$/.exec(line)?.[1];
    if (heading !== undefined) {
      const slug = githubSlug(heading);
      const count = seen.get(slug) ?? 0;
      seen.set(slug, count + 1);
      anchors.add(count === 0 ? slug : `${slug}-${count}`);
    }
    for (const [, id] of line.matchAll(/<a\s+(?:id|name)="([^"]+)"/g)) anchors.add(id as string);
  }
  return anchors;
}

interface Link {
  page: string;
  line: number;
  target: string;
}

/** Inline links and images, `[text](target)` and `![alt](target "title")`, outside code. */
function linksOf(page: string): Link[] {
  const lines = withoutCode(readFileSync(path.join(PROJECT_ROOT, page), "utf8"));
  const links: Link[] = [];
  lines.forEach((text, index) => {
    for (const match of text.matchAll(/!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)/g))
      links.push({ page, line: index + 1, target: match[1] as string });
  });
  return links;
}

/** Why a link is broken, or undefined when it resolves. */
function problem({ page, target }: Link): string | undefined {
  if (/^[a-z][a-z0-9+.-]*:/i.test(target)) return undefined; // http(s), mailto: not fetched
  const [file = "", anchor] = target.split("#", 2);
  const resolved =
    file === ""
      ? path.join(PROJECT_ROOT, page)
      : path.resolve(path.join(PROJECT_ROOT, path.dirname(page)), decodeURI(file));
  if (!resolved.startsWith(PROJECT_ROOT)) return "points outside the repository";
  if (!existsSync(resolved)) return `${path.relative(PROJECT_ROOT, resolved)} does not exist`;
  if (anchor === undefined || anchor === "") return undefined;
  if (statSync(resolved).isDirectory() || !resolved.endsWith(".md"))
    return `#${anchor} on a file that is not Markdown`;
  return anchorsOf(resolved).has(anchor)
    ? undefined
    : `no heading #${anchor} in ${path.relative(PROJECT_ROOT, resolved)}`;
}

describe("links in README.md and docs/*.md", () => {
  it("finds the pages and their links (the checker sees what it checks)", () => {
    expect(PAGES).toContain("README.md");
    expect(PAGES).toContain("docs/protocol.md");
    const readmeLinks = linksOf("README.md").map((link) => link.target);
    expect(readmeLinks).toContain("docs/errors.md");
    expect(readmeLinks).toContain("docs/protocol.md#the-seed");
  });

  it.each(PAGES)("%s: every relative link and anchor resolves", (page) => {
    const broken = linksOf(page)
      .map((link) => ({ link, why: problem(link) }))
      .filter(({ why }) => why !== undefined)
      .map(({ link, why }) => `${link.page}:${link.line} (${link.target}): ${why}`);
    expect(broken).toEqual([]);
  });

  it("slugs headings as GitHub does", () => {
    expect(githubSlug("Client → server")).toBe("client--server");
    expect(githubSlug("The seed's variables")).toBe("the-seeds-variables");
    expect(githubSlug("HTTP / WebSocket listener")).toBe("http--websocket-listener");
    expect(githubSlug("The shared building blocks: `schemas` and `frameTimestamp`")).toBe(
      "the-shared-building-blocks-schemas-and-frametimestamp",
    );
    expect(githubSlug("Contract: AsyncAPI and OpenAPI")).toBe("contract-asyncapi-and-openapi");
    expect(githubSlug("`WEBSOCKET_MAX_BUFFERED_BYTES`")).toBe("websocket_max_buffered_bytes");
  });

  it("a broken link is reported, with the reason", () => {
    expect(problem({ page: "README.md", line: 1, target: "docs/nowhere.md" })).toBe(
      "docs/nowhere.md does not exist",
    );
    expect(problem({ page: "README.md", line: 1, target: "docs/protocol.md#no-such-heading" })).toBe(
      "no heading #no-such-heading in docs/protocol.md",
    );
    expect(problem({ page: "docs/sdk.md", line: 1, target: "../README.md#quick-start" })).toBeUndefined();
    expect(problem({ page: "README.md", line: 1, target: "https://example.invalid/x" })).toBeUndefined();
  });
});

describe("README.md, one screenful per topic", () => {
  const readme = readFileSync(path.join(PROJECT_ROOT, "README.md"), "utf8");

  it("is at most 300 lines", () => {
    expect(readme.split("\n").length).toBeLessThanOrEqual(300);
  });

  it("has no prose line over 120 characters (code blocks and tables aside)", () => {
    const lines = readme.split("\n");
    const long = withoutCode(readme)
      .map((prose, index) => ({ prose, line: index + 1, length: (lines[index] ?? "").length }))
      .filter(({ prose, length }) => prose !== "" && !prose.trimStart().startsWith("|") && length > 120)
      .map(({ line, length }) => `line ${line}: ${length} characters`);
    expect(long).toEqual([]);
  });
});
