/**
 * The gateway's version, read from package.json's "version": the one source for the `version` of
 * GET /websocket/status, `info.version` of the OpenAPI and AsyncAPI documents, and
 * `gateway --version`. package.json is found from this file's place (src/ or, compiled, dist/src/);
 * every install keeps it (a production image copies package*.json to run `npm ci --omit=dev`).
 *
 * The AsyncAPI document's compatibility promise holds within one version, so a change to the wire
 * contract that is not a compatible growth means a new package version.
 */
import { readFileSync } from "node:fs";
import path from "node:path";
import { PROJECT_ROOT } from "./project-root.js";

function packageVersion(): string {
  const file = path.join(PROJECT_ROOT, "package.json");
  const { version } = JSON.parse(readFileSync(file, "utf8")) as { version?: unknown };
  if (typeof version !== "string" || version === "") throw new Error(`${file} has no "version"`);
  return version;
}

export const VERSION = packageVersion();
