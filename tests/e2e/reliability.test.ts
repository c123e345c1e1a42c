import { afterEach, describe, expect, it } from "vitest";
import { waitFor } from "../helpers/processes.ts";
import { childPids, startStack, type Stack } from "../helpers/stack.ts";

/**
 * Every way a job's run can be interrupted, with real processes: the job must reach an honest
 * end with exactly one metrics row per epoch. Epochs are small (6,000 images) to keep this quick.
 */
const EPOCHS = 3;
const JOB = {
  architecture: "lenet",
  dataset: { name: "fashion-mnist" },
  training: { epochs: EPOCHS, batchSize: 64, maxTrainSamples: 6000, seed: 11, optimizer: { type: "adam", learningRate: 0.005 } },
};

let stack: Stack | null = null;
afterEach(async () => {
  await stack?.stop();
  stack = null;
});

const inEpoch =
  (epoch: number, minStep = 5) =>
  (job: Record<string, any>) =>
    job.status === "running" && job.progress?.epoch === epoch && job.progress.step >= minStep;

async function expectCompleteRun(current: Stack, id: string) {
  const job = await current.waitForJob(id, (j) => ["succeeded", "failed", "cancelled"].includes(j.status), 240_000, "the job to finish");
  expect(job.status, JSON.stringify(job.error)).toBe("succeeded");
  const metrics = (await current.request("GET", `/v1/jobs/${id}/metrics`)).body;
  expect(metrics.epochs.map((row: { epoch: number }) => row.epoch)).toEqual([1, 2, 3]);
  return job;
}

/** Which worker is training the job: the one with a training child. */
function workerRunningTheJob(current: Stack) {
  return waitFor("a worker with a training child", async () => current.workers.find((w) => childPids(w.child.pid!).length > 0), 10_000);
}

describe("resume after a killed worker", () => {
  it("survives SIGKILL of the training child mid-epoch: retried, resumed, attempts 2", async () => {
    stack = await startStack({ workers: 1 });
    const id = await stack.submit(JOB);
    await stack.waitForJob(id, inEpoch(2), 120_000, "epoch 2 to be under way");
    const worker = await workerRunningTheJob(stack);
    const killedAt = Date.now();
    for (const pid of childPids(worker.child.pid!)) process.kill(pid, "SIGKILL");
    await stack.waitForJob(id, (j) => j.status === "running" && j.attempts === 2, 60_000, "the second attempt to start");
    console.info(`resume latency after killing the training child: ${Date.now() - killedAt} ms`);
    const job = await expectCompleteRun(stack, id);
    expect(job.attempts).toBe(2);
  });

  it("survives SIGKILL of the whole worker: a second worker takes the job over from the checkpoint", async () => {
    stack = await startStack({ workers: 2 });
    const id = await stack.submit(JOB);
    await stack.waitForJob(id, inEpoch(2), 120_000, "epoch 2 to be under way");
    const worker = await workerRunningTheJob(stack);
    const killedAt = Date.now();
    await worker.stop("SIGKILL");
    await stack.waitForJob(
      id,
      (j) => j.status === "running" && j.attempts === 2 && j.progress?.epoch >= 2,
      60_000,
      "another worker to resume",
    );
    console.info(`resume latency after killing the worker: ${Date.now() - killedAt} ms`);
    const job = await expectCompleteRun(stack, id);
    expect(job.attempts).toBe(2);
  });

  it("hands the job back on SIGTERM at a step boundary and another worker finishes it", async () => {
    stack = await startStack({ workers: 2 });
    const id = await stack.submit(JOB);
    await stack.waitForJob(id, inEpoch(2, 20), 120_000, "epoch 2 to be under way");
    const worker = await workerRunningTheJob(stack);
    const stoppedAt = Date.now();
    await worker.stop("SIGTERM");
    const exitMs = Date.now() - stoppedAt;
    expect(exitMs).toBeLessThan(20_000);
    const resumed = await stack.waitForJob(id, (j) => j.status === "running" && j.attempts === 2, 60_000, "the other worker to resume");
    // Resumed mid-epoch: the steps done before the hand-back are not redone.
    expect(resumed.progress.epoch).toBe(2);
    const job = await expectCompleteRun(stack, id);
    expect(job.attempts).toBe(2);
  });
});

describe("cancel", () => {
  it("cancels a running job within a bounded time and keeps its last checkpoint downloadable", async () => {
    stack = await startStack({ workers: 1 });
    const id = await stack.submit(JOB);
    await stack.waitForJob(id, inEpoch(2), 120_000, "epoch 2 to be under way");
    const requestedAt = Date.now();
    const cancel = await stack.request("POST", `/v1/jobs/${id}/cancel`);
    expect(cancel.status).toBe(202);
    expect(["cancelling", "cancelled"]).toContain(cancel.body.status);
    const job = await stack.waitForJob(id, (j) => j.status === "cancelled", 10_000, "the job to be cancelled");
    console.info(`cancel latency: ${Date.now() - requestedAt} ms`);
    expect(job.result).toBeNull();
    const model = await stack.request("GET", `/v1/jobs/${id}/model/model.json?checkpoint=last`);
    expect(model.status).toBe(200);
    expect(model.body.format).toBe("layers-model");
    const again = await stack.request("POST", `/v1/jobs/${id}/cancel`);
    expect(again.status).toBe(409);
  });
});

