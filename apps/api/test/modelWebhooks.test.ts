/**
 * Tenant-level model webhooks: `model.version.created` reaches a real HTTP receiver when a
 * version is registered, signed with the webhook's secret, retried after a failed attempt, and
 * never reaches another tenant's receiver or a deleted webhook.
 */
import { createHmac, timingSafeEqual } from "node:crypto";
import { createServer, type IncomingHttpHeaders, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { setTimeout as sleep } from "node:timers/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { auth, startTestApi, type TestApi } from "./helpers/testApi.ts";
import { LABELS, trainedJob } from "./helpers/trainedJobs.ts";

const SECRET = "model-webhook-secret-0123456789";

interface Received {
  path: string;
  headers: IncomingHttpHeaders;
  body: string;
}

let api: TestApi;
let server: Server;
let baseUrl: string;
const received: Received[] = [];
/** Status codes to answer, in turn, per path; 200 once they run out. */
const answers = new Map<string, number[]>();

beforeAll(async () => {
  server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on("data", (chunk: Buffer) => chunks.push(chunk));
    request.on("end", () => {
      const path = request.url ?? "/";
      received.push({ path, headers: request.headers, body: Buffer.concat(chunks).toString("utf8") });
      response.statusCode = answers.get(path)?.shift() ?? 200;
      response.end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  api = await startTestApi({
    TRAINYARD_WEBHOOK_INTERVAL_MS: "50",
    TRAINYARD_WEBHOOK_BACKOFF_MS: "200",
    TRAINYARD_WEBHOOK_ALLOW_PRIVATE: "true",
  });
  await api.app.ready();
});

afterAll(async () => {
  await api?.close();
  server?.closeAllConnections();
  await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
});

const at = (path: string) => received.filter((request) => request.path === path);

async function until<T>(probe: () => T | false | Promise<T | false>, what: string, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(25);
  }
}

function subscribe(payload: object, key = api.keyA) {
  return api.app.inject({ method: "POST", url: "/v1/webhooks", headers: auth(key), payload });
}

function register(name: string, jobId: string, key = api.keyA) {
  return api.app.inject({ method: "POST", url: "/v1/models", headers: auth(key), payload: { name, fromJobId: jobId, checkpoint: "best" } });
}

describe("model.version.created", () => {
  it("POSTs each new version to the tenant's webhook, signed, and retries a failed attempt", async () => {
    const created = await subscribe({ url: `${baseUrl}/registry`, secret: SECRET });
    expect(created.statusCode, created.body).toBe(201);
    const webhook = created.json();
    expect(webhook).toEqual({
      id: expect.stringMatching(/^whk_/),
      url: `${baseUrl}/registry`,
      events: ["model.version.created"],
      createdAt: expect.any(String),
    });
    expect(created.headers.location).toBe(`/v1/webhooks/${webhook.id}`);
    // Tenant B subscribes too, and must hear nothing of tenant A's versions.
    expect((await subscribe({ url: `${baseUrl}/other-tenant` }, api.keyB)).statusCode).toBe(201);

    answers.set("/registry", [500]);
    const jobId = await trainedJob(api);
    const registered = await register("hooked", jobId);
    expect(registered.statusCode, registered.body).toBe(201);

    const [failed, delivered] = await until(() => at("/registry").length >= 2 && at("/registry"), "a failed attempt and its retry");
    expect(delivered!.body).toBe(failed!.body);
    const body = JSON.parse(delivered!.body);
    expect(body).toEqual({
      id: delivered!.headers["x-trainyard-delivery"],
      type: "model.version.created",
      createdAt: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/),
      data: { name: "hooked", version: registered.json() },
    });
    expect(body.data.version).toMatchObject({ version: 1, sourceJobId: jobId, checkpoint: "best", labels: LABELS });
    expect(delivered!.headers).toMatchObject({ "content-type": "application/json", "x-trainyard-event": "model.version.created" });
    const [, timestamp, signature] = /^t=(\d+),v1=([0-9a-f]{64})$/.exec(String(delivered!.headers["x-trainyard-signature"]))!;
    const expected = createHmac("sha256", SECRET).update(`${timestamp}.${delivered!.body}`).digest();
    expect(timingSafeEqual(Buffer.from(signature!, "hex"), expected)).toBe(true);

    const deliveries = await until(async () => {
      const page = (await api.app.inject({ url: `/v1/webhooks/${webhook.id}/deliveries`, headers: auth(api.keyA) })).json();
      return page.items[0]?.deliveredAt && page.items;
    }, "the delivery recorded");
    expect(deliveries).toEqual([
      expect.objectContaining({
        id: body.id,
        event: "model.version.created",
        statusCode: 200,
        attempts: 2,
        lastError: null,
        failedAt: null,
      }),
    ]);
    expect(at("/other-tenant")).toEqual([]);
    expect((await api.app.inject({ url: `/v1/webhooks/${webhook.id}/deliveries`, headers: auth(api.keyB) })).statusCode).toBe(404);
  });

  it("lists and deletes webhooks per tenant; a deleted webhook hears no more versions", async () => {
    const webhook = (await subscribe({ url: `${baseUrl}/short-lived` })).json();
    const listed = (await api.app.inject({ url: "/v1/webhooks", headers: auth(api.keyA) })).json();
    expect(listed.items.map((item: { url: string }) => item.url)).toContain(`${baseUrl}/short-lived`);
    expect(JSON.stringify(listed)).not.toContain(SECRET);
    const otherTenant = (await api.app.inject({ url: "/v1/webhooks", headers: auth(api.keyB) })).json();
    expect(otherTenant.items.map((item: { url: string }) => item.url)).toEqual([`${baseUrl}/other-tenant`]);

    expect((await api.app.inject({ method: "DELETE", url: `/v1/webhooks/${webhook.id}`, headers: auth(api.keyB) })).statusCode).toBe(404);
    expect((await api.app.inject({ method: "DELETE", url: `/v1/webhooks/${webhook.id}`, headers: auth(api.keyA) })).statusCode).toBe(204);

    const before = at("/registry").length;
    expect((await register("hooked", await trainedJob(api))).statusCode).toBe(201);
    await until(() => at("/registry").length > before, "the remaining webhook's delivery");
    await sleep(300);
    expect(at("/short-lived")).toEqual([]);
  });

  it("answers 400 naming the field for an unknown event, a URL with credentials or a short secret", async () => {
    for (const [payload, path] of [
      [{ url: `${baseUrl}/x`, events: ["model.deleted"] }, "events.0"],
      [{ url: "https://user:pass@example.org/hook" }, "url"],
      [{ url: `${baseUrl}/x`, secret: "short" }, "secret"],
      [{ url: "ftp://example.org/hook" }, "url"],
    ] as const) {
      const response = await subscribe(payload);
      expect(response.statusCode, JSON.stringify(payload)).toBe(400);
      expect(response.headers["content-type"]).toMatch(/^application\/problem\+json/);
      expect(response.json().errors.map((error: { path: string }) => error.path)).toContain(path);
    }
  });
});
