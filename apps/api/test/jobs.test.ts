import { Queue } from "bullmq";
import type { FastifyInstance } from "fastify";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createDb, type Db } from "@trainyard/db";
import { TRAINING_QUEUE } from "@trainyard/shared";
import { buildServer, createApiKey, loadApiConfig } from "../src/index.ts";
import { createTestDatabase, TEST_REDIS_URL, uniqueQueuePrefix } from "../../../tests/helpers/database.ts";
import { deleteQueueKeys } from "../../../tests/helpers/redis.ts";

let app: FastifyInstance;
let db: Db;
let dropDatabase: () => Promise<void>;
let queuePrefix: string;
let keyA: string;
let keyB: string;

const lenetJob = { architecture: "lenet", dataset: { name: "synthetic-shapes" }, training: { epochs: 1 } };
const auth = (key: string) => ({ authorization: `Bearer ${key}` });

beforeAll(async () => {
  const database = await createTestDatabase();
  dropDatabase = database.drop;
  queuePrefix = uniqueQueuePrefix();
  app = await buildServer(
    loadApiConfig({ DATABASE_URL: database.url, REDIS_URL: TEST_REDIS_URL, LOG_LEVEL: "silent", TRAINYARD_QUEUE_PREFIX: queuePrefix }),
  );
  db = createDb(database.url);
  keyA = (await createApiKey(db, "tenant-a")).key;
  keyB = (await createApiKey(db, "tenant-b")).key;
});

afterAll(async () => {
  await app?.close();
  await db?.$disconnect();
  await deleteQueueKeys(queuePrefix);
  await dropDatabase?.();
});

describe("authentication and tenancy", () => {
  it("answers 401 problem+json without a key or with an unknown key", async () => {
    const missing = await app.inject({ method: "GET", url: "/v1/jobs" });
    expect(missing.statusCode).toBe(401);
    expect(missing.headers["content-type"]).toContain("application/problem+json");
    expect(missing.json()).toMatchObject({ status: 401, title: "Unauthorized" });
    const unknown = await app.inject({ method: "GET", url: "/v1/jobs", headers: auth("ty_not-a-key") });
    expect(unknown.statusCode).toBe(401);
  });

  it("answers 404, never 403, for another tenant's job", async () => {
    const created = await app.inject({ method: "POST", url: "/v1/jobs", headers: auth(keyA), payload: lenetJob });
    expect(created.statusCode).toBe(202);
    const id = created.json().id;
    const foreign = await app.inject({ method: "GET", url: `/v1/jobs/${id}`, headers: auth(keyB) });
    expect(foreign.statusCode).toBe(404);
    const foreignCancel = await app.inject({ method: "POST", url: `/v1/jobs/${id}/cancel`, headers: auth(keyB) });
    expect(foreignCancel.statusCode).toBe(404);
    const own = await app.inject({ method: "GET", url: `/v1/jobs/${id}`, headers: auth(keyA) });
    expect(own.statusCode).toBe(200);
  });

  it("answers concurrent reads that share one SELECT each with its own job, and another tenant's or an unknown id with 404", async () => {
    const submit = async (key: string) =>
      (await app.inject({ method: "POST", url: "/v1/jobs", headers: auth(key), payload: lenetJob })).json().id as string;
    const [ofA, ofB] = [await submit(keyA), await submit(keyB)];
    const reads = [
      ...Array.from({ length: 8 }, () => ({ key: keyA, id: ofA, status: 200 })),
      ...Array.from({ length: 8 }, () => ({ key: keyB, id: ofB, status: 200 })),
      ...Array.from({ length: 8 }, () => ({ key: keyB, id: ofA, status: 404 })),
      ...Array.from({ length: 4 }, () => ({ key: keyA, id: "job_unknown", status: 404 })),
    ].sort(() => Math.random() - 0.5);
    const answers = await Promise.all(reads.map(({ key, id }) => app.inject({ method: "GET", url: `/v1/jobs/${id}`, headers: auth(key) })));
    expect(answers.map((answer) => answer.statusCode)).toEqual(reads.map((read) => read.status));
    answers.forEach((answer, i) => {
      if (reads[i]!.status === 200) expect(answer.json().id).toBe(reads[i]!.id);
      else expect(answer.json().detail).toContain(reads[i]!.id);
    });
    // A read that starts after a write sees it, however many reads are under way.
    const during = Array.from({ length: 10 }, () => app.inject({ method: "GET", url: `/v1/jobs/${ofA}`, headers: auth(keyA) }));
    await db.job.update({ where: { id: ofA }, data: { status: "cancelled", finishedAt: new Date() } });
    const after = await app.inject({ method: "GET", url: `/v1/jobs/${ofA}`, headers: auth(keyA) });
    await Promise.all(during);
    expect(after.json()).toMatchObject({ id: ofA, status: "cancelled" });
  });

  it("serves health, readiness and OpenAPI without a key", async () => {
    expect((await app.inject({ method: "GET", url: "/healthz" })).statusCode).toBe(200);
    const ready = await app.inject({ method: "GET", url: "/readyz" });
    expect(ready.json()).toEqual({ status: "ready", postgres: "ok", redis: "ok" });
    const openapi = await app.inject({ method: "GET", url: "/openapi.json" });
    expect(openapi.json().openapi).toBe("3.1.0");
    expect(Object.keys(openapi.json().paths)).toContain("/v1/jobs");
  });
});

