/**
 * Vitest global setup: bundle the dashboard once before any test file runs, so that the gateways
 * the tests start serve the current sources at `/` (the same bundle `npm start` builds).
 */
import { buildDashboard } from "../../src/dashboard/build.js";

export default async function setup(): Promise<void> {
  await buildDashboard();
}
