import type { FastifyBaseLogger } from "fastify";
import { createSqlPool, type Db, type Prisma, type SqlPool } from "@trainyard/db";
import { FINISHED_STATUSES, jobSpecInputSchema, type JobStatus } from "@trainyard/shared";
import { Problem } from "../../problems.ts";
import type { JobChangeFeed } from "../jobChangeFeed.ts";
import type { JobService } from "../jobService.ts";
import { createPeriodicTask } from "../periodic.ts";
import { ashaDecisions } from "./asha.ts";
import type { TrialParams } from "./searchSpace.ts";
import type { SweepSpec } from "./sweepSpec.ts";
import { trialJobInput } from "./trialSpec.ts";

/** A trial's job is submitted under this key: a planner that died between submitting and recording finds the same job again. */
export const trialIdempotencyKey = (sweepId: string, index: number) => `sweep:${sweepId}:trial:${index}`;

/** Sweeps a planner has to look at: running ones, and finished ones whose trials are still stopping. */
const ACTIVE_SWEEPS = `
SELECT "id" FROM "Sweep" WHERE "status" = 'running'
UNION
SELECT DISTINCT "sweepId" FROM "SweepTrial" WHERE "status" IN ('queued', 'running')`;

/** Both halves of the advisory lock key: a namespace for sweeps, and the sweep. */
const TRY_LOCK = `SELECT pg_try_advisory_xact_lock(hashtext('trainyard_sweep'), hashtext($1)) AS "locked"`;
const LOCK = `SELECT pg_advisory_xact_lock(hashtext('trainyard_sweep'), hashtext($1))`;

const TERMINAL = new Set<string>(FINISHED_STATUSES);
/** A trial's status is its job's, with `cancelling` shown as still running. */
const trialStatusOf = (jobStatus: string) => (jobStatus === "cancelling" ? "running" : jobStatus);

const better = (goal: SweepSpec["objective"]["goal"], a: number, b: number) => (goal === "maximize" ? a > b : a < b);

export interface SweepPlannerDeps {
  db: Db;
  sql: SqlPool;
  databaseUrl: string;
  jobs: JobService;
  changes: JobChangeFeed;
  logger: FastifyBaseLogger;
}

