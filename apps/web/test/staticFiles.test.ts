import { mkdtempSync, mkdirSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { request as httpRequest } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Fastify, { type FastifyInstance } from "fastify";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import dashboard from "../../api/src/plugins/app/dashboard.ts";

/** The dashboard plugin alone, over real HTTP (so that paths reach the router exactly as sent). */
async function serve(options: { root?: string } = {}) {
  const app = Fastify();
  await app.register(dashboard, options);
  await app.listen({ port: 0, host: "127.0.0.1" });
  return app;
}

function get(app: FastifyInstance, path: string, headers: Record<string, string> = {}, method = "GET") {
  const { port } = app.server.address() as AddressInfo;
  return new Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: string }>((resolve, reject) => {
    const request = httpRequest({ host: "127.0.0.1", port, path, method, headers }, (response) => {
      let body = "";
      response.setEncoding("utf8");
      response.on("data", (chunk: string) => (body += chunk));
      response.on("end", () => resolve({ status: response.statusCode ?? 0, headers: response.headers, body }));
    });
    request.on("error", reject);
    request.end();
  });
}

describe("GET /dashboard", () => {
  let app: FastifyInstance;
  beforeAll(async () => {
    app = await serve();
  });
  afterAll(() => app.close());

  it("serves the page at /dashboard and /dashboard/ with a content security policy, no key needed", async () => {
    for (const path of ["/dashboard", "/dashboard/", "/dashboard/index.html"]) {
      const response = await get(app, path);
      expect(response.status, path).toBe(200);
      expect(response.headers["content-type"]).toBe("text/html; charset=utf-8");
      expect(response.headers["content-security-policy"]).toContain("script-src 'self'");
      expect(response.headers["x-content-type-options"]).toBe("nosniff");
      expect(response.body).toContain('<script type="module" src="/dashboard/js/app.js">');
    }
  });

  it("serves scripts, styles and images with their content types", async () => {
    const expected: Record<string, string> = {
      "/dashboard/js/app.js": "text/javascript; charset=utf-8",
      "/dashboard/js/views/job.js": "text/javascript; charset=utf-8",
      "/dashboard/styles.css": "text/css; charset=utf-8",
      "/dashboard/favicon.svg": "image/svg+xml",
    };
    for (const [path, type] of Object.entries(expected)) {
      const response = await get(app, path);
      expect(response.status, path).toBe(200);
      expect(response.headers["content-type"]).toBe(type);
      expect(Number(response.headers["content-length"])).toBe(Buffer.byteLength(response.body));
    }
  });

  it("answers 304 to a matching If-None-Match, and HEAD without a body", async () => {
    const first = await get(app, "/dashboard/styles.css");
    const etag = first.headers.etag as string;
    expect(etag).toMatch(/^W\/"/);
    expect((await get(app, "/dashboard/styles.css", { "if-none-match": etag })).status).toBe(304);
    const head = await get(app, "/dashboard/styles.css", {}, "HEAD");
    expect(head.status).toBe(200);
    expect(head.body).toBe("");
  });

  it("refuses paths outside the folder, dot files, directories and unknown kinds of file", async () => {
    for (const path of [
      "/dashboard/../package.json",
      "/dashboard/../../../package.json",
      "/dashboard/%2e%2e/%2e%2e/%2e%2e/package.json",
      "/dashboard/js/%2e%2e/%2e%2e/%2e%2e/%2e%2e/package.json",
      "/dashboard/..%2f..%2f..%2fpackage.json",
      "/dashboard/%2e%2e%5c%2e%2e%5cpackage.json",
      "/dashboard//etc/passwd",
      "/dashboard/js",
      "/dashboard/js/",
      "/dashboard/.gitignore",
      "/dashboard/missing.js",
      "/dashboard/index.html%00.js",
      "/dashboard/../tsconfig.json",
    ]) {
      const response = await get(app, path);
      expect(response.status, path).toBe(404);
      expect(response.body).not.toContain("workspaces");
    }
  });

  it("does not follow a symlink out of the folder", async () => {
    const root = mkdtempSync(join(tmpdir(), "dashboard-root-"));
    const outside = mkdtempSync(join(tmpdir(), "dashboard-outside-"));
    try {
      writeFileSync(join(outside, "secret.txt"), "secret");
      mkdirSync(join(root, "js"));
      writeFileSync(join(root, "index.html"), "<!doctype html>");
      symlinkSync(join(outside, "secret.txt"), join(root, "leak.txt"));
      symlinkSync(outside, join(root, "js", "out"));
      const local = await serve({ root });
      try {
        expect((await get(local, "/dashboard")).status).toBe(200);
        expect((await get(local, "/dashboard/leak.txt")).status).toBe(404);
        expect((await get(local, "/dashboard/js/out/secret.txt")).status).toBe(404);
      } finally {
        await local.close();
      }
    } finally {
      rmSync(root, { recursive: true, force: true });
      rmSync(outside, { recursive: true, force: true });
    }
  });
});

describe("without the dashboard's files", () => {
  it("still starts, and /dashboard answers 404", async () => {
    const app = await serve({ root: join(tmpdir(), "no-such-dashboard-dir") });
    try {
      expect((await get(app, "/dashboard")).status).toBe(404);
    } finally {
      await app.close();
    }
  });
});

describe("the dashboard's scripts", () => {
  const dir = new URL("../public/js/", import.meta.url);
  const files = readdirSync(dir, { recursive: true, encoding: "utf8" }).filter((name) => name.endsWith(".js"));

  it("never turn strings into markup", () => {
    expect(files.length).toBeGreaterThan(5);
    for (const file of files) {
      const source = readFileSync(new URL(file, dir), "utf8");
      expect(source, file).not.toMatch(/innerHTML|outerHTML|insertAdjacentHTML|document\.write|\beval\(|new Function\(/);
    }
  });
});
