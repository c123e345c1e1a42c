import { createReadStream } from "node:fs";
import { realpath, stat } from "node:fs/promises";
import { extname, resolve, sep } from "node:path";
import { fileURLToPath } from "node:url";
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from "fastify";

/** apps/web/public, next to this app in the repository (and in the API image, which copies apps/). */
const DEFAULT_ROOT = fileURLToPath(new URL("../../../../web/public/", import.meta.url));

/** Only these are served; anything else under the folder answers 404. */
const CONTENT_TYPES: Record<string, string> = {
  ".html": "text/html; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".json": "application/json; charset=utf-8",
  ".svg": "image/svg+xml",
  ".png": "image/png",
  ".ico": "image/x-icon",
  ".txt": "text/plain; charset=utf-8",
};

/** The page talks only to its own origin; all text is inserted as text, so no inline script or style is needed. */
const CONTENT_SECURITY_POLICY = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data: blob:",
  "connect-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join("; ");

/**
 * The dashboard's static files (apps/web/public) at /dashboard, without an API key: the page
 * asks for one and sends it on its own API calls. No directory listing, no dot files, nothing
 * outside the folder (`..`, encoded or not, and symlinks that lead out are refused).
 */
const dashboard: FastifyPluginAsync<{ root?: string }> = async (app, options) => {
  let root: string;
  try {
    root = await realpath(options.root ?? DEFAULT_ROOT);
  } catch {
    // An API deployed without the dashboard's files still serves the API.
    app.log.warn({ root: options.root ?? DEFAULT_ROOT }, "dashboard files not found; /dashboard is not served");
    return;
  }

  async function send(request: FastifyRequest, reply: FastifyReply, relative: string) {
    const segments = relative.split("/").filter((segment) => segment !== "");
    const unsafe = segments.some((segment) => segment.startsWith(".") || segment.includes("\\") || segment.includes("\0"));
    const type = CONTENT_TYPES[extname(relative).toLowerCase()];
    if (unsafe || !type) return reply.callNotFound();
    let file: string;
    let size: number;
    let mtime: Date;
    try {
      file = await realpath(resolve(root, ...segments));
      if (!file.startsWith(root + sep)) return reply.callNotFound();
      const info = await stat(file);
      if (!info.isFile()) return reply.callNotFound();
      ({ size, mtime } = info);
    } catch {
      return reply.callNotFound();
    }
    const etag = `W/"${size.toString(16)}-${mtime.getTime().toString(16)}"`;
    reply
      .header("cache-control", "no-cache")
      .header("etag", etag)
      .header("x-content-type-options", "nosniff")
      .header("referrer-policy", "no-referrer");
    if (type.startsWith("text/html")) reply.header("content-security-policy", CONTENT_SECURITY_POLICY);
    if (request.headers["if-none-match"] === etag) return reply.status(304).send();
    return reply.type(type).header("content-length", size).send(createReadStream(file));
  }

  const routeOptions = { schema: { hide: true } };
  app.get("/dashboard", routeOptions, (request, reply) => send(request, reply, "index.html"));
  app.get<{ Params: { "*": string } }>("/dashboard/*", routeOptions, (request, reply) =>
    send(request, reply, request.params["*"] || "index.html"),
  );
};

export default dashboard;
