import type { FastifyInstance } from "fastify";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createDb } from "@trainyard/db";
import { buildServer, createApiKey, loadApiConfig } from "../src/index.ts";
import { createTestDatabase, uniqueQueuePrefix } from "../../../tests/helpers/database.ts";
import { startPrivateRedis } from "../../../tests/helpers/privateServices.ts";
import { waitFor } from "../../../tests/helpers/processes.ts";

/**
 * Liveness and readiness as Kubernetes uses them (k8s/api.yaml): Redis down leaves the API ready (reads
 * keep working), PostgreSQL down takes it out of the Service, and neither makes it look dead.
 */
let app: FastifyInstance;
let apiKey: string;
let redis: Awaited<ReturnType<typeof startPrivateRedis>>;
let database: Awaited<ReturnType<typeof createTestDatabase>>;

beforeAll(async () => {
  database = await createTestDatabase();
  redis = await startPrivateRedis();
  app = await buildServer(
    loadApiConfig({ DATABASE_URL: database.url, REDIS_URL: redis.url, LOG_LEVEL: "silent", TRAINYARD_QUEUE_PREFIX: uniqueQueuePrefix() }),
  );
  const db = createDb(database.url);
  apiKey = (await createApiKey(db, "readiness")).key;
  await db.$disconnect();
});

afterAll(async () => {
  await app?.close();
  await redis?.kill();
  await database?.drop();
});

describe("/healthz and /readyz", () => {
  it("are ready with both services up", async () => {
    const ready = await app.inject({ method: "GET", url: "/readyz" });
    expect(ready.statusCode).toBe(200);
    expect(ready.json()).toEqual({ status: "ready", postgres: "ok", redis: "ok" });
  });

  it("stay ready (degraded) while Redis is down, reads keep answering, and are ready again when it is back", async () => {
    await redis.kill();
    const ready = await app.inject({ method: "GET", url: "/readyz" });
    expect(ready.statusCode).toBe(200);
    expect(ready.json()).toEqual({ status: "degraded", postgres: "ok", redis: "unavailable" });
    expect((await app.inject({ method: "GET", url: "/healthz" })).statusCode).toBe(200);
    const jobs = await app.inject({ method: "GET", url: "/v1/jobs", headers: { authorization: `Bearer ${apiKey}` } });
    expect(jobs.statusCode).toBe(200);

    await redis.start();
    await waitFor("/readyz to see Redis again", async () => (await app.inject({ method: "GET", url: "/readyz" })).json().status === "ready", 30_000, 200);
  });

  it("are not ready without PostgreSQL, but the process stays live", async () => {
    await database.drop();
    const started = Date.now();
    const ready = await app.inject({ method: "GET", url: "/readyz" });
    expect(ready.statusCode).toBe(503);
    expect(ready.json()).toEqual({ status: "not ready", postgres: "unavailable", redis: "ok" });
    expect(Date.now() - started).toBeLessThan(1_000);
    expect((await app.inject({ method: "GET", url: "/healthz" })).statusCode).toBe(200);
  });
});
