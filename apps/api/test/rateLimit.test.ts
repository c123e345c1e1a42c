import { afterAll, beforeAll, describe, expect, it } from "vitest";
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
