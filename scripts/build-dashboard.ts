/** `npm run build:dashboard`: bundle the dashboard into dist/dashboard/ (see src/dashboard/build.ts). */
import path from "node:path";
import { buildDashboard, DASHBOARD_DIST } from "../src/dashboard/build.js";

const started = Date.now();
const { bytes } = await buildDashboard();
console.log(
  `dashboard built into ${path.relative(process.cwd(), DASHBOARD_DIST)}/ (${Math.round(bytes / 1024)} KiB incl. source map) in ${Date.now() - started} ms`,
);
