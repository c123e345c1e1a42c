import { randomInt } from "node:crypto";
import type { Db } from "@trainyard/db";
import { builtinDatasetInfo } from "@trainyard/datasets";
import { checkBuildOptions, getModelDefinition, hasModel } from "@trainyard/models";
import type { JobSpec, ParsedJobSpec } from "@trainyard/shared";
import { badRequest, Problem, type FieldError } from "../problems.ts";
import { resolveVersion, type ResolvedModelVersion } from "./models.ts";
import { mostGpuSlots } from "./workers.ts";

export interface ResolvedDataset {
  datasetId: string | null;
  imageShape: [number, number, number];
  classes: number;
  trainCount: number;
}

async function resolveDataset(
  db: Db,
  tenantId: string,
  ref: ParsedJobSpec["dataset"],
  errors: FieldError[],
): Promise<ResolvedDataset | null> {
  if ("name" in ref) {
    const info = builtinDatasetInfo(ref.name);
    if (!info) {
      errors.push({ path: "dataset.name", message: `unknown built-in data set "${ref.name}"` });
      return null;
    }
    if (!info.available) {
      errors.push({ path: "dataset.name", message: `${ref.name} is not installed on this service` });
      return null;
    }
    return { datasetId: null, imageShape: info.imageShape, classes: info.classes.length, trainCount: info.counts.train };
  }
  const dataset = await db.dataset.findFirst({ where: { id: ref.id, tenantId } });
  if (!dataset) {
    errors.push({ path: "dataset.id", message: `no data set with id ${ref.id}` });
    return null;
  }
  if (dataset.status !== "ready") {
    errors.push({ path: "dataset.id", message: `data set ${ref.id} is ${dataset.status}, not ready` });
    return null;
  }
  return {
    datasetId: dataset.id,
    imageShape: dataset.imageShape as [number, number, number],
    classes: (dataset.classes as string[]).length,
    trainCount: (dataset.counts as { train: number }).train,
  };
}

/** The notes' tuning log: sigmoid LeNet wants a large SGD rate; adaptive optimizers a small one. */
function defaultLearningRate(spec: ParsedJobSpec): number {
  const optimizer = spec.training.optimizer.type;
  if (optimizer !== "sgd") return 0.001;
  const sigmoid = (spec.architectureOptions.activation ?? "sigmoid") === "sigmoid";
  return spec.architecture.startsWith("lenet") && sigmoid ? 0.9 : 0.1;
}

interface FineTuneSource {
  architecture: string;
  architectureOptions: Record<string, unknown>;
  inputShape: [number, number, number];
}

/** A registered version a fine-tune starts from (`name@alias` or `name@version`), pinned to its version number. */
async function resolveFineTuneModel(db: Db, tenantId: string, spec: ParsedJobSpec, fromModel: string, errors: FieldError[]) {
  const at = fromModel.lastIndexOf("@");
  let version: ResolvedModelVersion;
  try {
    version = await resolveVersion(db, tenantId, fromModel.slice(0, at), fromModel.slice(at + 1));
  } catch (error) {
    if (!(error instanceof Problem) || error.status !== 404) throw error;
    errors.push({ path: "fineTune.fromModel", message: `no registered model version ${fromModel}` });
    return null;
  }
  if (version.architecture !== spec.architecture) {
    errors.push({
      path: "architecture",
      message: `fine-tuning keeps the source's architecture (${version.architecture}), got ${spec.architecture}`,
    });
    return null;
  }
  return {
    architecture: version.architecture,
    architectureOptions: version.architectureOptions,
    inputShape: version.inputShape,
    fromModel: `${version.name}@${version.version}`,
  };
}

