import type { FastifyInstance } from "fastify";
import { setTimeout as sleep } from "node:timers/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createSqlPool } from "@trainyard/db";
import { waitFor } from "../../../tests/helpers/processes.ts";
import { buildServer, loadApiConfig } from "../src/index.ts";
import { auth, startTestApi, type TestApi } from "./helpers/testApi.ts";

/**
 * "Two API replicas never double-submit": two API processes' sweep planners on one database,
 * both woken at once by every change of a trial's job (each listens to them) and by their own
 * 100 ms ticks, plan the same sweeps while the trials' jobs finish by scripted updates. Each
 * trial gets exactly one job, and never more than maxParallel run at once.
 */
let api: TestApi;
/** A second API on the same database, Redis queue prefix and data directory: another replica. */
let replica: FastifyInstance;

const BASE = { architecture: "lenet", dataset: { name: "synthetic-shapes" }, training: { epochs: 2, batchSize: 32, maxTrainSamples: 64 } };
const UNFINISHED = new Set(["queued", "running", "cancelling"]);

beforeAll(async () => {
  api = await startTestApi({ TRAINYARD_SWEEP_INTERVAL_MS: "100" });
  replica = await buildServer(loadApiConfig(api.env));
  // Ready, each starts its planner.
  await Promise.all([api.app.ready(), replica.ready()]);
});

afterAll(async () => {
  await replica?.close();
  await api?.close();
});

/** A grid sweep over `training.seed` = 1…trials, created through the given replica. */
async function createSweep(app: FastifyInstance, name: string, trials: number, maxParallel: number): Promise<string> {
  const created = await app.inject({
    method: "POST",
    url: "/v1/sweeps",
    headers: auth(api.keyA),
    payload: {
      name,
      base: BASE,
      parameters: { "training.seed": { values: Array.from({ length: trials }, (_, i) => i + 1) } },
      search: { type: "grid" },
      objective: { metric: "valAccuracy", goal: "maximize" },
      maxParallel,
    },
  });
  expect(created.statusCode, created.body).toBe(202);
  return created.json().id as string;
}

/** Stands in for a worker: the job runs (a change both replicas hear), records an epoch and succeeds (another). */
async function finish(jobId: string, valAccuracy: number) {
  await api.db.job.update({ where: { id: jobId }, data: { status: "running", startedAt: new Date() } });
  await api.db.epochMetric.create({
    data: {
      jobId,
      epoch: 1,
      trainLoss: 1,
      trainAccuracy: 0.5,
      valLoss: 1,
      valAccuracy,
      learningRate: 0.1,
      seconds: 1,
      samplesPerSecond: 10,
    },
  });
  await api.db.job.update({ where: { id: jobId }, data: { status: "succeeded", finishedAt: new Date() } });
}

const seedOf = (spec: unknown) => (spec as { training: { seed: number } }).training.seed;

