/**
 * The live dashboard at `/`, with its bundle under /dashboard/. Built by `npm run
 * build:dashboard` (run automatically before `npm start` and by the tests) into dist/dashboard/.
 */
import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import type { FastifyInstance } from "fastify";
import { DASHBOARD_DIST } from "../dashboard/paths.js";
import { sendFile } from "./static-files.js";

/** The dashboard's diamond, also answering browsers' automatic /favicon.ico request on any page. */
const FAVICON =
  '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 16 16"><path d="M8 1l7 7-7 7-7-7z" fill="#5b8cff"/></svg>';

export async function registerDashboardRoutes(
  fastify: FastifyInstance,
  folder: string = DASHBOARD_DIST,
): Promise<void> {
  const hidden = { schema: { hide: true } };
  fastify.get("/favicon.ico", hidden, async (_request, reply) =>
    reply.type("image/svg+xml").header("cache-control", "public, max-age=86400").send(FAVICON),
  );
  const index = path.join(folder, "index.html");
  if (!existsSync(index)) {
    fastify.get("/", hidden, async (_request, reply) => {
      reply.code(503).type("text/plain; charset=utf-8");
      return "Dashboard not built: run `npm run build:dashboard` (npm start does it for you).";
    });
    return;
  }
  const html = readFileSync(index);
  fastify.get("/", hidden, async (_request, reply) => reply.type("text/html; charset=utf-8").send(html));
  fastify.get<{ Params: { "*": string } }>("/dashboard/*", hidden, async (request, reply) =>
    sendFile(reply, folder, request.params["*"]),
  );
}
