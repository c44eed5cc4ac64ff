import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import Fastify from "fastify";
import { describe, expect, it } from "vitest";
import { DASHBOARD_DIST } from "../../src/dashboard/paths.js";
import { registerDashboardRoutes } from "../../src/http/dashboard-route.js";

describe("dashboard routes", () => {
  it("serve the built page at / and its bundle under /dashboard/", async () => {
    const fastify = Fastify();
    await registerDashboardRoutes(fastify, DASHBOARD_DIST);
    const page = await fastify.inject({ url: "/" });
    expect(page.statusCode).toBe(200);
    expect(page.headers["content-type"]).toBe("text/html; charset=utf-8");
    expect(page.body).toContain('<script type="module" src="/dashboard/dashboard.js"></script>');
    const bundle = await fastify.inject({ url: "/dashboard/dashboard.js" });
    expect(bundle.statusCode).toBe(200);
    expect(bundle.headers["content-type"]).toMatch(/javascript/);
    expect((await fastify.inject({ url: "/dashboard/dashboard.css" })).statusCode).toBe(200);
    const icon = await fastify.inject({ url: "/favicon.ico" });
    expect([icon.statusCode, icon.headers["content-type"]]).toEqual([200, "image/svg+xml"]);
  });

  it("say how to build the page when it has not been built", async () => {
    const fastify = Fastify();
    const empty = mkdtempSync(path.join(tmpdir(), "no-dashboard-"));
    writeFileSync(path.join(empty, "unrelated.txt"), "");
    await registerDashboardRoutes(fastify, empty);
    const page = await fastify.inject({ url: "/" });
    expect([page.statusCode, page.body]).toEqual([
      503,
      "Dashboard not built: run `npm run build:dashboard` (npm start does it for you).",
    ]);
  });
});
