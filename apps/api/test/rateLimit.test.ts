import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createApiKey } from "../src/index.ts";
import { keyChangesVisible } from "../src/services/apiKeyCache.ts";
import { auth, startTestApi, type TestApi } from "./helpers/testApi.ts";

const LIMIT = 3;
let api: TestApi;

beforeAll(async () => {
  api = await startTestApi({ TRAINYARD_RATE_LIMIT_PER_MINUTE: String(LIMIT) });
});

afterAll(async () => {
  await api?.close();
});

describe("rate limiting", () => {
  it("answers 429 problem+json with Retry-After once a key has used its requests, per key", async () => {
    for (let i = 0; i < LIMIT; i += 1) {
      const response = await api.app.inject({ method: "GET", url: "/v1/queue", headers: auth(api.keyA) });
      expect(response.statusCode).toBe(200);
      expect(response.headers["x-ratelimit-remaining"]).toBe(String(LIMIT - 1 - i));
    }
    const limited = await api.app.inject({ method: "GET", url: "/v1/queue", headers: auth(api.keyA) });
    expect(limited.statusCode).toBe(429);
    expect(limited.headers["content-type"]).toContain("application/problem+json");
    const retryAfter = Number(limited.headers["retry-after"]);
    expect(retryAfter).toBeGreaterThan(0);
    expect(retryAfter).toBeLessThanOrEqual(60);
    expect(limited.json()).toMatchObject({ status: 429, title: "Too Many Requests", requestId: expect.any(String) });

    const otherKey = await api.app.inject({ method: "GET", url: "/v1/queue", headers: auth(api.keyB) });
    expect(otherKey.statusCode).toBe(200);
  });

  it("limits requests without a key by client address, before authentication", async () => {
    const statuses: number[] = [];
    for (let i = 0; i <= LIMIT; i += 1) {
      statuses.push((await api.app.inject({ method: "GET", url: "/v1/queue", remoteAddress: "203.0.113.9" })).statusCode);
    }
    expect(statuses).toEqual([...Array(LIMIT).fill(401), 429]);
    const elsewhere = await api.app.inject({ method: "GET", url: "/v1/queue", remoteAddress: "203.0.113.10" });
    expect(elsewhere.statusCode).toBe(401);
  });

  it("leaves health, metrics and the OpenAPI document unlimited", async () => {
    for (let i = 0; i < LIMIT * 2; i += 1) {
      for (const url of ["/healthz", "/metrics", "/openapi.json"]) {
        const response = await api.app.inject({ method: "GET", url, remoteAddress: "203.0.113.9" });
        expect(response.statusCode, url).toBe(200);
      }
    }
  });
});

describe("rate limiting of unauthenticated traffic (issue 13)", () => {
  const randomToken = () => `ty_${randomBytes(24).toString("base64url")}`;

  it("random Bearer ty_… tokens from one address are limited before the key lookup", async () => {
    const address = "198.51.100.7";
    const statuses: number[] = [];
    for (let i = 0; i < LIMIT + 30; i += 1) {
      const response = await api.app.inject({ url: "/v1/queue", remoteAddress: address, headers: auth(randomToken()) });
      statuses.push(response.statusCode);
      if (response.statusCode === 429) {
        expect(response.headers["content-type"]).toContain("application/problem+json");
        expect(Number(response.headers["retry-after"])).toBeGreaterThan(0);
        expect(response.json().detail).toContain(`more than ${LIMIT} requests a minute`);
      }
    }
    expect(statuses).toEqual([...Array(LIMIT).fill(401), ...Array(30).fill(429)]);
  });

  it("counts failed authentications of every kind against the address", async () => {
    const address = "198.51.100.8";
    const send = (headers: Record<string, string>) => api.app.inject({ url: "/v1/jobs", remoteAddress: address, headers });
    expect((await send({})).statusCode).toBe(401);
    expect((await send(auth(randomToken()))).statusCode).toBe(401);
    expect((await send({ authorization: "Basic Zm9vOmJhcg==" })).statusCode).toBe(401);
    expect((await send(auth(randomToken()))).statusCode).toBe(429);
  });

  it("does not lock a valid key out of a shared address that guessing has spent", async () => {
    const address = "198.51.100.9";
    const fresh = await createApiKey(api.db, "tenant-shared-address");
    expect((await api.app.inject({ url: "/v1/queue", remoteAddress: address, headers: auth(fresh.key) })).statusCode).toBe(200);
    for (let i = 0; i < LIMIT; i += 1) await api.app.inject({ url: "/v1/queue", remoteAddress: address, headers: auth(randomToken()) });
    expect((await api.app.inject({ url: "/v1/queue", remoteAddress: address, headers: auth(randomToken()) })).statusCode).toBe(429);
    expect((await api.app.inject({ url: "/v1/queue", remoteAddress: address, headers: auth(fresh.key) })).statusCode).toBe(200);
  });

  it("counts a revoked key that authenticated earlier in the window against the address", async () => {
    const address = "198.51.100.10";
    const revoked = await createApiKey(api.db, "tenant-revoked");
    expect((await api.app.inject({ url: "/v1/queue", remoteAddress: address, headers: auth(revoked.key) })).statusCode).toBe(200);
    await api.db.apiKey.updateMany({ where: { tenantId: revoked.tenantId }, data: { revokedAt: new Date() } });
    await keyChangesVisible();
    const statuses: number[] = [];
    for (let i = 0; i < LIMIT + 2; i += 1) {
      statuses.push((await api.app.inject({ url: "/v1/queue", remoteAddress: address, headers: auth(revoked.key) })).statusCode);
    }
    expect(statuses.slice(0, LIMIT)).toEqual(Array(LIMIT).fill(401));
    expect(statuses.slice(LIMIT)).toEqual([429, 429]);
  });
});
