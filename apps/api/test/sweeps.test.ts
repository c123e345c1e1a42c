import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { waitFor } from "../../../tests/helpers/processes.ts";
import { auth, startTestApi, type TestApi } from "./helpers/testApi.ts";

let api: TestApi;

const post = (url: string, payload?: Record<string, unknown>, key = api.keyA) =>
  api.app.inject({ method: "POST", url, headers: auth(key), ...(payload ? { payload } : {}) });
const get = (url: string, key = api.keyA) => api.app.inject({ method: "GET", url, headers: auth(key) });

const BASE = { architecture: "lenet", dataset: { name: "synthetic-shapes" }, training: { epochs: 3, batchSize: 32, maxTrainSamples: 64 } };

const trialsOf = async (sweepId: string) => (await get(`/v1/sweeps/${sweepId}/trials`)).json().items as Record<string, any>[];

/** Stands in for a worker: the job runs, and its epochs land with the given validation accuracies. */
async function train(jobId: string, accuracies: number[], finalStatus?: "succeeded" | "failed") {
  await api.db.job.update({ where: { id: jobId }, data: { status: "running", startedAt: new Date() } });
  const done = await api.db.epochMetric.count({ where: { jobId } });
  for (const [offset, valAccuracy] of accuracies.slice(done).entries()) {
    await api.db.epochMetric.create({
      data: { jobId, epoch: done + offset + 1, trainLoss: 1, trainAccuracy: 0.5, valLoss: 1, valAccuracy, learningRate: 0.1, seconds: 1, samplesPerSecond: 10 },
    });
  }
  if (finalStatus) await api.db.job.update({ where: { id: jobId }, data: { status: finalStatus, finishedAt: new Date() } });
}

beforeAll(async () => {
  api = await startTestApi({ TRAINYARD_SWEEP_INTERVAL_MS: "200" });
});

afterAll(async () => {
  await api?.close();
});

