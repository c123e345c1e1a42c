import { createPostgresArtifactStore, readArtifact, writeArtifact, type ArtifactStore, type Db, type Prisma } from "@trainyard/db";
import { WEIGHTS_FILE, type ExportedModel, type TrainingCheckpoint } from "@trainyard/engine";
import { newId } from "@trainyard/shared";

const json = (value: unknown) => value as Prisma.InputJsonValue;

interface CheckpointState {
  bestEpoch: number;
  bestMetric: number | null;
  epochsWithoutImprovement: number;
  partial: TrainingCheckpoint["partial"];
  optimizerSpecs: TrainingCheckpoint["optimizer"]["specs"];
}

export type ResumeState = { checkpoint: TrainingCheckpoint; best: ExportedModel | null };

async function putModel(
  tx: Prisma.TransactionClient,
  store: ArtifactStore,
  jobId: string,
  kind: "best" | "last",
  model: ExportedModel,
  checkpointId: string,
) {
  const modelJson = Buffer.from(JSON.stringify(model.modelJson));
  await writeArtifact(tx, store, { jobId, checkpointId, kind, name: "model.json", contentType: "application/json", data: modelJson });
  await writeArtifact(tx, store, {
    jobId,
    checkpointId,
    kind,
    name: WEIGHTS_FILE,
    contentType: "application/octet-stream",
    data: model.weights,
  });
}

/**
 * Replaces the job's latest checkpoint inside the caller's transaction: the state row, the
 * `last` model (and `best` when it is the best so far) and the optimizer state, written to `store`.
 *
 * Retention: a job keeps `best`, `last` and the latest optimizer state; each write replaces the
 * previous one of its kind (its bytes go with its row, an object through collectArtifactGarbage),
 * and earlier epochs' checkpoint rows go once no artifact refers to them (the best epoch's stays).
 * A registered model version's artifacts survive all of it (detached by a trigger, not deleted).
 */
export async function saveCheckpoint(
  tx: Prisma.TransactionClient,
  jobId: string,
  checkpoint: TrainingCheckpoint,
  isBest: boolean,
  store: ArtifactStore = createPostgresArtifactStore(tx),
) {
  await tx.checkpoint.deleteMany({ where: { jobId, epoch: { gte: checkpoint.epoch } } });
  const checkpointId = newId("ckpt");
  const state: CheckpointState = {
    bestEpoch: checkpoint.bestEpoch,
    bestMetric: checkpoint.bestMetric,
    epochsWithoutImprovement: checkpoint.epochsWithoutImprovement,
    partial: checkpoint.partial,
    optimizerSpecs: checkpoint.optimizer.specs,
  };
  await tx.checkpoint.create({
    data: { id: checkpointId, jobId, epoch: checkpoint.epoch, metric: checkpoint.bestMetric, state: json(state) },
  });
  await putModel(tx, store, jobId, "last", checkpoint.model, checkpointId);
  if (isBest) await putModel(tx, store, jobId, "best", checkpoint.model, checkpointId);
  await writeArtifact(tx, store, {
    jobId,
    checkpointId,
    kind: "checkpoint",
    name: "optimizer.bin",
    contentType: "application/octet-stream",
    data: checkpoint.optimizer.data,
  });
  await tx.checkpoint.deleteMany({ where: { jobId, epoch: { lt: checkpoint.epoch }, artifacts: { none: {} } } });
}

/** The model a set of artifacts holds (its model.json and weights), or null if one is missing. */
async function readModelArtifacts(db: Db, artifacts: { id: string; name: string }[]): Promise<ExportedModel | null> {
  const modelJson = artifacts.find((artifact) => artifact.name === "model.json");
  const weights = artifacts.find((artifact) => artifact.name === WEIGHTS_FILE);
  if (!modelJson || !weights) return null;
  return {
    modelJson: JSON.parse((await readArtifact(db, modelJson.id)).toString("utf8")),
    weights: new Uint8Array(await readArtifact(db, weights.id)),
  };
}

/** A job's `best` or `last` model, or null if it has none (yet). */
export async function loadModel(db: Db, jobId: string, kind: "best" | "last"): Promise<ExportedModel | null> {
  const artifacts = await db.artifact.findMany({ where: { jobId, kind, name: { in: ["model.json", WEIGHTS_FILE] } } });
  return readModelArtifacts(db, artifacts);
}

/** A registered model version (`fineTune.fromModel`, pinned at submit to `name@version`), or null if it is gone. */
export async function loadRegisteredModel(db: Db, tenantId: string, fromModel: string): Promise<ExportedModel | null> {
  const at = fromModel.lastIndexOf("@");
  const version = await db.modelVersion.findFirst({
    where: { version: Number(fromModel.slice(at + 1)), model: { tenantId, name: fromModel.slice(0, at) } },
    include: { artifacts: { include: { artifact: true } } },
  });
  const artifacts = version?.artifacts.map((link) => link.artifact) ?? [];
  return readModelArtifacts(db, artifacts);
}

/** The state to resume from, if an earlier attempt left a checkpoint. */
export async function loadResumeState(db: Db, jobId: string): Promise<ResumeState | null> {
  const latest = await db.checkpoint.findFirst({ where: { jobId }, orderBy: { epoch: "desc" } });
  if (!latest) return null;
  const optimizer = await db.artifact.findFirst({ where: { jobId, kind: "checkpoint", name: "optimizer.bin" } });
  const last = await loadModel(db, jobId, "last");
  if (!last || !optimizer || optimizer.checkpointId !== latest.id) return null;
  const state = latest.state as unknown as CheckpointState;
  return {
    checkpoint: {
      epoch: latest.epoch,
      partial: state.partial ?? null,
      model: last,
      optimizer: { specs: state.optimizerSpecs, data: new Uint8Array(await readArtifact(db, optimizer.id)) },
      bestEpoch: state.bestEpoch,
      bestMetric: state.bestMetric,
      epochsWithoutImprovement: state.epochsWithoutImprovement,
    },
    best: await loadModel(db, jobId, "best"),
  };
}