export function createSweepPlanner({ db, sql, databaseUrl, jobs, changes, logger }: SweepPlannerDeps) {
  // The advisory locks are held on connections of their own, so that a step holding one never waits for a connection its own work needs.
  const lockPool = createSqlPool(databaseUrl, { poolSize: 4 });
  /** Trial jobs this process listens to, each waking its sweep. */
  const subscriptions = new Map<string, () => void>();
  /** One pass per sweep at a time in this process; a wake during a pass runs one more after it. */
  const passes = new Map<string, { running: Promise<void>; again: boolean }>();
  let closed = false;

  /** Runs `work` holding the sweep's advisory lock; answers false without running it when another planner holds it. */
  async function withSweepLock(sweepId: string, wait: boolean, work: () => Promise<void>): Promise<boolean> {
    const client = await lockPool.connect();
    try {
      await client.query("BEGIN");
      if (wait) await client.query(LOCK, [sweepId]);
      else if (!(await client.query<{ locked: boolean }>(TRY_LOCK, [sweepId])).rows[0]!.locked) {
        await client.query("ROLLBACK");
        return false;
      }
      try {
        await work();
      } finally {
        await client.query("COMMIT");
      }
      return true;
    } finally {
      client.release();
    }
  }

  async function submitTrial(sweep: { id: string; tenantId: string }, spec: SweepSpec, trial: { index: number; params: TrialParams }) {
    const input = jobSpecInputSchema.parse(trialJobInput(spec, sweep.id, trial.params));
    const { job } = await jobs.create(sweep.tenantId, input, trialIdempotencyKey(sweep.id, trial.index));
    await db.sweepTrial.update({
      where: { sweepId_index: { sweepId: sweep.id, index: trial.index } },
      data: { jobId: job.id, status: trialStatusOf(job.status) },
    });
  }

  /** One planning step of a sweep: read its trials' jobs and metrics, prune, submit, finish, record the best. */
  async function step(sweepId: string): Promise<void> {
    const sweep = await db.sweep.findUnique({ where: { id: sweepId }, include: { trials: { orderBy: { index: "asc" } } } });
    if (!sweep) return;
    const spec = sweep.spec as unknown as SweepSpec;
    const { metric, goal } = spec.objective;
    const jobIds = sweep.trials.flatMap((trial) => (trial.jobId ? [trial.jobId] : []));
    const [jobRows, metricRows] = await Promise.all([
      db.job.findMany({ where: { id: { in: jobIds } }, select: { id: true, status: true, spec: true } }),
      db.epochMetric.findMany({ where: { jobId: { in: jobIds } }, orderBy: { epoch: "asc" } }),
    ]);
    const jobById = new Map(jobRows.map((job) => [job.id, job]));
    const valuesByJob = new Map<string, (number | null)[]>();
    for (const row of metricRows) {
      const values = valuesByJob.get(row.jobId) ?? [];
      values[row.epoch - 1] = row[metric] ?? null;
      valuesByJob.set(row.jobId, values);
    }
    const trials = sweep.trials.map((trial) => {
      const job = trial.jobId ? jobById.get(trial.jobId) : undefined;
      const values = Array.from(valuesByJob.get(trial.jobId ?? "") ?? [], (value) => value ?? null);
      const recorded = values.filter((value): value is number => typeof value === "number");
      const value = recorded.length === 0 ? null : recorded.reduce((best, next) => (better(goal, next, best) ? next : best));
      // A job that vanished (its tenant's data deleted) ends its trial as failed.
      const status = trial.jobId ? (job ? trialStatusOf(job.status) : "failed") : trial.status;
      const epochs = (job?.spec as { training?: { epochs?: number } } | undefined)?.training?.epochs ?? values.length;
      return { ...trial, jobStatus: job?.status as JobStatus | undefined, values, value, epochsDone: values.length, status, epochs };
    });

    if (spec.pruning && sweep.status === "running") {
      const decisions = ashaDecisions(
        { minEpochs: spec.pruning.minEpochs, reductionFactor: spec.pruning.reductionFactor, goal },
        trials.map((trial) => ({
          index: trial.index,
          values: trial.values,
          rungsPassed: trial.rungsPassed,
          epochs: trial.epochs,
          active: !trial.pruned && (trial.status === "queued" || trial.status === "running"),
        })),
      );
      for (const decision of decisions) {
        const trial = trials[decision.index]!;
        trial.rungsPassed = decision.rungsPassed;
        trial.pruned = decision.prune;
      }
    }
    for (const trial of trials) {
      const stored = sweep.trials[trial.index]!;
      if (
        stored.status !== trial.status ||
        stored.value !== trial.value ||
        stored.epochsDone !== trial.epochsDone ||
        stored.rungsPassed !== trial.rungsPassed ||
        stored.pruned !== trial.pruned
      ) {
        await db.sweepTrial.update({
          where: { sweepId_index: { sweepId, index: trial.index } },
          data: {
            status: trial.status,
            value: trial.value,
            epochsDone: trial.epochsDone,
            rungsPassed: trial.rungsPassed,
            pruned: trial.pruned,
            ...(trial.jobId && !jobById.has(trial.jobId) ? { error: "the trial's job no longer exists" } : {}),
          },
        });
      }
    }

    // A pruned trial's job is cancelled after the trial is recorded as pruned, so a crash in between cancels it on the next step.
    for (const trial of trials) {
      if (!trial.pruned || !trial.jobId || trial.jobStatus === "cancelling" || TERMINAL.has(trial.status)) continue;
      await jobs.cancel(sweep.tenantId, trial.jobId).catch((error: unknown) => {
        if (!(error instanceof Problem && error.status === 409)) throw error;
      });
    }
    if (sweep.status === "running") {
      let unfinished = trials.filter((trial) => trial.jobId && !TERMINAL.has(trial.status)).length;
      for (const trial of trials) {
        if (unfinished >= spec.maxParallel) break;
        if (trial.status !== "pending") continue;
        try {
          await submitTrial(sweep, spec, { index: trial.index, params: trial.params as TrialParams });
          trial.status = "queued";
          unfinished += 1;
        } catch (error) {
          // The tenant's queue is full or Redis is away: the next step tries again.
          if (error instanceof Problem && (error.status === 429 || error.status === 503)) break;
          if (!(error instanceof Problem)) throw error;
          trial.status = "failed";
          await db.sweepTrial.update({
            where: { sweepId_index: { sweepId, index: trial.index } },
            data: { status: "failed", error: error.message },
          });
        }
      }
    }

    let best: { jobId: string; params: TrialParams; value: number } | null = null;
    for (const trial of trials) {
      if (trial.value === null || !trial.jobId) continue;
      if (!best || better(goal, trial.value, best.value))
        best = { jobId: trial.jobId, params: trial.params as TrialParams, value: trial.value };
    }
    const allFinished = trials.every((trial) => TERMINAL.has(trial.status));
    const finishing = sweep.status === "running" && allFinished;
    const status = finishing ? (trials.some((trial) => trial.status === "succeeded") ? "succeeded" : "failed") : sweep.status;
    if (finishing || JSON.stringify(best) !== JSON.stringify(sweep.best ?? null)) {
      await db.sweep.update({
        where: { id: sweepId },
        data: { status, best: (best ?? undefined) as Prisma.InputJsonValue | undefined, ...(finishing ? { finishedAt: new Date() } : {}) },
      });
    }
    listenTo(sweepId, trials.filter((trial) => trial.jobId && !TERMINAL.has(trial.status)).map((trial) => trial.jobId!));
  }

  /** Keeps this process subscribed to the change notifications of exactly the sweep's unfinished trial jobs. */
  function listenTo(sweepId: string, jobIds: string[]) {
    const prefix = `${sweepId}/`;
    const wanted = new Set(jobIds.map((jobId) => prefix + jobId));
    for (const [key, unsubscribe] of subscriptions) {
      if (key.startsWith(prefix) && !wanted.has(key)) {
        unsubscribe();
        subscriptions.delete(key);
      }
    }
    for (const key of wanted) {
      if (!subscriptions.has(key)) subscriptions.set(key, changes.subscribe(key.slice(prefix.length), () => void wake(sweepId)));
    }
  }

  /** A planning pass of one sweep, unless another planner (this process's or another replica's) holds it. */
  function wake(sweepId: string): Promise<void> {
    const current = passes.get(sweepId);
    if (current) {
      current.again = true;
      return current.running;
    }
    const entry = { running: Promise.resolve(), again: false };
    entry.running = (async () => {
      do {
        entry.again = false;
        if (closed) break;
        try {
          await withSweepLock(sweepId, false, () => step(sweepId));
        } catch (error) {
          logger.error({ err: (error as Error).message, sweepId }, "sweep planning step failed; retrying on the next tick");
        }
      } while (entry.again);
    })().finally(() => passes.delete(sweepId));
    passes.set(sweepId, entry);
    return entry.running;
  }

  const periodic = createPeriodicTask(
    async () => {
      const { rows } = await sql.query<{ id: string }>(ACTIVE_SWEEPS);
      for (const row of rows) await wake(row.id);
    },
    (error) => logger.warn({ err: error.message }, "sweep planner tick failed"),
  );

  return {
    wake,
    /** Runs `work` while no planner acts on the sweep (waiting for one that does), then plans it once. */
    async exclusive(sweepId: string, work: () => Promise<void>): Promise<void> {
      await withSweepLock(sweepId, true, work);
      await wake(sweepId);
    },
    start(intervalMs: number) {
      periodic.start(intervalMs);
    },
    async stop() {
      closed = true;
      await periodic.stop();
      await Promise.all([...passes.values()].map((pass) => pass.running));
      for (const unsubscribe of subscriptions.values()) unsubscribe();
      subscriptions.clear();
      await lockPool.end();
    },
  };
}

export type SweepPlanner = ReturnType<typeof createSweepPlanner>;
