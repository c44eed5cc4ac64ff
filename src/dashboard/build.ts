/**
 * Bundle the dashboard with esbuild: src/dashboard/main.ts (with the SDK and zod) into one ES
 * module, the stylesheet and the HTML beside it, in dist/dashboard/. Run by `npm run
 * build:dashboard`, before `npm start`, and by the test setup; everything is served by the
 * gateway itself, nothing from a CDN.
 */
import { copyFileSync, mkdirSync } from "node:fs";
import path from "node:path";
import { build, type Plugin } from "esbuild";
import { DASHBOARD_DIST, DASHBOARD_SOURCE } from "./paths.js";

export { DASHBOARD_DIST };

export async function buildDashboard(outDir: string = DASHBOARD_DIST): Promise<{ bytes: number }> {
  mkdirSync(outDir, { recursive: true });
  const result = await build({
    entryPoints: [path.join(DASHBOARD_SOURCE, "main.ts")],
    outfile: path.join(outDir, "dashboard.js"),
    bundle: true,
    format: "esm",
    // "browser" makes a Node-only import (node:*, ws) a build error instead of a runtime one.
    platform: "browser",
    target: ["chrome110", "firefox110", "safari16"],
    minify: true,
    sourcemap: true,
    legalComments: "none",
    metafile: true,
    logLevel: "warning",
    plugins: [englishOnlyZodLocales],
  });
  copyFileSync(path.join(DASHBOARD_SOURCE, "index.html"), path.join(outDir, "index.html"));
  copyFileSync(path.join(DASHBOARD_SOURCE, "styles.css"), path.join(outDir, "dashboard.css"));
  const bytes = Object.values(result.metafile.outputs).reduce((sum, output) => sum + output.bytes, 0);
  return { bytes };
}

/**
 * zod re-exports its ~50 error-message locales through the `z` namespace, so no bundler can drop
 * them (260 KiB minified, over half the bundle). The dashboard speaks English: give it English only.
 */
const englishOnlyZodLocales: Plugin = {
  name: "english-only-zod-locales",
  setup(pluginBuild) {
    pluginBuild.onResolve({ filter: /\/locales\/index\.js$/ }, (args) =>
      args.importer.includes(`${path.sep}zod${path.sep}`)
        ? { path: path.join(path.dirname(args.importer), "../locales/index.js"), namespace: "zod-locales" }
        : undefined,
    );
    pluginBuild.onLoad({ filter: /.*/, namespace: "zod-locales" }, (args) => ({
      contents: `export { default as en } from ${JSON.stringify(path.join(path.dirname(args.path), "en.js"))};`,
      resolveDir: path.dirname(args.path),
    }));
  },
};
