/**
 * Writes docs/configuration.md (scripts/configuration-markdown.ts): the first half of `npm run docs`,
 * and on its own (`npx tsx scripts/configuration-docs.ts`) when only a setting changed, since it
 * takes a second where the AsyncAPI HTML render (scripts/docs.ts) takes twenty.
 */
import { writeFileSync } from "node:fs";
import path from "node:path";
import { CONFIGURATION_MD, configurationMarkdown } from "./configuration-markdown.js";

writeFileSync(CONFIGURATION_MD, await configurationMarkdown());
console.log(`wrote ${path.relative(process.cwd(), CONFIGURATION_MD)}`);
