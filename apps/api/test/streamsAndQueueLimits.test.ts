import { get, type ClientRequest } from "node:http";
import type { AddressInfo } from "node:net";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createApiKey } from "../src/index.ts";
import { auth, startTestApi, type TestApi } from "./helpers/testApi.ts";

/** Issue 13, "Limits that do not limit": streams per key, queued jobs per tenant, and a query per stream per 0.5 s. */
const MAX_STREAMS = 3;
const MAX_QUEUED = 5;
let api: TestApi;
let baseUrl: string;
const lenetJob = { architecture: "lenet", dataset: { name: "synthetic-shapes" } };
const open: ClientRequest[] = [];

beforeAll(async () => {
  api = await startTestApi({
    TRAINYARD_MAX_EVENT_STREAMS_PER_KEY: String(MAX_STREAMS),
    TRAINYARD_MAX_QUEUED_JOBS_PER_TENANT: String(MAX_QUEUED),
    TRAINYARD_RATE_LIMIT_PER_MINUTE: "100000",
    // Nothing else may query the database in the background while the streams are measured.
    TRAINYARD_WEBHOOK_INTERVAL_MS: "0",
    TRAINYARD_RECONCILE_INTERVAL_MS: "600000",
  });
  await api.app.listen({ port: 0, host: "127.0.0.1" });
  baseUrl = `http://127.0.0.1:${(api.app.server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  for (const request of open) request.destroy();
  await api?.close();
});

/** Opens an event stream over a real socket; resolves with its status, content type and first chunk. */
function openStream(jobId: string, key: string, onChunk: (chunk: string) => void = () => undefined) {
  return new Promise<{ status: number; type: string; body: string; request: ClientRequest }>((resolve, reject) => {
    const request = get(`${baseUrl}/v1/jobs/${jobId}/events`, { headers: auth(key) }, (response) => {
      response.setEncoding("utf8");
      response.on("data", onChunk);
      response.once("data", (chunk: string) =>
        resolve({ status: response.statusCode ?? 0, type: String(response.headers["content-type"]), body: chunk, request }),
      );
      response.on("error", () => undefined);
    });
    request.on("error", reject);
    open.push(request);
  });
}

async function createJob(key: string) {
  return api.app.inject({ method: "POST", url: "/v1/jobs", headers: auth(key), payload: lenetJob });
}

describe("event streams per API key", () => {
  it("answers the stream past TRAINYARD_MAX_EVENT_STREAMS_PER_KEY with 429 problem+json naming the limit", async () => {
    const { id } = (await createJob(api.keyA)).json();
    const streams = [];
    for (let i = 0; i < MAX_STREAMS; i += 1) {
      const stream = await openStream(id, api.keyA);
      expect(stream.status).toBe(200);
      streams.push(stream);
    }
    const refused = await openStream(id, api.keyA);
    expect(refused.status).toBe(429);
    expect(refused.type).toContain("application/problem+json");
    expect(JSON.parse(refused.body)).toMatchObject({ status: 429, detail: expect.stringContaining(`${MAX_STREAMS} event streams`) });

    const { id: otherId } = (await createJob(api.keyB)).json();
    expect((await openStream(otherId, api.keyB)).status).toBe(200);

    streams[0]!.request.destroy();
    const deadline = Date.now() + 3_000;
    let again = await openStream(id, api.keyA);
    while (again.status === 429 && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 50));
      again = await openStream(id, api.keyA);
    }
    expect(again.status).toBe(200);
    for (const request of open) request.destroy();
  });
});

describe("one subscription feeds every stream", () => {
  it("idle streams do not query PostgreSQL, and a new event still arrives at once", async () => {
    const server = new URL(process.env.TRAINYARD_TEST_DATABASE_SERVER ?? "postgresql://postgres@127.0.0.1:5432/postgres");
    const database = (await api.db.$queryRaw<{ name: string }[]>`SELECT current_database() AS name`)[0]!.name;
    const client = new pg.Client({ connectionString: server.toString() });
    await client.connect();
    const commits = async () =>
      Number((await client.query("SELECT xact_commit FROM pg_stat_database WHERE datname = $1", [database])).rows[0].xact_commit);
    try {
      for (const request of open.splice(0)) request.destroy();
      await api.db.job.updateMany({ data: { status: "cancelled" } });
      const jobId = (await createJob(api.keyA)).json().id as string;
      const keys = await Promise.all(Array.from({ length: 14 }, () => createApiKey(api.db, "tenant-a")));
      const received: string[] = [];
      const streams = await Promise.all(
        keys.flatMap(({ key }) => Array.from({ length: MAX_STREAMS }, () => openStream(jobId, key, (chunk) => received.push(chunk)))),
      );
      expect(streams.every((stream) => stream.status === 200)).toBe(true);
      await new Promise((resolve) => setTimeout(resolve, 1_500));
      const before = await commits();
      await new Promise((resolve) => setTimeout(resolve, 3_000));
      const during = (await commits()) - before;
      // Polling: 42 streams × 2 queries every 0.5 s ≈ 500 in 3 s. Notified: only the API's own periodic
      // work (reconciler, sweep planner, webhook dispatcher, key cache), 10–32 seen on a loaded CI machine.
      expect(during).toBeLessThan(100);

      const writtenAt = Date.now();
      await api.db.jobEvent.create({ data: { jobId, type: "log", data: { message: "wake up" } } });
      while (received.filter((chunk) => chunk.includes("wake up")).length < streams.length && Date.now() - writtenAt < 2_000) {
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
      expect(received.filter((chunk) => chunk.includes("wake up"))).toHaveLength(streams.length);
      expect(Date.now() - writtenAt).toBeLessThan(1_000);
    } finally {
      await client.end();
      for (const request of open.splice(0)) request.destroy();
    }
  });
});

describe("when the notification connection is lost", () => {
  it("streams catch up on what changed meanwhile and follow the next connection", async () => {
    const database = (await api.db.$queryRaw<{ name: string }[]>`SELECT current_database() AS name`)[0]!.name;
    await api.db.job.updateMany({ data: { status: "cancelled" } });
    const jobId = (await createJob(api.keyA)).json().id as string;
    const received: string[] = [];
    const stream = await openStream(jobId, api.keyA, (chunk) => received.push(chunk));
    expect(stream.status).toBe(200);
    const terminated = await api.db.$queryRaw<{ done: boolean }[]>`
      SELECT pg_terminate_backend(pid) AS done FROM pg_stat_activity WHERE datname = ${database} AND query = 'LISTEN "trainyard_job_changes"'`;
    expect(terminated).toEqual([{ done: true }]);
    await api.db.jobEvent.create({ data: { jobId, type: "log", data: { message: "while away" } } });
    const until = async (text: string) => {
      const deadline = Date.now() + 5_000;
      while (!received.some((chunk) => chunk.includes(text)) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      return received.some((chunk) => chunk.includes(text));
    };
    expect(await until("while away")).toBe(true);
    await api.db.jobEvent.create({ data: { jobId, type: "log", data: { message: "after reconnecting" } } });
    expect(await until("after reconnecting")).toBe(true);
    stream.request.destroy();
  });
});

describe("queued jobs per tenant", () => {
  it("answers the submit past TRAINYARD_MAX_QUEUED_JOBS_PER_TENANT with 429 problem+json naming the limit", async () => {
    await api.db.job.updateMany({ data: { status: "cancelled" } });
    for (let i = 0; i < MAX_QUEUED; i += 1) expect((await createJob(api.keyA)).statusCode).toBe(202);
    const refused = await createJob(api.keyA);
    expect(refused.statusCode).toBe(429);
    expect(refused.headers["content-type"]).toContain("application/problem+json");
    expect(Number(refused.headers["retry-after"])).toBeGreaterThan(0);
    expect(refused.json().detail).toContain(`${MAX_QUEUED} jobs queued`);
    expect((await createJob(api.keyB)).statusCode).toBe(202);
    const first = await api.db.job.findFirstOrThrow({ where: { tenantId: api.tenantA, status: "queued" } });
    expect((await api.app.inject({ method: "POST", url: `/v1/jobs/${first.id}/cancel`, headers: auth(api.keyA) })).statusCode).toBe(202);
    expect((await createJob(api.keyA)).statusCode).toBe(202);
  });

  it("holds for concurrent submits", async () => {
    await api.db.job.updateMany({ data: { status: "cancelled" } });
    const statuses = (await Promise.all(Array.from({ length: 40 }, () => createJob(api.keyA)))).map((response) => response.statusCode);
    expect(statuses.filter((status) => status === 202).length).toBeLessThanOrEqual(MAX_QUEUED);
    expect(statuses.every((status) => status === 202 || status === 429)).toBe(true);
    expect(await api.db.job.count({ where: { tenantId: api.tenantA, status: "queued" } })).toBeLessThanOrEqual(MAX_QUEUED);
  });
});
