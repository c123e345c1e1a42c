import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createDb } from "@trainyard/db";
import { waitFor } from "../helpers/processes.ts";
import { startStack, type Stack } from "../helpers/stack.ts";

/**
 * Scheduling of data-parallel jobs (training.devices > 1) on real processes, PostgreSQL and
 * Redis: a worker with two GPU slots (TRAINYARD_GPUS=0,1; the wasm backend, so that the jobs are
 * quick — the slots are what is scheduled), a job asking for both.
 */
const job = (training: Record<string, unknown>) => ({
  architecture: "lenet",
  dataset: { name: "synthetic-shapes" },
  training: { batchSize: 64, maxTrainSamples: 256, validationSplit: 0, ...training },
});
/** Runs until cancelled. */
const ENDLESS = job({ epochs: 500 });
const SHORT = job({ epochs: 1 });

let stack: Stack;

beforeAll(async () => {
  stack = await startStack({ workers: 0 });
}, 120_000);

afterAll(async () => {
  await stack?.stop();
});

const statusOf = async (id: string) => (await stack.job(id)).status as string;
const finished = (j: Record<string, any>) => ["succeeded", "failed", "cancelled"].includes(j.status);

/** A job's `log` events, from PostgreSQL (the API streams them as SSE). */
async function logLines(jobId: string): Promise<string[]> {
  const db = createDb(stack.env.DATABASE_URL!);
  try {
    const events = await db.jobEvent.findMany({ where: { jobId, type: "log" }, orderBy: { id: "asc" } });
    return events.map((event) => (event.data as { message: string }).message);
  } finally {
    await db.$disconnect();
  }
}

async function cancel(id: string): Promise<void> {
  expect((await stack.request("POST", `/v1/jobs/${id}/cancel`)).status).toBe(202);
  await stack.waitForJob(id, (j) => j.status === "cancelled", 30_000, `job ${id} to be cancelled`);
}

describe("training.devices on a worker with two GPU slots", () => {
  it("waits for two idle slots without blocking others, holds both while it runs, then frees them", { timeout: 300_000 }, async () => {
    const worker = stack.startWorker({ TRAINYARD_BACKEND: "wasm", TRAINYARD_GPUS: "0,1", TRAINYARD_REPLICAS: "1" });
    await stack.waitForActiveWorker("the worker to register");
    // More than the worker has: refused at submit.
    const tooMany = await stack.request("POST", "/v1/jobs", job({ epochs: 1, devices: 3 }));
    expect(tooMany.status).toBe(400);

    // One slot busy: the two-device job waits in the queue, and a one-device job still takes the free slot.
    const endless = await stack.submit(ENDLESS);
    await stack.waitForJob(endless, (j) => j.status === "running", 60_000, "the endless job to run");
    const multi = await stack.submit(job({ epochs: 500, devices: 2 }));
    const short = await stack.submit(SHORT);
    const shortJob = await stack.waitForJob(short, finished, 120_000, "the short job to finish beside the endless one");
    expect(shortJob.status).toBe("succeeded");
    const waiting = await stack.job(multi);
    expect(waiting).toMatchObject({ status: "queued", attempts: 0 });

    // Both slots free: the two-device job runs on both.
    await cancel(endless);
    const running = await stack.waitForJob(
      multi,
      (j) => j.status === "running" && j.devices?.length === 2,
      60_000,
      "the 2-device job to run",
    );
    expect(running.devices).toEqual([running.device, running.device === "gpu:0" ? "gpu:1" : "gpu:0"]);
    expect(running.attempts).toBe(1);
    const workers = await waitFor(
      "GET /v1/workers to show both slots busy with the 2-device job",
      async () => {
        const list = (await stack.request("GET", "/v1/workers")).body as Record<string, any>[];
        return list[0].devices.every((d: Record<string, any>) => d.busyWithJob === multi) ? list : null;
      },
      20_000,
      250,
    );
    expect(workers[0].devices).toHaveLength(2);
    const lines = await waitFor(
      "the 2-device job's log lines",
      async () => {
        const messages = await logLines(multi);
        return messages.some((m) => m.includes("replica per device")) ? messages : null;
      },
      20_000,
    );
    expect(lines.join("\n")).toMatch(/training on gpu:\d \+ gpu:\d with the wasm backend/);
    expect(lines.join("\n")).toContain("2 devices for this job, but only webgpu runs a replica per device");

    // Neither slot takes a job while the two-device job holds them.
    const after = await stack.submit(SHORT);
    await new Promise((resolve) => setTimeout(resolve, 8_000));
    expect(await statusOf(after)).toBe("queued");
    expect(await statusOf(multi)).toBe("running");

    // Released: the waiting job runs.
    await cancel(multi);
    const afterJob = await stack.waitForJob(after, finished, 120_000, "the job after the 2-device one to finish");
    expect(afterJob.status).toBe("succeeded");
    expect(afterJob.devices).toHaveLength(1);
    await worker.stop();
  });

  it("trains a 2-device job on webgpu with a replica thread on the second slot's adapter", { timeout: 300_000 }, async () => {
    // Two GPU slots on the one software adapter (llvmpipe) a machine without a GPU has.
    stack.startWorker({ TRAINYARD_BACKEND: "webgpu", TRAINYARD_GPUS: "0,1", XDG_RUNTIME_DIR: "/tmp" });
    const id = await stack.submit(job({ epochs: 1, devices: 2, seed: 3 }));
    const done = await stack.waitForJob(id, finished, 240_000, "the 2-device webgpu job to finish");
    expect(done.status, JSON.stringify(done.error)).toBe("succeeded");
    expect(done.backend).toBe("webgpu");
    expect([...done.devices].sort()).toEqual(["gpu:0", "gpu:1"]);
    expect(done.adapter).toMatch(/llvmpipe/);
    const lines = await logLines(id);
    expect(lines.join("\n")).toMatch(/2 data-parallel replicas \(webgpu threads on adapters .*llvmpipe.*\); each batch split 32 \+ 32/);
  });
});
