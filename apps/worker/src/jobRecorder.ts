import { collectArtifactGarbage, createPostgresArtifactStore, putArtifact, type ArtifactStore, type Db, type Prisma } from "@trainyard/db";
import type { EpochReport, TrainingCheckpoint } from "@trainyard/engine";
import type { ErrorCode, JobResult, Progress } from "@trainyard/shared";
import { loadModel, loadRegisteredModel, loadResumeState, saveCheckpoint } from "./checkpointStore.ts";

const json = (value: unknown) => value as Prisma.InputJsonValue;
/** Long enough for a stack trace, short enough for a status page. */
const MAX_ERROR_MESSAGE = 4000;
const TRANSACTION_OPTIONS = { timeout: 300_000, maxWait: 30_000 };

/**
 * Everything the worker writes about a job; an epoch's metrics row and checkpoint land together or
 * not at all. Checkpoints go to `store` (TRAINYARD_ARTIFACTS_URL); labels.json stays in PostgreSQL.
 */
export function createJobRecorder(db: Db, store: ArtifactStore = createPostgresArtifactStore(db)) {
  async function event(jobId: string, type: string, data: unknown) {
    await db.jobEvent.create({ data: { jobId, type, data: json(data) } });
  }

  /** A final status and its event land together, so an event stream never sees one without the other. */
  async function finish(jobId: string, status: "succeeded" | "failed" | "cancelled", fields: Prisma.JobUpdateInput, eventData: object) {
    await db.$transaction([
      db.job.update({ where: { id: jobId }, data: { ...fields, status, finishedAt: new Date() } }),
      db.jobEvent.create({ data: { jobId, type: "status", data: json({ status, ...eventData }) } }),
    ]);
  }

  return {
    event,

    /**
     * Claims the job for this attempt, unless its tenant already has `tenantMaxRunning` jobs
     * running. Serialized per tenant (advisory lock), so two slots cannot both take the last place.
     */
    async claim(jobId: string, workerId: string, device: string, tenantMaxRunning: number) {
      const outcome = await db.$transaction(async (tx) => {
        const job = await tx.job.findUnique({ where: { id: jobId }, select: { tenantId: true, status: true } });
        if (!job || !["queued", "running"].includes(job.status)) return { kind: "gone" as const, status: job?.status ?? null };
        await tx.$executeRaw`SELECT pg_advisory_xact_lock(hashtext(${job.tenantId}))`;
        const others = await tx.job.count({
          where: { tenantId: job.tenantId, status: { in: ["running", "cancelling"] }, id: { not: jobId } },
        });
        if (others >= tenantMaxRunning) return { kind: "tenant-limit" as const, tenantId: job.tenantId };
        const claimed = await tx.job.updateMany({
          where: { id: jobId, status: { in: ["queued", "running"] } },
          data: {
            status: "running",
            workerId,
            device,
            devices: [device],
            adapter: null,
            attempts: { increment: 1 },
            startedAt: new Date(),
            errorCode: null,
            errorMessage: null,
          },
        });
        if (claimed.count === 0) return { kind: "gone" as const, status: null };
        await tx.jobEvent.create({ data: { jobId, type: "status", data: json({ status: "running", workerId, device }) } });
        return { kind: "claimed" as const, job: await tx.job.findUniqueOrThrow({ where: { id: jobId } }) };
      });
      return outcome;
    },

    /** What the job trains on: backend, device(s) and, on webgpu, the adapter; and its class names. */
    async recordStarted(
      jobId: string,
      backend: string,
      device: string,
      classes: string[],
      adapter: string | null = null,
      devices = [device],
    ) {
      await db.$transaction(async (tx) => {
        await tx.job.update({ where: { id: jobId }, data: { backend, device, devices, adapter } });
        const labels = Buffer.from(JSON.stringify(classes));
        await putArtifact(tx, { jobId, kind: "meta", name: "labels.json", contentType: "application/json", data: labels });
      });
    },

    /** Writes progress and answers the job's status, so a missed cancel message is still noticed. */
    async recordProgress(jobId: string, progress: Progress): Promise<string> {
      const job = await db.job.update({ where: { id: jobId }, data: { progress: json(progress) }, select: { status: true } });
      return job.status;
    },

    async recordEpoch(jobId: string, { metrics, checkpoint, isBest }: EpochReport) {
      await db.$transaction(async (tx) => {
        await tx.epochMetric.createMany({ data: [{ jobId, ...metrics }], skipDuplicates: true });
        await saveCheckpoint(tx, jobId, checkpoint, isBest, store);
        await tx.job.update({ where: { id: jobId }, data: { latestMetrics: json(metrics) } });
        await tx.jobEvent.create({ data: { jobId, type: "epoch", data: json(metrics) } });
      }, TRANSACTION_OPTIONS);
      // The checkpoint this one replaced leaves the object store too; a failure here must not fail
      // the epoch, and what is left queued is deleted by the next epoch's or the API's collection.
      await collectArtifactGarbage(db, store).catch(() => 0);
    },

    /** A mid-epoch checkpoint taken at shutdown: the next attempt continues from that step. */
    async recordInterruptedCheckpoint(jobId: string, checkpoint: TrainingCheckpoint) {
      await db.$transaction((tx) => saveCheckpoint(tx, jobId, checkpoint, false, store), TRANSACTION_OPTIONS);
      await collectArtifactGarbage(db, store).catch(() => 0);
    },

    loadResumeState: (jobId: string) => loadResumeState(db, jobId),

    async datasetDir(datasetId: string | null): Promise<string | null> {
      if (!datasetId) return null;
      const dataset = await db.dataset.findUnique({ where: { id: datasetId }, select: { storageDir: true, status: true } });
      return dataset?.status === "ready" ? dataset.storageDir : null;
    },

    /** The model a fine-tuning job starts from: the source job's best or last checkpoint, or a registered version. */
    loadFineTuneSource: (tenantId: string, fineTune: { fromJobId?: string; fromModel?: string; checkpoint: "best" | "last" }) =>
      fineTune.fromModel !== undefined
        ? loadRegisteredModel(db, tenantId, fineTune.fromModel)
        : loadModel(db, fineTune.fromJobId ?? "", fineTune.checkpoint),

    markSucceeded: (jobId: string, result: JobResult) => finish(jobId, "succeeded", { result: json(result) }, { result }),

    async markFailed(jobId: string, code: ErrorCode, message: string) {
      const errorMessage = message.slice(0, MAX_ERROR_MESSAGE);
      await finish(jobId, "failed", { errorCode: code, errorMessage }, { code, message: errorMessage });
    },

    markCancelled: (jobId: string) => finish(jobId, "cancelled", {}, {}),

    /** The job goes back to the queue: it keeps its attempt count and, for a fault, the error that caused it. */
    async markRequeued(jobId: string, reason: string, fault?: { code: ErrorCode; message: string }) {
      await db.job.updateMany({
        where: { id: jobId, status: { in: ["running", "queued"] } },
        data: {
          status: "queued",
          workerId: null,
          errorCode: fault?.code ?? null,
          errorMessage: fault?.message.slice(0, MAX_ERROR_MESSAGE) ?? null,
        },
      });
      await event(jobId, "status", { status: "queued", reason });
    },

    async status(jobId: string) {
      return (await db.job.findUnique({ where: { id: jobId }, select: { status: true } }))?.status ?? null;
    },
  };
}

export type JobRecorder = ReturnType<typeof createJobRecorder>;
