import { afterEach, describe, expect, it } from "vitest";
import { createDb } from "@trainyard/db";
import { WORKER_TIMINGS } from "@trainyard/shared";
import { waitFor } from "../helpers/processes.ts";
import { childPids, startStack, type Stack } from "../helpers/stack.ts";

/**
 * A dead or frozen worker's job goes to another worker within 15 s of the dead one's last
 * heartbeat, with the production timings (packages/shared WORKER_TIMINGS), and never trains on
 * two workers at once. Real processes; epochs of 3,000 images keep each case under a minute.
 */
const JOB = {
  architecture: "lenet",
  dataset: { name: "fashion-mnist" },
  training: { epochs: 2, batchSize: 64, maxTrainSamples: 3000, seed: 5, optimizer: { type: "adam", learningRate: 0.005 } },
};
const PRODUCTION_TIMINGS = {
  TRAINYARD_LOCK_DURATION_MS: String(WORKER_TIMINGS.lockDurationMs),
  TRAINYARD_STALLED_INTERVAL_MS: String(WORKER_TIMINGS.stalledCheckMs),
};
const HAND_OFF_BOUND_MS = 15_000;

let stack: Stack | null = null;
afterEach(async () => {
  await stack?.stop();
  stack = null;
});

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

/** Starts two workers and a job, and answers once it is under way in epoch 2 (epoch 1's checkpoint is written). */
async function jobInEpochTwo() {
  // The API first, then the workers: on a busy machine three processes loading at once start slowly.
  const current = await startStack({ workers: 0, env: PRODUCTION_TIMINGS });
  stack = current;
  current.startWorker();
  current.startWorker();
  await waitFor(
    "both workers to be active",
    async () =>
      ((await current.request("GET", "/v1/workers")).body as { status: string }[]).filter((w) => w.status === "active").length === 2,
    180_000,
  );
  const id = await current.submit(JOB);
  const running = await current.waitForJob(
    id,
    (job) => job.status === "running" && job.progress?.epoch === 2 && job.progress.step >= 3,
    120_000,
    "epoch 2 to be under way",
  );
  const worker = await waitFor(
    "the worker training the job",
    async () => current.workers.find((w) => childPids(w.child.pid!).length > 0),
    10_000,
  );
  const [trainingChild] = childPids(worker.child.pid!);
  return { current, id, firstWorkerId: running.workerId as string, worker, trainingChild };
}

/** The job's `running` status events in order: one per attempt, with the worker that claimed it. */
async function runningClaims(databaseUrl: string, jobId: string) {
  const db = createDb(databaseUrl);
  try {
    const events = await db.jobEvent.findMany({ where: { jobId, type: "status" }, orderBy: { id: "asc" } });
    return events
      .map((event) => ({ ...(event.data as { status: string; workerId?: string }), at: event.createdAt.getTime() }))
      .filter((event) => event.status === "running");
  } finally {
    await db.$disconnect();
  }
}

async function expectFinishedOnce(current: Stack, id: string) {
  const job = await current.waitForJob(id, (j) => ["succeeded", "failed", "cancelled"].includes(j.status), 180_000, "the job to finish");
  expect(job.status, JSON.stringify(job.error)).toBe("succeeded");
  expect(job.attempts).toBe(2);
  const metrics = (await current.request("GET", `/v1/jobs/${id}/metrics`)).body;
  expect(metrics.epochs.map((row: { epoch: number }) => row.epoch)).toEqual([1, 2]);
}

describe("hand-off of a dead worker's job", () => {
  it("a SIGKILLed worker's job runs on the other worker within 15 s of its last heartbeat, its child gone first", async () => {
    const { current, id, firstWorkerId, worker, trainingChild } = await jobInEpochTwo();
    await worker.stop("SIGKILL");
    const childGoneAt = await waitFor(
      "the killed worker's training child to exit",
      async () => (alive(trainingChild) ? null : Date.now()),
      5_000,
      20,
    );
    const resumed = await current.waitForJob(
      id,
      (job) => job.status === "running" && job.workerId && job.workerId !== firstWorkerId,
      60_000,
      "the other worker to take the job",
    );
    const workers = (await current.request("GET", "/v1/workers")).body as { id: string; lastHeartbeatAt: string }[];
    const lastHeartbeat = Date.parse(workers.find((w) => w.id === firstWorkerId)!.lastHeartbeatAt);
    const handOffMs = Date.parse(resumed.startedAt) - lastHeartbeat;
    console.info(`hand-off: ${handOffMs} ms from the killed worker's last heartbeat to the job running on the other worker`);
    expect(handOffMs).toBeGreaterThan(0);
    expect(handOffMs).toBeLessThan(HAND_OFF_BOUND_MS);
    const claims = await runningClaims(current.env.DATABASE_URL!, id);
    expect(claims.map((claim) => claim.workerId)).toEqual([firstWorkerId, resumed.workerId]);
    // The first attempt's training had stopped before the second was claimed.
    expect(childGoneAt).toBeLessThan(claims[1].at);
    await expectFinishedOnce(current, id);
  }, 300_000);

  it("a frozen worker loses its lock: on waking it stops its child and records nothing while the other worker trains", async () => {
    const { current, id, firstWorkerId, worker, trainingChild } = await jobInEpochTwo();
    const frozen = [worker.child.pid!, trainingChild];
    for (const pid of frozen) process.kill(pid, "SIGSTOP");
    try {
      await current.waitForJob(
        id,
        (job) => job.status === "running" && job.workerId && job.workerId !== firstWorkerId,
        60_000,
        "the other worker to take the job from the frozen one",
      );
    } finally {
      for (const pid of frozen) process.kill(pid, "SIGCONT");
    }
    const wokeAt = Date.now();
    await waitFor("the woken worker to stop its training child", async () => !alive(trainingChild), 5_000, 20);
    console.info(`woken worker stopped its stale training child after ${Date.now() - wokeAt} ms`);
    expect(alive(worker.child.pid!)).toBe(true);
    await expectFinishedOnce(current, id);
    const claims = await runningClaims(current.env.DATABASE_URL!, id);
    expect(claims).toHaveLength(2);
    expect(claims[1].workerId).not.toBe(firstWorkerId);
    expect(worker.output()).toContain("lost the queue lock");
  }, 300_000);
});
