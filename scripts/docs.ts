/**
 * `npm run docs`: render asyncapi.yaml to HTML with @asyncapi/generator and
 * @asyncapi/html-template, into docs/asyncapi/ (index.html plus its css/ and js/ assets, which do not change between runs) that the gateway
 * serves at /docs/asyncapi. Run `npm run specs` first when the schemas changed.
 */
import { mkdirSync } from "node:fs";
import path from "node:path";
import Generator from "@asyncapi/generator";
import { ASYNCAPI_HTML } from "../src/http/docs-routes.js";
import { ASYNCAPI_FILE } from "../src/specs/generate.js";

const outputDir = path.dirname(ASYNCAPI_HTML);
mkdirSync(outputDir, { recursive: true });
const started = Date.now();
console.log(`rendering ${path.basename(ASYNCAPI_FILE)} with @asyncapi/html-template ...`);
const generator = new Generator("@asyncapi/html-template", outputDir, {
  forceWrite: true,
  templateParams: { outFilename: path.basename(ASYNCAPI_HTML) },
});
await generator.generateFromFile(ASYNCAPI_FILE);
console.log(
  `wrote ${path.relative(process.cwd(), ASYNCAPI_HTML)} in ${((Date.now() - started) / 1000).toFixed(1)} s`,
);
