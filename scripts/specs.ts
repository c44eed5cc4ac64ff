/** `npm run specs`: regenerate asyncapi.yaml and specs/openapi.json from the zod schemas. */
import { mkdirSync, writeFileSync } from "node:fs";
import path from "node:path";
import { ASYNCAPI_FILE, generateContract, OPENAPI_FILE } from "../src/specs/generate.js";

const documents = await generateContract();
mkdirSync(path.dirname(OPENAPI_FILE), { recursive: true });
writeFileSync(ASYNCAPI_FILE, documents.asyncapi);
writeFileSync(OPENAPI_FILE, documents.openapi);
console.log(
  `wrote ${path.relative(process.cwd(), ASYNCAPI_FILE)} and ${path.relative(process.cwd(), OPENAPI_FILE)}`,
);