describe("validation", () => {
  const cases: [string, unknown, string][] = [
    ["unknown architecture", { ...lenetJob, architecture: "lenet-9000" }, "architecture"],
    ["epochs 0", { ...lenetJob, training: { epochs: 0 } }, "training.epochs"],
    ["batchSize 1e9", { ...lenetJob, training: { batchSize: 1e9 } }, "training.batchSize"],
    ["unknown field", { ...lenetJob, learningRat: 0.1 }, "learningRat"],
    ["unknown nested field", { ...lenetJob, training: { epoch: 3 } }, "training.epoch"],
    ["missing dataset", { architecture: "lenet" }, "dataset"],
    ["input too small for the pooling", { ...lenetJob, inputShape: [4, 4, 1] }, "inputShape"],
    ["an unknown architecture option", { ...lenetJob, architectureOptions: { activaton: "relu" } }, "architectureOptions.activaton"],
    ["a bad architecture option", { ...lenetJob, architectureOptions: { pooling: "median" } }, "architectureOptions.pooling"],
    ["a fine-tune source that does not exist", { ...lenetJob, fineTune: { fromJobId: "job_missing" } }, "fineTune.fromJobId"],
  ];
  it.each(cases)("answers 400 naming the field for %s", async (_name, payload, path) => {
    const response = await app.inject({ method: "POST", url: "/v1/jobs", headers: auth(keyA), payload: payload as object });
    expect(response.statusCode).toBe(400);
    expect(response.headers["content-type"]).toContain("application/problem+json");
    expect(response.json().errors.map((error: { path: string }) => error.path)).toContain(path);
  });

  it("names every offending field at once", async () => {
    const response = await app.inject({
      method: "POST",
      url: "/v1/jobs",
      headers: auth(keyA),
      payload: { ...lenetJob, training: { epochs: 0, batchSize: 1e9, validationSplit: 2 } },
    });
    const paths = response.json().errors.map((error: { path: string }) => error.path);
    expect(paths).toEqual(expect.arrayContaining(["training.epochs", "training.batchSize", "training.validationSplit"]));
  });

  it("answers 413 for a body over the limit", async () => {
    const response = await app.inject({
      method: "POST",
      url: "/v1/jobs",
      headers: auth(keyA),
      payload: { ...lenetJob, tags: ["x".repeat(2 * 1024 * 1024)] },
    });
    expect(response.statusCode).toBe(413);
  });
});

