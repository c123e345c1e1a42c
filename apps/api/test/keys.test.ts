import type { FastifyInstance } from "fastify";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildServer, loadApiConfig } from "../src/index.ts";
import { auth, startTestApi, type TestApi } from "./helpers/testApi.ts";

let api: TestApi;
/** A second API process on the same database: its key cache learns of revocations only through PostgreSQL. */
let other: FastifyInstance;

beforeAll(async () => {
  api = await startTestApi();
  other = await buildServer(loadApiConfig(api.env));
});

afterAll(async () => {
  await other?.close();
  await api?.close();
});

const createKey = (key: string, body: unknown) => api.app.inject({ method: "POST", url: "/v1/keys", headers: auth(key), payload: body as object });
const queue = (app: FastifyInstance, key: string) => app.inject({ method: "GET", url: "/v1/queue", headers: auth(key) });

describe("API keys", () => {
  it("creates a key whose secret is shown once, lists keys without secrets, and revokes it in every API process", async () => {
    const created = await createKey(api.keyA, { name: "ci" });
    expect(created.statusCode).toBe(201);
    const key = created.json();
    expect(key).toMatchObject({ name: "ci", lastUsedAt: null, revokedAt: null });
    expect(key.key).toMatch(/^ty_/);
    expect(key.prefix).toBe(key.key.slice(0, 7));
    expect(created.headers.location).toBe(`/v1/keys/${key.id}`);

    // Both processes cache the new key.
    expect((await queue(api.app, key.key)).statusCode).toBe(200);
    expect((await queue(other, key.key)).statusCode).toBe(200);

    const listed = await api.app.inject({ method: "GET", url: "/v1/keys", headers: auth(api.keyA) });
    expect(listed.statusCode).toBe(200);
    const items = listed.json().items as Record<string, unknown>[];
    expect(items.map((item) => item.name)).toEqual(["ci", "default"]);
    expect(listed.body).not.toContain(key.key);
    for (const item of items) expect(Object.keys(item).sort()).toEqual(["createdAt", "id", "lastUsedAt", "name", "prefix", "revokedAt"]);
    expect(items[0].lastUsedAt).not.toBeNull();

    const revoked = await api.app.inject({ method: "DELETE", url: `/v1/keys/${key.id}`, headers: auth(api.keyA) });
    expect(revoked.statusCode).toBe(204);
    expect((await queue(other, key.key)).statusCode).toBe(401);
    expect((await queue(api.app, key.key)).statusCode).toBe(401);
    const after = (await api.app.inject({ method: "GET", url: "/v1/keys", headers: auth(api.keyA) })).json().items;
    expect(after[0].revokedAt).not.toBeNull();
    // Revoking again changes nothing.
    expect((await api.app.inject({ method: "DELETE", url: `/v1/keys/${key.id}`, headers: auth(api.keyA) })).statusCode).toBe(204);
  });

  it("answers 404 for another tenant's key and leaves it working", async () => {
    const key = (await createKey(api.keyB, { name: "tenant-b-ci" })).json();
    const attempt = await api.app.inject({ method: "DELETE", url: `/v1/keys/${key.id}`, headers: auth(api.keyA) });
    expect(attempt.statusCode).toBe(404);
    expect(attempt.headers["content-type"]).toContain("application/problem+json");
    expect((await queue(api.app, key.key)).statusCode).toBe(200);
    const listedByA = (await api.app.inject({ method: "GET", url: "/v1/keys", headers: auth(api.keyA) })).json().items;
    expect(listedByA.map((item: { id: string }) => item.id)).not.toContain(key.id);
  });

  it("refuses a key without a usable name with a 400 naming the field", async () => {
    const cases: [unknown, string][] = [
      [{}, "name"],
      [{ name: "  " }, "name"],
      [{ name: "x".repeat(101) }, "name"],
      [{ name: "ci", extra: 1 }, "extra"],
    ];
    for (const [body, path] of cases) {
      const response = await createKey(api.keyA, body);
      expect(response.statusCode, JSON.stringify(body)).toBe(400);
      expect(response.headers["content-type"]).toContain("application/problem+json");
      expect(response.json().errors.map((error: { path: string }) => error.path)).toEqual([path]);
    }
  });

  it("needs a key itself", async () => {
    expect((await api.app.inject({ method: "GET", url: "/v1/keys" })).statusCode).toBe(401);
  });
});