describe("sweeps", () => {
  it("answers 400 naming an invalid trial, a grid over a range, an unknown metric and a bad path", async () => {
    const sweep = {
      name: "bad",
      base: BASE,
      parameters: { "training.batchSize": { values: [32, 0] } },
      search: { type: "grid" },
      objective: { metric: "valAccuracy", goal: "maximize" },
    };
    const invalidTrial = await post("/v1/sweeps", sweep);
    expect(invalidTrial.statusCode).toBe(400);
    expect(invalidTrial.headers["content-type"]).toContain("application/problem+json");
    expect(invalidTrial.json().detail).toContain("trial 1 (training.batchSize=0)");
    expect(invalidTrial.json().errors[0].path).toBe("parameters.training.batchSize");

    const unknownArchitecture = await post("/v1/sweeps", { ...sweep, parameters: { architecture: { values: ["lenet", "nope"] } } });
    expect(unknownArchitecture.statusCode).toBe(400);
    expect(unknownArchitecture.json().detail).toContain('trial 1 (architecture="nope")');

    const gridOverRange = await post("/v1/sweeps", { ...sweep, parameters: { "training.optimizer.learningRate": { uniform: [0.01, 0.1] } } });
    expect(gridOverRange.statusCode).toBe(400);
    expect(JSON.stringify(gridOverRange.json().errors)).toContain("parameters.training.optimizer.learningRate");

    const badMetric = await post("/v1/sweeps", { ...sweep, parameters: { "training.batchSize": { values: [32] } }, objective: { metric: "speed", goal: "maximize" } });
    expect(badMetric.statusCode).toBe(400);
    expect(JSON.stringify(badMetric.json().errors)).toContain("objective.metric");

    const badBase = await post("/v1/sweeps", { ...sweep, base: { ...BASE, training: { epochs: -1 } }, parameters: { "training.batchSize": { values: [32] } } });
    expect(badBase.statusCode).toBe(400);
    expect(badBase.json().errors[0].path).toBe("base.training.epochs");
    expect(await api.db.job.count()).toBe(0);
    expect((await get("/v1/sweeps")).json().items).toEqual([]);
  });

  it("submits within maxParallel, prunes by ASHA, records the best and finishes; another tenant sees nothing", async () => {
    const created = await post("/v1/sweeps", {
      name: "scripted",
      base: BASE,
      parameters: { "training.optimizer.learningRate": { values: [0.01, 0.02, 0.03, 0.04] } },
      search: { type: "grid" },
      objective: { metric: "valAccuracy", goal: "maximize" },
      maxParallel: 2,
      pruning: { type: "asha", minEpochs: 1, reductionFactor: 2 },
    });
    expect(created.statusCode).toBe(202);
    const sweepId = created.json().id as string;
    expect(created.headers.location).toBe(`/v1/sweeps/${sweepId}`);
    expect(created.json()).toMatchObject({ name: "scripted", status: "running", best: null, trials: { total: 4 } });

    const firstTwo = await waitFor("two trials submitted", async () => {
      const trials = await trialsOf(sweepId);
      return trials.filter((trial) => trial.jobId).length === 2 ? trials : null;
    }, 10_000, 50);
    expect(firstTwo.map((trial) => trial.params["training.optimizer.learningRate"])).toEqual([0.01, 0.02, 0.03, 0.04]);
    const jobs = (await get(`/v1/jobs?tag=sweep:${sweepId}`)).json().items as Record<string, any>[];
    expect(jobs).toHaveLength(2);
    expect(jobs.map((job) => job.spec.training.optimizer.learningRate).sort()).toEqual([0.01, 0.02]);

    // Trial 0 reaches rung 1 first; trial 1 reaches it lower and is pruned (the top ⌊2/2⌋ = 1 stays).
    await train(firstTwo[0]!.jobId, [0.5]);
    await waitFor("trial 0 judged", async () => (await trialsOf(sweepId))[0]!.value === 0.5, 10_000, 50);
    await train(firstTwo[1]!.jobId, [0.3]);
    const pruned = await waitFor("trial 1 pruned", async () => {
      const trial = (await trialsOf(sweepId))[1]!;
      return trial.pruned ? trial : null;
    }, 10_000, 50);
    expect(pruned).toMatchObject({ value: 0.3, epochsDone: 1 });
    // The trial is recorded as pruned first and its job cancelled right after (a crash in between cancels it on the next step).
    await waitFor("trial 1's job cancelling", async () => (await api.db.job.findUnique({ where: { id: firstTwo[1]!.jobId } }))!.status === "cancelling", 10_000, 50);
    await api.db.job.update({ where: { id: firstTwo[1]!.jobId }, data: { status: "cancelled", finishedAt: new Date() } });

    // Its slot goes to trial 2.
    const third = await waitFor("trial 2 submitted", async () => (await trialsOf(sweepId))[2]!.jobId as string | null, 10_000, 50);
    await train(firstTwo[0]!.jobId, [0.5, 0.6, 0.7], "succeeded");
    const fourth = await waitFor("trial 3 submitted", async () => (await trialsOf(sweepId))[3]!.jobId as string | null, 10_000, 50);
    await train(third, [0.9, 0.92, 0.95], "succeeded");
    // Trial 3 reaches rung 1 last: of 0.5, 0.3, 0.9 and its 0.1 the top ⌊4/2⌋ = 2 stay.
    await train(fourth, [0.1]);
    await waitFor("trial 3 pruned", async () => (await trialsOf(sweepId))[3]!.pruned as boolean, 10_000, 50);
    await waitFor("trial 3's job cancelling", async () => (await api.db.job.findUnique({ where: { id: fourth } }))!.status === "cancelling", 10_000, 50);
    await api.db.job.update({ where: { id: fourth }, data: { status: "cancelled", finishedAt: new Date() } });

    const finished = await waitFor("the sweep to finish", async () => {
      const sweep = (await get(`/v1/sweeps/${sweepId}`)).json();
      return sweep.status === "running" ? null : sweep;
    }, 10_000, 50);
    expect(finished).toMatchObject({
      status: "succeeded",
      trials: { total: 4, queued: 0, running: 0, succeeded: 2, failed: 0, pruned: 2, cancelled: 0 },
      best: { jobId: third, params: { "training.optimizer.learningRate": 0.03 }, value: 0.95 },
    });
    expect(finished.finishedAt).not.toBeNull();
    expect((await trialsOf(sweepId))[3]).toMatchObject({ pruned: true, value: 0.1, status: "cancelled", epochsDone: 1 });
    expect(await api.db.job.count({ where: { tags: { has: `sweep:${sweepId}` } } })).toBe(4);

    expect((await get(`/v1/sweeps/${sweepId}`, api.keyB)).statusCode).toBe(404);
    expect((await get("/v1/sweeps", api.keyB)).json().items).toEqual([]);
    expect((await post(`/v1/sweeps/${sweepId}/cancel`)).statusCode).toBe(409);
  });

  it("cancel submits no more trials and cancels the unfinished ones", async () => {
    const created = await post("/v1/sweeps", {
      name: "to-cancel",
      base: BASE,
      parameters: { "training.seed": { intUniform: [1, 1000] } },
      search: { type: "random", trials: 3, seed: 4 },
      objective: { metric: "valLoss", goal: "minimize" },
    });
    const sweepId = created.json().id as string;
    const first = await waitFor("a trial submitted", async () => (await trialsOf(sweepId))[0]!.jobId as string | null, 10_000, 50);
    const cancelled = await post(`/v1/sweeps/${sweepId}/cancel`);
    expect(cancelled.statusCode).toBe(202);
    expect(cancelled.json()).toMatchObject({ status: "cancelled", trials: { total: 3, cancelled: 3 } });
    expect((await api.db.job.findUnique({ where: { id: first } }))!.status).toBe("cancelled");
    await new Promise((resolve) => setTimeout(resolve, 600));
    expect(await api.db.job.count({ where: { tags: { has: `sweep:${sweepId}` } } })).toBe(1);
  });
});