describe("jobs", () => {
  it("creates a queued job with defaults filled in and enqueues it by its id", async () => {
    const response = await app.inject({ method: "POST", url: "/v1/jobs", headers: auth(keyA), payload: lenetJob });
    expect(response.statusCode).toBe(202);
    const job = response.json();
    expect(response.headers.location).toBe(`/v1/jobs/${job.id}`);
    expect(job).toMatchObject({ status: "queued", result: null, error: null, attempts: 0 });
    expect(job.spec.inputShape).toEqual([28, 28, 1]);
    expect(job.spec.training).toMatchObject({ epochs: 1, batchSize: 256, validationSplit: 0.1 });
    expect(job.spec.training.optimizer).toMatchObject({ type: "sgd", learningRate: 0.9 });
    expect(Number.isInteger(job.spec.training.seed)).toBe(true);
    const queue = new Queue(TRAINING_QUEUE, { connection: new Redis(TEST_REDIS_URL, { maxRetriesPerRequest: null }), prefix: queuePrefix });
    const queued = await queue.getJob(job.id);
    expect(queued?.data).toEqual({ jobId: job.id });
    await queue.close();
  });

  it("never shows a webhook secret back", async () => {
    const webhook = { url: "https://example.org/hook", events: ["status"], secret: "a-secret-of-sixteen-chars" };
    const created = await app.inject({ method: "POST", url: "/v1/jobs", headers: auth(keyA), payload: { ...lenetJob, webhook } });
    expect(created.json().spec.webhook).toEqual({ ...webhook, secret: "********" });
    const fetched = await app.inject({ method: "GET", url: `/v1/jobs/${created.json().id}`, headers: auth(keyA) });
    expect(fetched.body).not.toContain(webhook.secret);
    expect((await db.job.findUniqueOrThrow({ where: { id: created.json().id } })).spec).toMatchObject({ webhook });
  });

  it("answers a dry run with the spec and an estimate and queues nothing", async () => {
    const before = await db.job.count();
    const response = await app.inject({ method: "POST", url: "/v1/jobs?dryRun=true", headers: auth(keyA), payload: lenetJob });
    expect(response.statusCode).toBe(200);
    // 61,706 parameters: the notes' LeNet with 4 output classes has 84·4+4 = 340 in its head instead of 850.
    const { estimate } = response.json();
    expect(estimate).toMatchObject({ parameters: 61706 - 850 + 340, stepsPerEpoch: Math.ceil(3600 / 256) });
    // What grows with the batch is reported apart, so that a user can pick a batch size for a GPU.
    expect(estimate.activationBytesPerSample).toBeGreaterThan(0);
    expect(estimate.activationBytesPerBatch).toBe(estimate.activationBytesPerSample * 256);
    expect(estimate.memoryBytes).toBeGreaterThan(estimate.activationBytesPerBatch);
    expect(await db.job.count()).toBe(before);
  });

  it("pages through jobs newest first without repeats", async () => {
    const tag = `page-${Date.now()}`;
    const ids: string[] = [];
    for (let i = 0; i < 5; i += 1) {
      const response = await app.inject({ method: "POST", url: "/v1/jobs", headers: auth(keyA), payload: { ...lenetJob, tags: [tag] } });
      ids.push(response.json().id);
    }
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const url: string = `/v1/jobs?tag=${tag}&limit=2${cursor ? `&cursor=${cursor}` : ""}`;
      const page = (await app.inject({ method: "GET", url, headers: auth(keyA) })).json();
      expect(page.items.length).toBeLessThanOrEqual(2);
      seen.push(...page.items.map((job: { id: string }) => job.id));
      cursor = page.nextCursor;
    } while (cursor);
    expect(seen).toEqual([...ids].reverse());
    const otherTenant = (await app.inject({ method: "GET", url: `/v1/jobs?tag=${tag}`, headers: auth(keyB) })).json();
    expect(otherTenant.items).toEqual([]);
  });

  it("returns the first job for a repeated Idempotency-Key and refuses the key with another body", async () => {
    const headers = { ...auth(keyA), "idempotency-key": `key-${Date.now()}` };
    const first = await app.inject({ method: "POST", url: "/v1/jobs", headers, payload: lenetJob });
    const second = await app.inject({ method: "POST", url: "/v1/jobs", headers, payload: lenetJob });
    expect(first.statusCode).toBe(202);
    expect(second.statusCode).toBe(200);
    expect(second.json().id).toBe(first.json().id);
    const different = await app.inject({ method: "POST", url: "/v1/jobs", headers, payload: { ...lenetJob, tags: ["other"] } });
    expect(different.statusCode).toBe(409);
  });

  it("answers concurrent submits with one Idempotency-Key with one job: one 202, the rest 200 with its id", async () => {
    const headers = { ...auth(keyA), "idempotency-key": `race-${Date.now()}` };
    const responses = await Promise.all(
      Array.from({ length: 8 }, () => app.inject({ method: "POST", url: "/v1/jobs", headers, payload: lenetJob })),
    );
    expect(responses.map((response) => response.statusCode).sort()).toEqual([200, 200, 200, 200, 200, 200, 200, 202]);
    const ids = new Set(responses.map((response) => response.json().id));
    expect(ids.size).toBe(1);
    const job = (await app.inject({ method: "GET", url: `/v1/jobs/${[...ids][0]}`, headers: auth(keyA) })).json();
    expect(job.status).toBe("queued");
  });

  it("shows a new job the same in its 202, by id and in the list (one read through node-postgres, one through Prisma)", async () => {
    const submitted = await app.inject({
      method: "POST",
      url: "/v1/jobs",
      headers: auth(keyA),
      payload: { ...lenetJob, tags: [`same-${Date.now()}`], priority: 3 },
    });
    expect(submitted.statusCode).toBe(202);
    const job = submitted.json();
    expect(Math.abs(Date.parse(job.createdAt) - Date.now())).toBeLessThan(60_000);
    const byId = (await app.inject({ method: "GET", url: `/v1/jobs/${job.id}`, headers: auth(keyA) })).json();
    const listed = (await app.inject({ method: "GET", url: `/v1/jobs?tag=${job.spec.tags[0]}`, headers: auth(keyA) })).json();
    expect(byId).toEqual(job);
    expect(listed.items).toEqual([job]);
  });

  it("cancels a queued job at once, then refuses a second cancel with 409", async () => {
    const id = (await app.inject({ method: "POST", url: "/v1/jobs", headers: auth(keyA), payload: lenetJob })).json().id;
    const cancelled = await app.inject({ method: "POST", url: `/v1/jobs/${id}/cancel`, headers: auth(keyA) });
    expect(cancelled.statusCode).toBe(202);
    expect(cancelled.json().status).toBe("cancelled");
    const again = await app.inject({ method: "POST", url: `/v1/jobs/${id}/cancel`, headers: auth(keyA) });
    expect(again.statusCode).toBe(409);
  });

  it("refuses to fine-tune from a job without a checkpoint or from another tenant's job", async () => {
    const source = (await app.inject({ method: "POST", url: "/v1/jobs", headers: auth(keyA), payload: lenetJob })).json().id;
    const noCheckpoint = await app.inject({
      method: "POST",
      url: "/v1/jobs",
      headers: auth(keyA),
      payload: { ...lenetJob, fineTune: { fromJobId: source } },
    });
    expect(noCheckpoint.statusCode).toBe(400);
    expect(noCheckpoint.json().errors).toEqual([{ path: "fineTune.checkpoint", message: `job ${source} has no best checkpoint` }]);
    const foreign = await app.inject({
      method: "POST",
      url: "/v1/jobs",
      headers: auth(keyB),
      payload: { ...lenetJob, fineTune: { fromJobId: source } },
    });
    expect(foreign.json().errors).toEqual([{ path: "fineTune.fromJobId", message: `no job with id ${source}` }]);
  });

  it("answers 409 for the model of a job without a checkpoint, and empty metrics", async () => {
    const id = (await app.inject({ method: "POST", url: "/v1/jobs", headers: auth(keyA), payload: lenetJob })).json().id;
    expect((await app.inject({ method: "GET", url: `/v1/jobs/${id}/model/model.json`, headers: auth(keyA) })).statusCode).toBe(409);
    expect((await app.inject({ method: "GET", url: `/v1/jobs/${id}/model`, headers: auth(keyA) })).statusCode).toBe(409);
    expect((await app.inject({ method: "GET", url: `/v1/jobs/${id}/metrics`, headers: auth(keyA) })).json()).toEqual({ epochs: [] });
  });
});