describe("two API replicas planning the same sweeps", () => {
  it("submit each trial exactly once and never more than maxParallel at a time", async () => {
    const TRIALS = 12;
    const MAX_PARALLEL = 3;
    const sweepIds = await Promise.all([
      createSweep(api.app, "replicas-a", TRIALS, MAX_PARALLEL),
      createSweep(replica, "replicas-b", TRIALS, MAX_PARALLEL),
    ]);
    const tags = sweepIds.map((id) => `sweep:${id}`);
    // A fixed pseudo-random order of finishing, so a failure replays.
    let state = 7;
    const random = () => (state = (state * 1_103_515_245 + 12_345) % 2 ** 31) / 2 ** 31;

    let rounds = 0;
    const deadline = Date.now() + 60_000;
    for (;;) {
      if (Date.now() > deadline) throw new Error(`the sweeps did not finish in 60 s (${rounds} rounds)`);
      const jobs = await api.db.job.findMany({ where: { tags: { hasSome: tags } }, select: { id: true, status: true, tags: true } });
      for (const tag of tags) {
        const running = jobs.filter((job) => job.tags.includes(tag) && UNFINISHED.has(job.status)).length;
        expect(running, `${tag}: unfinished trial jobs`).toBeLessThanOrEqual(MAX_PARALLEL);
      }
      const sweeps = await api.db.sweep.findMany({ where: { id: { in: sweepIds } }, select: { status: true } });
      if (sweeps.every((sweep) => sweep.status !== "running")) break;
      const queued = jobs.filter((job) => job.status === "queued");
      if (queued.length === 0) {
        // The planners are submitting the next trials.
        await sleep(10);
        continue;
      }
      // Some of the queued jobs (at least one) finish at once: each change wakes both replicas' planners together.
      const finishing = queued.filter((_, i) => i === 0 || random() < 0.5);
      await Promise.all(finishing.map((job) => finish(job.id, 0.5 + random() / 4)));
      rounds += 1;
    }
    expect(rounds).toBeGreaterThanOrEqual(Math.ceil((2 * TRIALS) / MAX_PARALLEL));

    for (const sweepId of sweepIds) {
      const jobs = await api.db.job.findMany({ where: { tags: { has: `sweep:${sweepId}` } }, select: { id: true, spec: true } });
      const trials = await api.db.sweepTrial.findMany({ where: { sweepId }, orderBy: { index: "asc" } });
      // Each trial index has exactly one job (its parameter names it), and that is the job the trial records.
      const jobsOf = (index: number) => jobs.filter((job) => seedOf(job.spec) === index + 1).map((job) => job.id);
      expect(trials.map((trial) => jobsOf(trial.index))).toEqual(trials.map((trial) => [trial.jobId]));
      expect(jobs).toHaveLength(TRIALS);
      const view = (await api.app.inject({ method: "GET", url: `/v1/sweeps/${sweepId}`, headers: auth(api.keyA) })).json();
      expect(view).toMatchObject({ status: "succeeded", trials: { total: TRIALS, succeeded: TRIALS } });
    }
  });

  it("while one replica holds a sweep's lock, the others submit nothing for it; once it lets go they go on", async () => {
    const sweepId = await createSweep(replica, "held", 3, 1);
    const trialJob = async (index: number) =>
      (await api.db.sweepTrial.findUnique({ where: { sweepId_index: { sweepId, index } } }))?.jobId ?? null;
    const first = await waitFor("trial 0 submitted", () => trialJob(0), 10_000, 20);
    // The lock a planner takes for a step (planner.ts: the namespace, then the sweep), held as a third replica mid-step would.
    const pool = createSqlPool(api.env.DATABASE_URL, { poolSize: 1 });
    const holder = await pool.connect();
    try {
      await holder.query("SELECT pg_advisory_lock(hashtext('trainyard_sweep'), hashtext($1))", [sweepId]);
      await finish(first, 0.5);
      // Both replicas are woken by the job's changes and tick every 100 ms meanwhile.
      await sleep(1_000);
      expect(await trialJob(1)).toBeNull();
      expect(await api.db.job.count({ where: { tags: { has: `sweep:${sweepId}` } } })).toBe(1);
      await holder.query("SELECT pg_advisory_unlock(hashtext('trainyard_sweep'), hashtext($1))", [sweepId]);
    } finally {
      holder.release();
      await pool.end();
    }
    const second = await waitFor("trial 1 submitted", () => trialJob(1), 10_000, 20);
    expect(second).not.toBe(first);
    const cancelled = await replica.inject({ method: "POST", url: `/v1/sweeps/${sweepId}/cancel`, headers: auth(api.keyA) });
    expect(cancelled.statusCode, cancelled.body).toBe(202);
    expect(cancelled.json()).toMatchObject({ status: "cancelled", trials: { total: 3, succeeded: 1, cancelled: 2 } });
    expect(await api.db.job.count({ where: { tags: { has: `sweep:${sweepId}` } } })).toBe(2);
  });
});
