/**
 * Writes dist/main.js, the production entry point (`node dist/main.js`): the compiler mirrors the
 * repository's layout into dist/ (dist/src/main.js, dist/plugins/...), and this one-line module
 * gives the start command a stable, short path.
 */
import { writeFileSync } from "node:fs";
import path from "node:path";
import { PROJECT_ROOT } from "../src/project-root.js";

const entry = path.join(PROJECT_ROOT, "dist", "main.js");
writeFileSync(
  entry,
  '// The production entry point: node dist/main.js\nimport "./src/production-start.js";\n',
);
console.log(`wrote ${path.relative(PROJECT_ROOT, entry)}`);