/** The job or registered model a fine-tune starts from: the tenant's own, with the checkpoint asked for, same architecture. */
async function resolveFineTuneSource(
  db: Db,
  tenantId: string,
  spec: ParsedJobSpec,
  errors: FieldError[],
): Promise<(FineTuneSource & { fromModel?: string }) | null> {
  if (!spec.fineTune) return null;
  const { fromJobId, fromModel, checkpoint } = spec.fineTune;
  if (fromModel !== undefined) return resolveFineTuneModel(db, tenantId, spec, fromModel, errors);
  if (fromJobId === undefined) return null;
  const source = await db.job.findFirst({ where: { id: fromJobId, tenantId } });
  if (!source) {
    errors.push({ path: "fineTune.fromJobId", message: `no job with id ${fromJobId}` });
    return null;
  }
  const model = await db.artifact.findFirst({ where: { jobId: fromJobId, kind: checkpoint, name: "model.json" } });
  if (!model) {
    errors.push({ path: "fineTune.checkpoint", message: `job ${fromJobId} has no ${checkpoint} checkpoint` });
    return null;
  }
  const sourceSpec = source.spec as unknown as JobSpec;
  if (sourceSpec.architecture !== spec.architecture) {
    errors.push({
      path: "architecture",
      message: `fine-tuning keeps the source's architecture (${sourceSpec.architecture}), got ${spec.architecture}`,
    });
    return null;
  }
  return { architecture: sourceSpec.architecture, architectureOptions: sourceSpec.architectureOptions, inputShape: sourceSpec.inputShape };
}

/**
 * A data-parallel job (training.devices > 1) needs that many GPU slots of one worker: refused
 * when no registered worker has as many; with no worker registered yet, or one that has, it waits.
 */
async function checkDevices(db: Db, devices: number): Promise<void> {
  if (devices <= 1) return;
  const most = await mostGpuSlots(db);
  if (most === null || most >= devices) return;
  const message = `asks for ${devices} GPU slots of one worker; no registered worker has that many (the most is ${most})`;
  throw badRequest("no worker could ever take this job", [{ path: "training.devices", message }]);
}

/** Fills every default and checks what zod cannot see alone (registry, data set, shapes); answers the data set it resolved too. */
export async function normalizeSpec(
  db: Db,
  tenantId: string,
  spec: ParsedJobSpec,
): Promise<{ spec: JobSpec; datasetId: string | null; dataset: ResolvedDataset }> {
  const errors: FieldError[] = [];
  if (!hasModel(spec.architecture)) {
    errors.push({ path: "architecture", message: `unknown architecture "${spec.architecture}"` });
  }
  const dataset = await resolveDataset(db, tenantId, spec.dataset, errors);
  const source = errors.length === 0 ? await resolveFineTuneSource(db, tenantId, spec, errors) : null;
  if (errors.length > 0 || !dataset) throw badRequest("the job spec is invalid", errors);
  // A fine-tune inherits the source's shape and options unless told otherwise: its weights fit them.
  const architectureOptions =
    Object.keys(spec.architectureOptions).length === 0 && source ? source.architectureOptions : spec.architectureOptions;
  const definition = getModelDefinition(spec.architecture);
  const [defaultHeight, defaultWidth] = definition.defaultInputShape;
  const inputShape = spec.inputShape ?? source?.inputShape ?? [defaultHeight, defaultWidth, dataset.imageShape[2]];
  // A ModelOptionError thrown here is the error handler's 400 naming its path.
  checkBuildOptions(spec.architecture, { inputShape, classes: dataset.classes, options: architectureOptions });
  const normalizeChannels = spec.augmentation.normalize.mean.length;
  if (normalizeChannels !== 1 && normalizeChannels !== inputShape[2]) {
    throw badRequest("normalization does not match the input channels", [
      { path: "augmentation.normalize.mean", message: `has ${normalizeChannels} values; the input has ${inputShape[2]} channels` },
    ]);
  }
  await checkDevices(db, spec.training.devices);
  const normalized: JobSpec = {
    ...spec,
    architectureOptions,
    inputShape,
    ...(spec.fineTune && source?.fromModel ? { fineTune: { ...spec.fineTune, fromModel: source.fromModel } } : {}),
    training: {
      ...spec.training,
      seed: spec.training.seed ?? randomInt(0, 2 ** 31 - 1),
      optimizer: { ...spec.training.optimizer, learningRate: spec.training.optimizer.learningRate ?? defaultLearningRate(spec) },
    },
  };
  return { spec: normalized, datasetId: dataset.datasetId, dataset };
}
