import { createHmac, timingSafeEqual } from "node:crypto";
import { createServer, type IncomingHttpHeaders, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { setTimeout as sleep } from "node:timers/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { isPrivateAddress } from "../src/services/webhooks/addressPolicy.ts";
import { createWebhookDispatcher } from "../src/services/webhooks/dispatcher.ts";
import { nextAttemptAt } from "../src/services/webhooks/retryPolicy.ts";
import { postWebhook } from "../src/services/webhooks/sender.ts";
import { auth, startTestApi, type TestApi } from "./helpers/testApi.ts";

interface Received {
  headers: IncomingHttpHeaders;
  body: string;
  json: { id: string; type: string; jobId: string; createdAt: string; data: any };
  at: number;
}

/** Answers the status code a responder gives for the nth (0-based) request on its path; 200 by default. */
type Responder = (index: number) => number | Promise<number>;

interface Receiver {
  url: (path: string) => string;
  port: number;
  received: (path: string) => Received[];
  respond: (path: string, responder: Responder) => void;
  close: () => Promise<void>;
}

async function startReceiver(): Promise<Receiver> {
  const received = new Map<string, Received[]>();
  const responders = new Map<string, Responder>();
  const server: Server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on("data", (chunk: Buffer) => chunks.push(chunk));
    request.on("end", async () => {
      const path = request.url ?? "/";
      const list = received.get(path) ?? [];
      received.set(path, list);
      const body = Buffer.concat(chunks).toString("utf8");
      const index = list.length;
      list.push({ headers: request.headers, body, json: JSON.parse(body), at: Date.now() });
      response.statusCode = await (responders.get(path) ?? (() => 200))(index);
      response.end("ok");
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    port,
    url: (path) => `http://127.0.0.1:${port}${path}`,
    received: (path) => received.get(path) ?? [],
    respond: (path, responder) => responders.set(path, responder),
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** Polls until `probe` answers something other than false or undefined, and answers that. */
async function waitFor<T>(
  probe: () => T | false | undefined | Promise<T | false | undefined>,
  what: string,
  timeoutMs = 10_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== false && value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(25);
  }
}

const SECRET = "a-webhook-secret-of-some-length";
const metrics = (epoch: number) => ({
  epoch,
  trainLoss: 1 / epoch,
  trainAccuracy: 0.5,
  valLoss: 1,
  valAccuracy: 0.5,
  learningRate: 0.1,
  seconds: 1,
  samplesPerSecond: 100,
});

let receiver: Receiver;

beforeAll(async () => {
  receiver = await startReceiver();
});

afterAll(async () => {
  await receiver?.close();
});

describe("webhook delivery", () => {
  let api: TestApi;

  beforeAll(async () => {
    api = await startTestApi({
      TRAINYARD_WEBHOOK_INTERVAL_MS: "50",
      TRAINYARD_WEBHOOK_BACKOFF_MS: "200",
      TRAINYARD_WEBHOOK_ALLOW_PRIVATE: "true",
    });
    await api.app.ready();
  });

  afterAll(async () => {
    await api?.close();
  });

  async function createJob(webhook: object | null, key = api.keyA): Promise<string> {
    const response = await api.app.inject({
      method: "POST",
      url: "/v1/jobs",
      headers: auth(key),
      payload: { architecture: "lenet", dataset: { name: "synthetic-shapes" }, webhook },
    });
    expect(response.statusCode).toBe(202);
    return response.json().id;
  }

  const addEvent = (jobId: string, type: string, data: object) => api.db.jobEvent.create({ data: { jobId, type, data } });

  async function deliveries(jobId: string, key = api.keyA, query = "") {
    const response = await api.app.inject({ url: `/v1/jobs/${jobId}/webhook-deliveries${query}`, headers: auth(key) });
    expect(response.statusCode).toBe(200);
    return response.json() as { items: any[]; nextCursor: string | null };
  }

  it("POSTs a job's status events, signed with the webhook's secret", async () => {
    const path = "/hooks/status";
    const jobId = await createJob({ url: receiver.url(path), events: ["status"], secret: SECRET });
    const cancelled = await api.app.inject({ method: "POST", url: `/v1/jobs/${jobId}/cancel`, headers: auth(api.keyA) });
    expect(cancelled.statusCode).toBe(202);

    const [queued, cancel] = await waitFor(() => receiver.received(path).length === 2 && receiver.received(path), "two deliveries");
    expect(queued!.json).toEqual({
      id: queued!.headers["x-trainyard-delivery"],
      type: "status",
      jobId,
      createdAt: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/),
      data: { status: "queued" },
    });
    expect(cancel!.json.data).toEqual({ status: "cancelled" });
    expect(queued!.headers).toMatchObject({
      "content-type": "application/json",
      "user-agent": "trainyard-webhooks/1",
      "x-trainyard-event": "status",
    });

    for (const request of [queued!, cancel!]) {
      const match = /^t=(\d+),v1=([0-9a-f]{64})$/.exec(String(request.headers["x-trainyard-signature"]));
      expect(match).not.toBeNull();
      const [, timestamp, signature] = match!;
      expect(Math.abs(Date.now() / 1000 - Number(timestamp))).toBeLessThan(60);
      const expected = createHmac("sha256", SECRET).update(`${timestamp}.${request.body}`).digest();
      expect(timingSafeEqual(Buffer.from(signature!, "hex"), expected)).toBe(true);
    }

    const { items, nextCursor } = await waitFor(async () => {
      const page = await deliveries(jobId);
      return page.items.every((item) => item.deliveredAt) && page;
    }, "both deliveries recorded");
    expect(nextCursor).toBeNull();
    expect(items).toEqual([
      expect.objectContaining({ id: queued!.json.id, event: "status", statusCode: 200, attempts: 1, lastError: null, failedAt: null }),
      expect.objectContaining({ id: cancel!.json.id, event: "status", statusCode: 200, attempts: 1, lastError: null, nextAttemptAt: null }),
    ]);

    const first = await deliveries(jobId, api.keyA, "?limit=1");
    expect(first.items.map((item) => item.id)).toEqual([queued!.json.id]);
    const second = await deliveries(jobId, api.keyA, `?limit=1&cursor=${first.nextCursor}`);
    expect(second.items.map((item) => item.id)).toEqual([cancel!.json.id]);
    expect(second.nextCursor).toBeNull();
  });

  it("sends no signature without a secret", async () => {
    const path = "/hooks/unsigned";
    await createJob({ url: receiver.url(path) });
    const [request] = await waitFor(() => receiver.received(path).length === 1 && receiver.received(path), "a delivery");
    expect(request!.headers["x-trainyard-signature"]).toBeUndefined();
  });

  it("retries a failed attempt after the backoff and records each attempt", async () => {
    const path = "/hooks/flaky";
    let answerSecond!: (status: number) => void;
    receiver.respond(path, (index) => (index === 0 ? 500 : new Promise<number>((resolve) => (answerSecond = resolve))));
    const jobId = await createJob({ url: receiver.url(path) });

    await waitFor(() => receiver.received(path).length === 2, "the second attempt");
    const [failedAttempt] = (await deliveries(jobId)).items;
    expect(failedAttempt).toMatchObject({ attempts: 1, statusCode: 500, lastError: "the receiver answered 500", deliveredAt: null });
    const [first, second] = receiver.received(path);
    expect(second!.at - first!.at).toBeGreaterThanOrEqual(150);
    expect(second!.headers["x-trainyard-delivery"]).toBe(first!.headers["x-trainyard-delivery"]);

    answerSecond(204);
    const delivered = await waitFor(async () => (await deliveries(jobId)).items.find((item) => item.deliveredAt), "delivery");
    expect(delivered).toMatchObject({ attempts: 2, statusCode: 204, lastError: null, failedAt: null });
  });

  it("sends only the event types the webhook names", async () => {
    const epochsPath = "/hooks/epochs-only";
    const statusPath = "/hooks/status-only";
    const epochsJob = await createJob({ url: receiver.url(epochsPath), events: ["epoch"] });
    const statusJob = await createJob({ url: receiver.url(statusPath), events: ["status"] });
    for (const jobId of [epochsJob, statusJob]) {
      await addEvent(jobId, "epoch", metrics(1));
      await addEvent(jobId, "log", { message: "not a webhook event" });
      await addEvent(jobId, "status", { status: "running" });
    }

    await waitFor(() => receiver.received(statusPath).length === 2, "the status job's deliveries");
    await waitFor(() => receiver.received(epochsPath).length === 1, "the epoch job's delivery");
    expect(receiver.received(statusPath).map((request) => request.json.data.status)).toEqual(["queued", "running"]);
    const [epoch] = receiver.received(epochsPath);
    expect(epoch!.json).toMatchObject({ type: "epoch", jobId: epochsJob, data: metrics(1) });
    expect(epoch!.headers["x-trainyard-event"]).toBe("epoch");
    expect((await deliveries(epochsJob)).items.map((item) => item.event)).toEqual(["epoch"]);
    expect((await deliveries(statusJob)).items.map((item) => item.event)).toEqual(["status", "status"]);
  });

  it("sends a job's events in order, each once, with a second instance dispatching too", async () => {
    const path = "/hooks/ordered";
    receiver.respond(path, (index) => (index === 0 ? 503 : 200));
    const second = createWebhookDispatcher({ db: api.db, logger: api.app.log, allowPrivateAddresses: true, backoffMs: 200 });
    second.start(20);
    try {
      const jobId = await createJob({ url: receiver.url(path), events: ["status", "epoch"] });
      for (let epoch = 1; epoch <= 6; epoch += 1) await addEvent(jobId, "epoch", metrics(epoch));
      await addEvent(jobId, "status", { status: "succeeded" });

      const requests = await waitFor(() => receiver.received(path).length >= 9 && receiver.received(path), "every event", 15_000);
      await sleep(300);
      const sent = receiver.received(path).map(({ json }) => (json.type === "epoch" ? `epoch ${json.data.epoch}` : json.data.status));
      expect(sent).toEqual(["queued", "queued", "epoch 1", "epoch 2", "epoch 3", "epoch 4", "epoch 5", "epoch 6", "succeeded"]);
      expect(requests[1]!.json.id).toBe(requests[0]!.json.id);
      const { items } = await waitFor(async () => {
        const page = await deliveries(jobId);
        return page.items.every((item) => item.deliveredAt) && page;
      }, "every delivery recorded");
      expect(items.map((item) => item.attempts)).toEqual([2, 1, 1, 1, 1, 1, 1, 1]);
    } finally {
      await second.stop();
    }
  });

  it("sends an event whose transaction commits after later events were sent", async () => {
    const slowPath = "/hooks/slow-commit";
    const fastPath = "/hooks/fast-commit";
    const slowJob = await createJob({ url: receiver.url(slowPath) });
    await waitFor(() => receiver.received(slowPath).length === 1, "the slow job's first delivery");
    await api.db.$transaction(
      async (tx) => {
        await tx.jobEvent.create({ data: { jobId: slowJob, type: "status", data: { status: "running" } } });
        await createJob({ url: receiver.url(fastPath) });
        await waitFor(() => receiver.received(fastPath).length === 1, "the later event's delivery");
      },
      { timeout: 15_000 },
    );
    const [, running] = await waitFor(() => receiver.received(slowPath).length === 2 && receiver.received(slowPath), "the late event");
    expect(running!.json.data).toEqual({ status: "running" });
  });

  it("answers 404 for another tenant's job and an empty list for a job without a webhook", async () => {
    const jobId = await createJob({ url: receiver.url("/hooks/tenant") });
    const other = await api.app.inject({ url: `/v1/jobs/${jobId}/webhook-deliveries`, headers: auth(api.keyB) });
    expect(other.statusCode).toBe(404);
    const unknown = await api.app.inject({ url: "/v1/jobs/job_missing/webhook-deliveries", headers: auth(api.keyA) });
    expect(unknown.statusCode).toBe(404);
    const unauthenticated = await api.app.inject({ url: `/v1/jobs/${jobId}/webhook-deliveries` });
    expect(unauthenticated.statusCode).toBe(401);
    const withoutWebhook = await createJob(null);
    await sleep(200);
    expect(await deliveries(withoutWebhook)).toEqual({ items: [], nextCursor: null });
  });

  it("documents the route and the signature in OpenAPI", async () => {
    const spec = (await api.app.inject({ url: "/openapi.json" })).json();
    const route = spec.paths["/v1/jobs/{id}/webhook-deliveries"]?.get;
    expect(route.description).toContain("x-trainyard-signature");
    expect(route.responses["200"]).toBeDefined();
  });
});

describe("webhooks to private addresses", () => {
  let api: TestApi;

  beforeAll(async () => {
    api = await startTestApi({ TRAINYARD_WEBHOOK_INTERVAL_MS: "50" });
    await api.app.ready();
  });

  afterAll(async () => {
    await api?.close();
  });

  const submit = (url: string, query = "") =>
    api.app.inject({
      method: "POST",
      url: `/v1/jobs${query}`,
      headers: auth(api.keyA),
      payload: { architecture: "lenet", dataset: { name: "synthetic-shapes" }, webhook: { url } },
    });

  it.each([
    "127.0.0.1",
    "localhost",
    "[::1]",
    "[::7f00:1]",
    "[64:ff9b::7f00:1]",
    "[::ffff:0:7f00:1]",
    "[2002:7f00:1::]",
    "[::ffff:127.0.0.1]",
    "169.254.169.254",
    "0x7f.1",
  ])("refuses http://%s at submit (dry run too), with the classification delivery uses", async (host) => {
    const url = `http://${host}:${receiver.port}/hooks/private`;
    for (const query of ["", "?dryRun=true"]) {
      const response = await submit(url, query);
      expect(response.statusCode).toBe(400);
      expect(response.headers["content-type"]).toContain("application/problem+json");
      expect(response.json().errors).toEqual([{ path: "webhook.url", message: expect.stringMatching(/loopback, private or link-local/) }]);
    }
    await expect(
      postWebhook(
        { url, body: "{}", headers: {} },
        { timeoutMs: 1_000, allowPrivateAddresses: false, signal: new AbortController().signal },
      ),
    ).rejects.toThrow(/refused to deliver to .* loopback, private and link-local addresses are not allowed/);
    expect(await api.db.job.count()).toBe(0);
  });

  it("refuses credentials in the URL at submit rather than storing and showing them", async () => {
    const response = await submit("https://user:pass@example.org/hook");
    expect(response.statusCode).toBe(400);
    expect(response.json().errors).toEqual([{ path: "webhook.url", message: expect.stringMatching(/credentials/) }]);
    expect(response.body).not.toContain("pass@");
    expect(await api.db.job.count()).toBe(0);
  });

  it("masks credentials in the URL of a job stored before submits refused them", async () => {
    const jobId = (await submit("https://example.org/hook")).json().id as string;
    const job = await api.db.job.findUniqueOrThrow({ where: { id: jobId } });
    const spec = { ...(job.spec as object), webhook: { url: "https://user:pass-word@example.org/hook", events: ["status"] } };
    await api.db.job.update({ where: { id: jobId }, data: { spec } });
    const shown = await api.app.inject({ url: `/v1/jobs/${jobId}`, headers: auth(api.keyA) });
    expect(shown.json().spec.webhook.url).toBe("https://********@example.org/hook");
    expect(shown.body).not.toContain("pass-word");
    await api.db.job.delete({ where: { id: jobId } });
  });

  it("still refuses at delivery an address that a job holds (a name resolving elsewhere at submit), without retrying", async () => {
    const jobId = (await submit("https://example.org/hook")).json().id as string;
    const job = await api.db.job.findUniqueOrThrow({ where: { id: jobId } });
    const path = "/hooks/private/rebound";
    const spec = { ...(job.spec as object), webhook: { url: `http://localhost:${receiver.port}${path}`, events: ["status"] } };
    await api.db.job.update({ where: { id: jobId }, data: { spec } });
    const failed = await waitFor(async () => {
      const response = await api.app.inject({ url: `/v1/jobs/${jobId}/webhook-deliveries`, headers: auth(api.keyA) });
      return response.json().items.find((item: any) => item.failedAt);
    }, "the refusal at delivery");
    // The first attempt may have gone to example.org before the spec changed; the refusal ends the retries.
    expect(failed).toMatchObject({ statusCode: null, deliveredAt: null, nextAttemptAt: null });
    expect(failed.lastError).toMatch(/refused to deliver to .* loopback, private and link-local addresses are not allowed/);
    expect(receiver.received(path)).toEqual([]);
  });
});

describe("sending one webhook", () => {
  const options = { timeoutMs: 300, allowPrivateAddresses: true, signal: new AbortController().signal };
  const request = (path: string) => ({ url: receiver.url(path), body: "{}", headers: { "content-type": "application/json" } });

  it("gives up on a receiver that does not answer in time", async () => {
    receiver.respond("/hooks/silent", () => new Promise<number>(() => undefined));
    const started = Date.now();
    await expect(postWebhook(request("/hooks/silent"), options)).rejects.toThrow("no response within 300 ms");
    expect(Date.now() - started).toBeLessThan(2_000);
  });

  it("does not follow redirects", async () => {
    receiver.respond("/hooks/redirect", () => 302);
    await expect(postWebhook(request("/hooks/redirect"), options)).resolves.toBe(302);
    expect(receiver.received("/hooks/redirect")).toHaveLength(1);
  });
});

describe("address policy and backoff", () => {
  it.each([
    ["127.0.0.1", true],
    ["10.1.2.3", true],
    ["172.20.0.1", true],
    ["192.168.1.1", true],
    ["169.254.169.254", true],
    ["100.64.0.1", true],
    ["0.0.0.0", true],
    ["::1", true],
    ["::", true],
    ["fe80::1", true],
    ["fd00::1", true],
    ["::ffff:10.0.0.1", true],
    ["8.8.8.8", false],
    ["172.32.0.1", false],
    ["2606:4700:4700::1111", false],
    ["::ffff:1.1.1.1", false],
    // IPv6 forms that carry an IPv4 address: IPv4-compatible, NAT64, IPv4-translated, 6to4, Teredo (client XORed).
    ["::7f00:1", true],
    ["::127.0.0.1", true],
    ["64:ff9b::7f00:1", true],
    ["64:ff9b::10.0.0.1", true],
    ["::ffff:0:7f00:1", true],
    ["2002:7f00:1::", true],
    ["2002:c0a8:101::1", true],
    ["2001:0:4136:e378:8000:63bf:80ff:fffe", true],
    ["64:ff9b:1::808:808", true],
    ["fe80::1%eth0", true],
    ["64:ff9b::808:808", false],
    ["2002:808:808::1", false],
    ["::ffff:0:808:808", false],
    ["2001:0:4136:e378:8000:63bf:f7f7:f7f7", false],
  ])("%s is private: %s", (address, expected) => {
    expect(isPrivateAddress(address)).toBe(expected);
  });

  it("waits 5 s, doubling, and gives up after the 8th attempt", () => {
    const now = new Date(0);
    const delays = [1, 2, 3, 4, 5, 6, 7, 8].map((attempt) => nextAttemptAt(attempt, { backoffMs: 5_000, maxAttempts: 8 }, now)?.getTime());
    expect(delays).toEqual([5_000, 10_000, 20_000, 40_000, 80_000, 160_000, 320_000, undefined]);
  });
});
