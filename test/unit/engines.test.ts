/**
 * The Node requirement is honest: every production dependency (package-lock.json's "packages"
 * entries not marked dev, i.e. what `npm ci --omit=dev` installs) accepts every Node version that
 * package.json "engines" (and README's "Node 20.19 or later") documents. A dependency whose engines
 * exclude part of that range makes `npm ci` warn EBADENGINE there, and may really not run there:
 * override it to a version that allows the documented Node (package.json "overrides"), or change
 * the documented version.
 *
 * Checked on the lockfile (what npm ci reads) and on node_modules (what is installed).
 */
import { existsSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";
import { describe, expect, it } from "vitest";

const ROOT = path.resolve(import.meta.dirname, "../..");
// semver is in node_modules through the development tools; npm itself checks engines with it.
const semver = createRequire(import.meta.url)("semver") as {
  subset(sub: string, dom: string): boolean;
  minVersion(range: string): { version: string } | null;
  validRange(range: string): string | null;
};

interface LockEntry {
  version?: string;
  dev?: boolean;
  link?: boolean;
  engines?: { node?: string } | string[];
}

const manifest = JSON.parse(readFileSync(path.join(ROOT, "package.json"), "utf8")) as {
  engines: { node: string };
};
const lock = JSON.parse(readFileSync(path.join(ROOT, "package-lock.json"), "utf8")) as {
  packages: Record<string, LockEntry>;
};
const documented = manifest.engines.node;

/** The production entries of the lockfile: path ("node_modules/…") and entry. */
const production = Object.entries(lock.packages).filter(
  ([location, entry]) => location !== "" && !entry.dev && !entry.link,
);

function nodeRange(engines: LockEntry["engines"]): string | undefined {
  // Old packages wrote engines as an array of strings ("node >= 0.8"): npm ignores that form.
  return engines && !Array.isArray(engines) ? engines.node : undefined;
}

/** Where a dependency's range leaves out part of the documented one: "name@version wants X". */
function excluded(entries: [string, string | undefined, string | undefined][]): string[] {
  return entries
    .filter(([, , range]) => range !== undefined && !semver.subset(documented, range))
    .map(([location, version, range]) => `${location}@${version} wants node ${range}`);
}

describe("engines: production dependencies accept the documented Node version", () => {
  it("documents one Node range, in package.json and README", () => {
    expect(semver.validRange(documented), documented).not.toBeNull();
    const minimum = semver.minVersion(documented)?.version ?? "";
    const [major, minor] = minimum.split(".");
    const readme = readFileSync(path.join(ROOT, "README.md"), "utf8");
    expect(readme).toContain(`Node ${major}.${minor} or later`);
  });

  it("finds the production tree in the lockfile (the NATS client, fastify)", () => {
    const names = production.map(([location]) => location);
    expect(names).toContain("node_modules/@nats-io/transport-node");
    expect(names).toContain("node_modules/fastify");
    expect(names).not.toContain("node_modules/vitest");
  });

  it("no production dependency in package-lock.json excludes the documented Node", () => {
    expect(
      excluded(production.map(([location, entry]) => [location, entry.version, nodeRange(entry.engines)])),
    ).toEqual([]);
  });

  it("no installed production dependency (node_modules/…/package.json) excludes it either", () => {
    const installed = production
      .filter(([location]) => existsSync(path.join(ROOT, location, "package.json")))
      .map(([location]): [string, string | undefined, string | undefined] => {
        const json = JSON.parse(readFileSync(path.join(ROOT, location, "package.json"), "utf8")) as LockEntry;
        return [location, json.version, nodeRange(json.engines)];
      });
    expect(installed.length).toBeGreaterThan(production.length / 2);
    expect(excluded(installed)).toEqual([]);
  });
});
