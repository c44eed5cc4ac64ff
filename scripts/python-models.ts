/**
 * `npm run models:python`: regenerate examples/python-client/gateway_models.py from the committed
 * asyncapi.yaml (run `npm run specs` first when the schemas changed), as a third party would.
 */
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { ASYNCAPI_FILE } from "../src/specs/generate.js";
import { PYTHON_MODELS_FILE, renderPythonModels } from "../src/specs/python-models.js";

mkdirSync(path.dirname(PYTHON_MODELS_FILE), { recursive: true });
writeFileSync(PYTHON_MODELS_FILE, renderPythonModels(readFileSync(ASYNCAPI_FILE, "utf8")));
console.log(`wrote ${path.relative(process.cwd(), PYTHON_MODELS_FILE)}`);
