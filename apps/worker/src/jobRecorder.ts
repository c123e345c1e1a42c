import { putArtifact, readArtifact, type Db, Prisma } from "@trainyard/db";
import { WEIGHTS_FILE, type EpochReport, type ExportedModel, type TrainingCheckpoint } from "@trainyard/engine";
import { newId, type ErrorCode, type JobResult, type Progress } from "@trainyard/shared";

const json = (value: unknown) => value as Prisma.InputJsonValue;

async function putModel(tx: Prisma.TransactionClient, jobId: string, kind: "best" | "last", model: ExportedModel, checkpointId?: string) {
  await putArtifact(tx, {
    jobId,
    checkpointId,
    kind,
    name: "model.json",
    contentType: "application/json",
    data: Buffer.from(JSON.stringify(model.modelJson)),
  });
  await putArtifact(tx, { jobId, checkpointId, kind, name: WEIGHTS_FILE, contentType: "application/octet-stream", data: model.weights });
}

/** Everything the worker writes about a job; each epoch lands in one transaction or not at all. */
export function createJobRecorder(db: Db) {
  async function event(jobId: string, type: string, data: unknown) {
    await db.jobEvent.create({ data: { jobId, type, data: json(data) } });
  }

  return {
    event,

    /** Claims the job for this attempt; null if it is no longer meant to run (cancelled meanwhile). */
    async markRunning(jobId: string, workerId: string, device: string) {
      const claimed = await db.job.updateMany({
        where: { id: jobId, status: { in: ["queued", "running"] } },
        data: {
          status: "running",
          workerId,
          device,
          attempts: { increment: 1 },
          startedAt: new Date(),
          errorCode: null,
          errorMessage: null,
        },
      });
      if (claimed.count === 0) return null;
      await event(jobId, "status", { status: "running", workerId, device });
      return db.job.findUniqueOrThrow({ where: { id: jobId } });
    },

    async recordStarted(jobId: string, backend: string, device: string, classes: string[]) {
      await db.$transaction(async (tx) => {
        await tx.job.update({ where: { id: jobId }, data: { backend, device } });
        await putArtifact(tx, {
          jobId,
          kind: "meta",
          name: "labels.json",
          contentType: "application/json",
          data: Buffer.from(JSON.stringify(classes)),
        });
      });
    },

    async recordProgress(jobId: string, progress: Progress) {
      await db.job.update({ where: { id: jobId }, data: { progress: json(progress) } });
    },

    async recordEpoch(jobId: string, { metrics, checkpoint, isBest }: EpochReport) {
      await db.$transaction(
        async (tx) => {
          await tx.epochMetric.createMany({ data: [{ jobId, ...metrics }], skipDuplicates: true });
          await tx.checkpoint.deleteMany({ where: { jobId, epoch: { gte: checkpoint.epoch } } });
          const checkpointId = newId("ckpt");
          await tx.checkpoint.create({
            data: {
              id: checkpointId,
              jobId,
              epoch: checkpoint.epoch,
              metric: checkpoint.bestMetric,
              state: json({
                bestEpoch: checkpoint.bestEpoch,
                bestMetric: checkpoint.bestMetric,
                epochsWithoutImprovement: checkpoint.epochsWithoutImprovement,
                optimizerSpecs: checkpoint.optimizer.specs,
              }),
            },
          });
          await putModel(tx, jobId, "last", checkpoint.model, checkpointId);
          if (isBest) await putModel(tx, jobId, "best", checkpoint.model, checkpointId);
          await putArtifact(tx, {
            jobId,
            checkpointId,
            kind: "checkpoint",
            name: "optimizer.bin",
            contentType: "application/octet-stream",
            data: checkpoint.optimizer.data,
          });
          await tx.job.update({ where: { id: jobId }, data: { latestMetrics: json(metrics) } });
          await tx.jobEvent.create({ data: { jobId, type: "epoch", data: json(metrics) } });
        },
        { timeout: 300_000, maxWait: 30_000 },
      );
    },

    /** The state to resume from, if an earlier attempt finished an epoch. */
    async loadResumeState(jobId: string): Promise<{ checkpoint: TrainingCheckpoint; best: ExportedModel } | null> {
      const latest = await db.checkpoint.findFirst({ where: { jobId }, orderBy: { epoch: "desc" } });
      if (!latest) return null;
      const artifacts = await db.artifact.findMany({ where: { jobId, kind: { in: ["last", "best", "checkpoint"] } } });
      const find = (kind: string, name: string) => artifacts.find((a) => a.kind === kind && a.name === name);
      const load = async (kind: string): Promise<ExportedModel | null> => {
        const modelJson = find(kind, "model.json");
        const weights = find(kind, WEIGHTS_FILE);
        if (!modelJson || !weights) return null;
        return {
          modelJson: JSON.parse((await readArtifact(db, modelJson.id)).toString("utf8")),
          weights: new Uint8Array(await readArtifact(db, weights.id)),
        };
      };
      const optimizer = find("checkpoint", "optimizer.bin");
      const last = await load("last");
      const best = await load("best");
      if (!last || !best || !optimizer || optimizer.checkpointId !== latest.id) return null;
      const state = latest.state as unknown as {
        bestEpoch: number;
        bestMetric: number | null;
        epochsWithoutImprovement: number;
        optimizerSpecs: TrainingCheckpoint["optimizer"]["specs"];
      };
      return {
        checkpoint: {
          epoch: latest.epoch,
          model: last,
          optimizer: { specs: state.optimizerSpecs, data: new Uint8Array(await readArtifact(db, optimizer.id)) },
          bestEpoch: state.bestEpoch,
          bestMetric: state.bestMetric,
          epochsWithoutImprovement: state.epochsWithoutImprovement,
        },
        best,
      };
    },

    async markSucceeded(jobId: string, result: JobResult) {
      await db.job.update({ where: { id: jobId }, data: { status: "succeeded", result: json(result), finishedAt: new Date() } });
      await event(jobId, "status", { status: "succeeded", result });
    },

    async markFailed(jobId: string, code: ErrorCode, message: string) {
      await db.job.update({
        where: { id: jobId },
        data: { status: "failed", errorCode: code, errorMessage: message.slice(0, 4000), finishedAt: new Date() },
      });
      await event(jobId, "status", { status: "failed", code, message });
    },

    async markCancelled(jobId: string) {
      await db.job.update({ where: { id: jobId }, data: { status: "cancelled", finishedAt: new Date() } });
      await event(jobId, "status", { status: "cancelled" });
    },

    /** A retry will run it again: back to queued, keeping the attempt count and the last error. */
    async markRetrying(jobId: string, code: ErrorCode, message: string) {
      await db.job.update({ where: { id: jobId }, data: { status: "queued", errorCode: code, errorMessage: message.slice(0, 4000) } });
      await event(jobId, "status", { status: "queued", retryAfter: code });
    },

    async status(jobId: string) {
      return (await db.job.findUnique({ where: { id: jobId }, select: { status: true } }))?.status ?? null;
    },
  };
}

export type JobRecorder = ReturnType<typeof createJobRecorder>;
