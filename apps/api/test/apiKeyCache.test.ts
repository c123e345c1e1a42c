import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createApiKey } from "../src/index.ts";
import { keyChangesVisible } from "../src/services/apiKeyCache.ts";
import { auth, startTestApi, type TestApi } from "./helpers/testApi.ts";

let api: TestApi;

beforeAll(async () => {
  api = await startTestApi();
});

afterAll(async () => {
  await api?.close();
});

const queue = (key: string) => api.app.inject({ method: "GET", url: "/v1/queue", headers: auth(key) });

describe("API key lookups cached per process", () => {
  it("answers from the cache without a key query, and refuses a key revoked in the database once the change is visible", async () => {
    const { key } = await createApiKey(api.db, "tenant-cache");
    expect((await queue(key)).statusCode).toBe(200);
    // Cached now: a revocation that notifies no one (trigger off) is not seen, so no key query ran.
    await api.db.$executeRawUnsafe('ALTER TABLE "ApiKey" DISABLE TRIGGER "ApiKey_notify_change"');
    try {
      await api.db.apiKey.updateMany({ where: { prefix: key.slice(0, 7) }, data: { revokedAt: new Date() } });
      expect((await queue(key)).statusCode).toBe(200);
      await api.db.apiKey.updateMany({ where: { prefix: key.slice(0, 7) }, data: { revokedAt: null } });
    } finally {
      await api.db.$executeRawUnsafe('ALTER TABLE "ApiKey" ENABLE TRIGGER "ApiKey_notify_change"');
    }

    await api.db.apiKey.updateMany({ where: { prefix: key.slice(0, 7) }, data: { revokedAt: new Date() } });
    await keyChangesVisible();
    expect((await queue(key)).statusCode).toBe(401);
  });

  it("refuses the keys of a deleted tenant (cascade) and never caches an unknown key", async () => {
    const { key, tenantId } = await createApiKey(api.db, "tenant-gone");
    expect((await queue(key)).statusCode).toBe(200);
    await api.db.tenant.delete({ where: { id: tenantId } });
    await keyChangesVisible();
    expect((await queue(key)).statusCode).toBe(401);
    expect((await queue("ty_unknown_key")).statusCode).toBe(401);
  });

  it("still lets an unchanged lastUsedAt write leave the entry cached", async () => {
    const { key } = await createApiKey(api.db, "tenant-used");
    expect((await queue(key)).statusCode).toBe(200);
    await api.db.apiKey.updateMany({ where: { prefix: key.slice(0, 7) }, data: { lastUsedAt: new Date() } });
    expect((await queue(key)).statusCode).toBe(200);
  });
});
