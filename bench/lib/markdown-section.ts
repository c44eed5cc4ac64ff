/**
 * Replace one `## ` section of a Markdown page in place, or add it: how a benchmark that runs on
 * its own (bench:books, bench:deploy, bench:latency) puts its figures on its own page and into
 * BENCHMARKS.md without rerunning everything else. Each section states its own command, date and
 * commit, so a page holding sections from different runs still says where every figure came from.
 */
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";

export const BENCH_ROOT = path.resolve(path.dirname(new URL(import.meta.url).pathname), "../..");
/** The section every page ends with; new sections go before it. */
const OTHER_PAGES_HEADING = "## Other benchmark pages";

/**
 * Put `section` (which starts with `heading`) in `file`: in place of the section of that heading,
 * else before "Other benchmark pages", else at the end. `fresh` is the page when the file is missing.
 */
export function replaceSection(file: string, heading: string, section: string, fresh: string): void {
  const markdown = existsSync(file) ? readFileSync(file, "utf8") : fresh;
  const body = `${section.trimEnd()}\n\n`;
  const start = markdown.indexOf(`\n${heading}\n`);
  let next: string;
  if (start >= 0) {
    const after = markdown.indexOf("\n## ", start + heading.length + 1);
    next = `${markdown.slice(0, start + 1)}${body}${after >= 0 ? markdown.slice(after + 1) : ""}`;
  } else {
    const anchor = markdown.indexOf(`\n${OTHER_PAGES_HEADING}\n`);
    next =
      anchor >= 0
        ? `${markdown.slice(0, anchor + 1)}${body}${markdown.slice(anchor + 1)}`
        : `${markdown.trimEnd()}\n\n${body}`;
  }
  writeFileSync(file, `${next.trimEnd()}\n`);
}

/** BENCHMARKS.md, where every benchmark's figures are quoted. */
export const BENCHMARKS_FILE = path.join(BENCH_ROOT, "BENCHMARKS.md");
