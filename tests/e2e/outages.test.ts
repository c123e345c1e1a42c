import { afterEach, describe, expect, it } from "vitest";
import { startPrivatePostgres, startPrivateRedis } from "../helpers/privateServices.ts";
import { startStack, type Stack } from "../helpers/stack.ts";

/** Redis and PostgreSQL going away for a while: no job lost, no metrics row lost. */
const JOB = {
  architecture: "lenet",
  dataset: { name: "fashion-mnist" },
  training: { epochs: 3, batchSize: 64, maxTrainSamples: 4000, seed: 5, optimizer: { type: "adam", learningRate: 0.005 } },
};

const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!().catch(() => undefined);
});

async function expectSucceededWithAllEpochs(stack: Stack, id: string) {
  const job = await stack.waitForJob(id, (j) => ["succeeded", "failed", "cancelled"].includes(j.status), 240_000, `job ${id} to finish`);
  expect(job.status, JSON.stringify(job.error)).toBe("succeeded");
  const metrics = (await stack.request("GET", `/v1/jobs/${id}/metrics`)).body;
  expect(metrics.epochs.map((row: { epoch: number }) => row.epoch)).toEqual([1, 2, 3]);
}

describe("Redis outage", () => {
  it("refuses new jobs with 503 while Redis is down, keeps reads, and runs queued jobs after Redis returns empty", async () => {
    const redis = await startPrivateRedis();
    cleanups.push(redis.kill);
    const stack = await startStack({ redisUrl: redis.url, workers: 0 });
    cleanups.push(stack.stop);
    const queued = [await stack.submit(JOB), await stack.submit(JOB)];

    await redis.kill();
    const refused = await stack.request("POST", "/v1/jobs", { ...JOB, tags: ["during-outage"] });
    expect(refused.status).toBe(503);
    const listed = await stack.request("GET", "/v1/jobs?limit=10");
    expect(listed.status).toBe(200);
    expect(listed.body.items.map((job: { id: string }) => job.id).sort()).toEqual([...queued].sort());
    const during = await stack.request("GET", "/v1/jobs?tag=during-outage");
    expect(during.body.items).toEqual([]);

    await redis.start();
    stack.startWorker();
    for (const id of queued) await expectSucceededWithAllEpochs(stack, id);
  });
});

describe("PostgreSQL outage", () => {
  it("keeps training through a few seconds without PostgreSQL and records every epoch", async () => {
    const postgres = await startPrivatePostgres();
    cleanups.push(postgres.destroy);
    const stack = await startStack({ databaseUrl: postgres.url, workers: 1 });
    cleanups.push(stack.stop);
    const id = await stack.submit(JOB);
    await stack.waitForJob(
      id,
      (j) => j.status === "running" && j.progress?.epoch === 1 && j.progress.step >= 20,
      120_000,
      "epoch 1 to be under way",
    );
    await postgres.stop();
    await new Promise((resolve) => setTimeout(resolve, 6_000));
    await postgres.start();
    await expectSucceededWithAllEpochs(stack, id);
    // The outage was felt: the worker retried its writes rather than skipping them.
    expect(stack.logs()).toMatch(/failed; retrying/);
  });
});
