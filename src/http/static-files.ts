/**
 * Files from a folder, for the few static pages the gateway serves (the dashboard bundle, the
 * AsyncAPI HTML, Swagger UI's assets). Node's fs only: a static-file plugin would be loaded, with
 * its dependencies, by every gateway at start, for pages most instances never serve.
 *
 * A request can only reach files under the folder: the path is normalised and checked before any
 * file is opened, and anything else is a 404.
 */
import { createReadStream } from "node:fs";
import { stat } from "node:fs/promises";
import path from "node:path";
import type { FastifyReply } from "fastify";

const CONTENT_TYPES: Record<string, string> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".mjs": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".json": "application/json; charset=utf-8",
  ".map": "application/json; charset=utf-8",
  ".svg": "image/svg+xml",
  ".png": "image/png",
  ".ico": "image/x-icon",
  ".woff": "font/woff",
  ".woff2": "font/woff2",
  ".txt": "text/plain; charset=utf-8",
};

/** Send `relative` from `root` (index.html for a folder), or a 404. */
export async function sendFile(reply: FastifyReply, root: string, relative: string): Promise<FastifyReply> {
  const base = path.resolve(root);
  let file = path.resolve(base, `.${path.posix.normalize(`/${decodeURIComponentSafe(relative)}`)}`);
  if (file !== base && !file.startsWith(`${base}${path.sep}`)) return notFound(reply);
  let info = await stat(file).catch(() => undefined);
  if (info?.isDirectory()) {
    file = path.join(file, "index.html");
    info = await stat(file).catch(() => undefined);
  }
  if (!info?.isFile()) return notFound(reply);
  return reply
    .type(CONTENT_TYPES[path.extname(file)] ?? "application/octet-stream")
    .header("content-length", info.size)
    .header("cache-control", "public, max-age=300")
    .send(createReadStream(file));
}

function notFound(reply: FastifyReply): FastifyReply {
  return reply.code(404).type("text/plain; charset=utf-8").send("Not found");
}

function decodeURIComponentSafe(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}