describe("catalogue", () => {
  it("lists architectures and built-in data sets", async () => {
    const architectures = (await app.inject({ method: "GET", url: "/v1/architectures", headers: auth(keyA) })).json();
    expect(architectures.map((a: { name: string }) => a.name)).toContain("lenet");
    const datasets = (await app.inject({ method: "GET", url: "/v1/datasets", headers: auth(keyA) })).json();
    expect(datasets.items.map((d: { name: string }) => d.name)).toContain("synthetic-shapes");
  });

  it("summarizes every registered architecture with its real layer list", async () => {
    const architectures = (await app.inject({ method: "GET", url: "/v1/architectures", headers: auth(keyA) })).json() as { name: string }[];
    expect(architectures.length).toBeGreaterThanOrEqual(20);
    for (const { name } of architectures) {
      const response = await app.inject({
        method: "GET",
        url: `/v1/architectures/${name}?inputShape=96,96,1&classes=7`,
        headers: auth(keyA),
      });
      expect(response.statusCode, name).toBe(200);
      const summary = response.json();
      expect(summary.layers.length, name).toBeGreaterThan(5);
      expect(summary.layers.at(-1).outputShape, name).toEqual([7]);
      expect(summary.totalParams, name).toBe(summary.layers.reduce((sum: number, layer: { params: number }) => sum + layer.params, 0));
    }
  });

  it("summarizes LeNet layer by layer, and refuses an input too small with 400", async () => {
    const summary = (
      await app.inject({ method: "GET", url: "/v1/architectures/lenet?inputShape=28,28,1&classes=10", headers: auth(keyA) })
    ).json();
    expect(summary.trainableParams).toBe(61706);
    expect(summary.layers.find((layer: { name: string }) => layer.name === "features_pool2").outputShape).toEqual([5, 5, 16]);
    const tooSmall = await app.inject({ method: "GET", url: "/v1/architectures/lenet?inputShape=4,4,1", headers: auth(keyA) });
    expect(tooSmall.statusCode).toBe(400);
    expect((await app.inject({ method: "GET", url: "/v1/architectures/nope", headers: auth(keyA) })).statusCode).toBe(404);
  });
});