describe("slots", () => {
  it("runs two jobs at once on a worker with two CPU slots while a third waits", async () => {
    stack = await startStack({ workers: 0 });
    stack.startWorker({ TRAINYARD_CPU_SLOTS: "2" });
    const ids = [await stack.submit(JOB), await stack.submit(JOB), await stack.submit(JOB)];
    const statuses = await waitFor(
      "two jobs running together",
      async () => {
        const jobs = await Promise.all(ids.map((id) => stack!.job(id)));
        const running = jobs.filter((job) => job.status === "running");
        return running.length === 2 ? jobs.map((job) => job.status) : null;
      },
      120_000,
      200,
    );
    expect(statuses.filter((status) => status === "queued")).toHaveLength(1);
    const devices = new Set(
      (await Promise.all(ids.map((id) => stack!.job(id)))).filter((j) => j.status === "running").map((j) => j.device),
    );
    expect(devices).toEqual(new Set(["cpu:0", "cpu:1"]));
    // The heartbeat (every 3 s) reports which jobs the slots run and with which backend.
    const workers = await waitFor(
      "a heartbeat naming the running jobs",
      async () => {
        const listed = (await stack!.request("GET", "/v1/workers")).body as {
          devices: { id: string; backend: string | null; busyWithJob: string | null }[];
        }[];
        return listed[0]?.devices.every((device) => device.busyWithJob && device.backend) ? listed : null;
      },
      30_000,
    );
    expect(workers).toHaveLength(1);
    expect(workers[0].devices.map((device) => device.id)).toEqual(["cpu:0", "cpu:1"]);
    expect(workers[0].devices.map((device) => device.backend)).toEqual(["wasm", "wasm"]);
    for (const device of workers[0].devices) expect(ids).toContain(device.busyWithJob);
    for (const id of ids) await expectCompleteRun(stack, id);
  });
});

describe("scheduling", () => {
  const SHORT_JOB = { ...JOB, training: { ...JOB.training, epochs: 1, maxTrainSamples: 2000 } };

  it("starts the higher-priority job first", async () => {
    stack = await startStack({ workers: 0 });
    const low = await stack.submit({ ...SHORT_JOB, priority: 0 });
    const high = await stack.submit({ ...SHORT_JOB, priority: 80 });
    stack.startWorker();
    const first = await waitFor(
      "a job to start",
      async () => {
        const [lowJob, highJob] = await Promise.all([stack!.job(low), stack!.job(high)]);
        return [lowJob, highJob].find((job) => job.status !== "queued") ?? null;
      },
      60_000,
      100,
    );
    expect(first.id).toBe(high);
    await stack.request("POST", `/v1/jobs/${low}/cancel`);
  });

  it("holds a tenant to its limit of running jobs even with free slots", async () => {
    stack = await startStack({ workers: 0 });
    stack.startWorker({ TRAINYARD_CPU_SLOTS: "2", TRAINYARD_TENANT_MAX_RUNNING: "1" });
    const ids = [await stack.submit(SHORT_JOB), await stack.submit(SHORT_JOB)];
    let mostRunningAtOnce = 0;
    await waitFor(
      "both jobs to finish",
      async () => {
        const jobs = await Promise.all(ids.map((id) => stack!.job(id)));
        mostRunningAtOnce = Math.max(mostRunningAtOnce, jobs.filter((job) => job.status === "running").length);
        return jobs.every((job) => job.status === "succeeded");
      },
      180_000,
      100,
    );
    expect(mostRunningAtOnce).toBe(1);
  });
});

describe("user errors", () => {
  it("fails a diverging job at once with LOSS_NOT_FINITE and does not retry it", async () => {
    stack = await startStack({ workers: 1 });
    // A normalization that scales pixels up to ~1e38 overflows float32 in the first convolution.
    const id = await stack.submit({
      ...JOB,
      architectureOptions: { activation: "relu", pooling: "max" },
      training: { ...JOB.training, epochs: 1 },
      augmentation: { normalize: { mean: [0], std: [1e-38] } },
    });
    const job = await stack.waitForJob(id, (j) => ["succeeded", "failed"].includes(j.status), 120_000, "the job to end");
    expect(job.status).toBe("failed");
    expect(job.error.code).toBe("LOSS_NOT_FINITE");
    expect(job.attempts).toBe(1);
    expect(job.result).toBeNull();
  });
});
