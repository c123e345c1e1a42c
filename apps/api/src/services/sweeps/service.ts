import { randomBytes } from "node:crypto";
import type { Db } from "@trainyard/db";
import { Prisma } from "@trainyard/db";
import { notFound, Problem, conflict } from "../../problems.ts";
import type { ArchitectureSummaries } from "../architectures/summaries.ts";
import { decodeCursor, encodeCursor } from "../cursor.ts";
import type { JobService } from "../jobService.ts";
import type { SweepPlanner } from "./planner.ts";
import { enumerateTrials, type TrialParams } from "./searchSpace.ts";
import type { SweepSpec } from "./sweepSpec.ts";
import { trialJobInput, validateTrial } from "./trialSpec.ts";

/** Sortable opaque ids in the format of the other resources' (time prefix + 80 random bits). */
const newSweepId = () => `swp_${Date.now().toString(36).padStart(9, "0")}${randomBytes(10).toString("hex")}`;

const TRIAL_COUNTS = ["queued", "running", "succeeded", "failed", "pruned", "cancelled"] as const;
export const SWEEP_STATUSES = ["running", "succeeded", "failed", "cancelled"] as const;
export const TRIAL_STATUSES = ["queued", "running", "succeeded", "failed", "cancelled"] as const;
const UNFINISHED = ["pending", "queued", "running"];

type SweepRow = Prisma.SweepGetPayload<{ include: { trials: true } }>;
type TrialRow = SweepRow["trials"][number];

/** A trial as api.md shows it: a trial not yet submitted is `queued` without a job. */
export function trialView(trial: TrialRow) {
  return {
    index: trial.index,
    jobId: trial.jobId,
    params: trial.params as TrialParams,
    status: (trial.status === "pending" ? "queued" : trial.status) as (typeof TRIAL_STATUSES)[number],
    pruned: trial.pruned,
    value: trial.value,
    epochsDone: trial.epochsDone,
    error: trial.error,
  };
}

export function sweepView(sweep: SweepRow) {
  const trials: Record<string, number> = { total: sweep.trials.length, ...Object.fromEntries(TRIAL_COUNTS.map((key) => [key, 0])) };
  for (const trial of sweep.trials) {
    const key = trial.pruned ? "pruned" : trial.status === "pending" ? "queued" : trial.status;
    trials[key] = (trials[key] ?? 0) + 1;
  }
  return {
    id: sweep.id,
    name: sweep.name,
    status: sweep.status as (typeof SWEEP_STATUSES)[number],
    spec: sweep.spec as unknown as SweepSpec,
    trials: trials as Record<"total" | (typeof TRIAL_COUNTS)[number], number>,
    best: (sweep.best ?? null) as { jobId: string; params: TrialParams; value: number } | null,
    createdAt: sweep.createdAt.toISOString(),
    finishedAt: sweep.finishedAt?.toISOString() ?? null,
  };
}

export interface SweepServiceDeps {
  db: Db;
  jobs: JobService;
  architectures: ArchitectureSummaries;
  planner: SweepPlanner;
}

export function createSweepService({ db, jobs, architectures, planner }: SweepServiceDeps) {
  async function findOwned(tenantId: string, sweepId: string): Promise<SweepRow> {
    const sweep = await db.sweep.findFirst({ where: { id: sweepId, tenantId }, include: { trials: { orderBy: { index: "asc" } } } });
    if (!sweep) throw notFound(`sweep ${sweepId}`);
    return sweep;
  }

  return {
    /** Enumerates and validates every trial, records the sweep with them, and wakes the planner to submit the first ones. */
    async create(tenantId: string, spec: SweepSpec) {
      const id = newSweepId();
      const trials = enumerateTrials(spec.parameters, spec.search);
      for (const [index, params] of trials.entries()) {
        let input: Record<string, unknown>;
        try {
          input = trialJobInput(spec, id, params);
        } catch (error) {
          throw new Problem(400, "Bad Request", `trial ${index} cannot be built`, [
            { path: "parameters", message: (error as Error).message },
          ]);
        }
        await validateTrial({ db, architectures }, tenantId, input, index, params);
      }
      await db.sweep.create({
        data: {
          id,
          tenantId,
          name: spec.name,
          status: "running",
          spec: spec as unknown as Prisma.InputJsonValue,
          trials: { create: trials.map((params, index) => ({ index, params: params as Prisma.InputJsonValue })) },
        },
      });
      void planner.wake(id);
      return sweepView(await findOwned(tenantId, id));
    },

    async list(tenantId: string, query: { limit: number; cursor?: string }) {
      const after = query.cursor ? decodeCursor(query.cursor) : null;
      const rows = await db.sweep.findMany({
        where: {
          tenantId,
          ...(after ? { OR: [{ createdAt: { lt: after.createdAt } }, { createdAt: after.createdAt, id: { lt: after.id } }] } : {}),
        },
        include: { trials: true },
        orderBy: [{ createdAt: "desc" }, { id: "desc" }],
        take: query.limit + 1,
      });
      const page = rows.slice(0, query.limit);
      const last = page.at(-1);
      return {
        items: page.map(sweepView),
        nextCursor: rows.length > query.limit && last ? encodeCursor(last.createdAt, last.id) : null,
      };
    },

    get: async (tenantId: string, sweepId: string) => sweepView(await findOwned(tenantId, sweepId)),

    trials: async (tenantId: string, sweepId: string) => ({ items: (await findOwned(tenantId, sweepId)).trials.map(trialView) }),

    /** Stops the sweep (no more trials are submitted) and cancels its unfinished trials. */
    async cancel(tenantId: string, sweepId: string) {
      const sweep = await findOwned(tenantId, sweepId);
      if (sweep.status !== "running") throw conflict(`sweep ${sweepId} has already ${sweep.status === "cancelled" ? "been cancelled" : sweep.status}`);
      await planner.exclusive(sweepId, async () => {
        // The planner may have finished it while this waited for the lock.
        const stopped = await db.sweep.updateMany({ where: { id: sweepId, status: "running" }, data: { status: "cancelled", finishedAt: new Date() } });
        if (stopped.count === 0) return;
        await db.sweepTrial.updateMany({ where: { sweepId, status: "pending" }, data: { status: "cancelled" } });
        const unfinished = await db.sweepTrial.findMany({ where: { sweepId, status: { in: UNFINISHED }, jobId: { not: null } } });
        for (const trial of unfinished) {
          await jobs.cancel(tenantId, trial.jobId!).catch((error: unknown) => {
            if (!(error instanceof Problem && error.status === 409)) throw error;
          });
        }
      });
      return sweepView(await findOwned(tenantId, sweepId));
    },
  };
}

export type SweepService = ReturnType<typeof createSweepService>;
