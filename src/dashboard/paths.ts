/** Where the dashboard's sources are and where its bundle goes (Node side; not part of the bundle). */
import path from "node:path";
import { PROJECT_ROOT } from "../project-root.js";

export const DASHBOARD_SOURCE = path.join(PROJECT_ROOT, "src", "dashboard");
export const DASHBOARD_DIST = path.join(PROJECT_ROOT, "dist", "dashboard");
