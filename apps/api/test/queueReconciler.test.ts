import { Queue } from "bullmq";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { TRAINING_QUEUE } from "@trainyard/shared";
import { TEST_REDIS_URL } from "../../../tests/helpers/database.ts";
import { createQueueReconciler } from "../src/services/queueReconciler.ts";
import { createTrainingQueue, type TrainingQueue } from "../src/services/trainingQueue.ts";
import { auth, startTestApi, type TestApi } from "./helpers/testApi.ts";

/** The reconciler against real PostgreSQL and Redis: what Redis lost is put back, nothing else is touched. */
let api: TestApi;
let connection: Redis;
let queue: Queue;
let trainingQueue: TrainingQueue;

beforeAll(async () => {
  // The API's own reconciler stays out of the way: this test calls one directly.
  api = await startTestApi({ TRAINYARD_RECONCILE_INTERVAL_MS: "3600000" });
  connection = new Redis(TEST_REDIS_URL, { maxRetriesPerRequest: null });
  queue = new Queue(TRAINING_QUEUE, { connection, prefix: api.env.TRAINYARD_QUEUE_PREFIX });
  trainingQueue = createTrainingQueue(connection, api.env.TRAINYARD_QUEUE_PREFIX!);
});

afterAll(async () => {
  await queue?.close();
  connection?.disconnect();
  await api?.close();
});

const silent = { warn: () => undefined } as never;

describe("queue reconciliation", () => {
  it("re-enqueues exactly the queued jobs Redis lost and the running jobs of no live worker, in one pipeline per page", async () => {
    const ids: string[] = [];
    for (let i = 0; i < 12; i += 1) {
      const response = await api.app.inject({
        method: "POST",
        url: "/v1/jobs",
        headers: auth(api.keyA),
        payload: { architecture: "lenet", dataset: { name: "synthetic-shapes" }, training: { epochs: 1 }, priority: i % 3 },
      });
      expect(response.statusCode).toBe(202);
      ids.push(response.json().id as string);
    }
    expect(await trainingQueue.missing(ids)).toEqual([]);
    expect(await trainingQueue.missing(["job_never_submitted", ids[0]!])).toEqual(["job_never_submitted"]);

    const lost = [ids[1]!, ids[4]!, ids[9]!];
    for (const id of lost) await queue.remove(id);
    // A job a worker had started, whose worker is gone and whose queue entry went with Redis.
    const orphan = ids[6]!;
    await api.db.job.update({ where: { id: orphan }, data: { status: "running", workerId: null } });
    await queue.remove(orphan);

    let pipelines = 0;
    const counting: TrainingQueue = { ...trainingQueue, missing: (jobIds) => ((pipelines += 1), trainingQueue.missing(jobIds)) };
    const reconciler = createQueueReconciler({ db: api.db, queue: counting, logger: silent });
    const { requeued } = await reconciler.reconcile();
    expect([...requeued].sort()).toEqual([...lost, orphan].sort());
    expect(pipelines).toBe(2); // one page of queued jobs, one batch of orphans
    expect(await trainingQueue.missing(ids)).toEqual([]);
    expect((await api.db.job.findUniqueOrThrow({ where: { id: orphan } })).status).toBe("queued");
    const requeuedJob = await queue.getJob(ids[4]!);
    expect(requeuedJob?.data).toEqual({ jobId: ids[4] });

    expect((await reconciler.reconcile()).requeued).toEqual([]);
  });
});
