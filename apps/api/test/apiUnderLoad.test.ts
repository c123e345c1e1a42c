import type { FastifyInstance } from "fastify";
import { Queue } from "bullmq";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { TRAINING_QUEUE, bullPriority } from "@trainyard/shared";
import { TEST_REDIS_URL } from "../../../tests/helpers/database.ts";
import { buildServer, loadApiConfig } from "../src/index.ts";
import { createBatcher } from "../src/services/batcher.ts";
import { auth, startTestApi, type TestApi } from "./helpers/testApi.ts";

/** Enough that each process leases its requests in batches of 3 (the limit / 64). */
const LIMIT = 200;
let api: TestApi;
/** A second API process on the same database and Redis: the rate limit is shared through Redis. */
let other: FastifyInstance;

beforeAll(async () => {
  api = await startTestApi({ TRAINYARD_RATE_LIMIT_PER_MINUTE: String(LIMIT) });
  other = await buildServer(loadApiConfig(api.env));
});

afterAll(async () => {
  await other?.close();
  await api?.close();
});

describe("batching concurrent calls (issue 13)", () => {
  it("runs a lone call at once and gathers the calls that arrive meanwhile into the next batch", async () => {
    const batches: number[][] = [];
    let release = () => undefined as void;
    const call = createBatcher<number, number>(async (items) => {
      batches.push(items);
      if (batches.length === 1) await new Promise<void>((resolve) => (release = resolve));
      return items.map((item) => item * 10);
    });
    const first = call(1);
    const rest = [2, 3, 4].map(call);
    expect(batches).toEqual([[1]]);
    release();
    expect(await Promise.all([first, ...rest])).toEqual([10, 20, 30, 40]);
    expect(batches).toEqual([[1], [2, 3, 4]]);
  });

  it("fails every call of a failed batch, and the next batch still runs", async () => {
    const call = createBatcher<number, number>(async (items) => {
      if (items.includes(13)) throw new Error("unlucky batch");
      return items;
    });
    await expect(call(13)).rejects.toThrow("unlucky batch");
    expect(await call(7)).toBe(7);
  });

  it("answers concurrent submits, each its own queued job with its first event, all enqueued", async () => {
    const payload = {
      architecture: "lenet",
      dataset: { name: "synthetic-shapes" },
      training: { epochs: 1 },
      priority: 5,
      tags: ["load", "x"],
    };
    // Each process summarizes the model once (a worker thread) before the concurrent submits.
    for (const app of [api.app, other]) {
      expect((await app.inject({ method: "POST", url: "/v1/jobs?dryRun=true", headers: auth(api.keyA), payload })).statusCode).toBe(200);
    }
    const responses = await Promise.all(
      Array.from({ length: 30 }, (_, i) =>
        (i % 2 ? other : api.app).inject({ method: "POST", url: "/v1/jobs", headers: auth(api.keyA), payload }),
      ),
    );
    expect(responses.map((response) => response.statusCode)).toEqual(Array(30).fill(202));
    const ids = responses.map((response) => response.json().id as string);
    expect(new Set(ids).size).toBe(30);
    for (const response of responses)
      expect(response.json()).toMatchObject({ status: "queued", spec: { priority: 5, tags: ["load", "x"] } });

    const rows = await api.db.job.findMany({ where: { id: { in: ids } }, include: { events: true } });
    expect(rows).toHaveLength(30);
    for (const row of rows) {
      expect(row).toMatchObject({ tenantId: api.tenantA, status: "queued", tags: ["load", "x"], priority: 5 });
      expect(row.events.map((event) => event.data)).toEqual([{ status: "queued" }]);
    }
    const connection = new Redis(TEST_REDIS_URL, { maxRetriesPerRequest: null });
    const queue = new Queue(TRAINING_QUEUE, { connection, prefix: api.env.TRAINYARD_QUEUE_PREFIX });
    try {
      const queued = await Promise.all(ids.map((id) => queue.getJob(id)));
      expect(queued.map((job) => job?.data)).toEqual(ids.map((jobId) => ({ jobId })));
      expect(queued.every((job) => job?.opts.priority === bullPriority(5))).toBe(true);
    } finally {
      await queue.close();
      connection.disconnect();
    }
  });
});

describe("the rate limit spent from in-process leases (issue 13)", () => {
  it("holds one key to its requests a minute across two API processes, and both then refuse it", async () => {
    const statuses: number[] = [];
    for (let i = 0; i < LIMIT + 20; i += 1) {
      const response = await (i % 2 ? other : api.app).inject({ method: "GET", url: "/v1/queue", headers: auth(api.keyB) });
      statuses.push(response.statusCode);
    }
    const allowed = statuses.filter((status) => status === 200).length;
    // Each process may hold at most one batch (3) it has not spent when the other finds the window spent.
    expect(allowed).toBeLessThanOrEqual(LIMIT);
    expect(allowed).toBeGreaterThanOrEqual(LIMIT - 2 * 3);
    expect(statuses.slice(-10)).toEqual(Array(10).fill(429));
    expect(new Set(statuses)).toEqual(new Set([200, 429]));
  });
});
