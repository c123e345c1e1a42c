import { randomInt } from "node:crypto";
import type { Db } from "@trainyard/db";
import { builtinDatasetInfo } from "@trainyard/engine";
import { checkBuildOptions, getModelDefinition, hasModel, ModelOptionError } from "@trainyard/models";
import type { JobSpec, ParsedJobSpec } from "@trainyard/shared";
import { badRequest, type FieldError } from "../problems.ts";

interface ResolvedDataset {
  datasetId: string | null;
  imageShape: [number, number, number];
  classes: number;
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
    return { datasetId: null, imageShape: info.imageShape, classes: info.classes.length };
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
  };
}

/** The notes' tuning log: sigmoid LeNet wants a large SGD rate; adaptive optimizers a small one. */
function defaultLearningRate(spec: ParsedJobSpec): number {
  const optimizer = spec.training.optimizer.type;
  if (optimizer !== "sgd") return 0.001;
  const sigmoid = (spec.architectureOptions.activation ?? "sigmoid") === "sigmoid";
  return spec.architecture.startsWith("lenet") && sigmoid ? 0.9 : 0.1;
}

/** Fills every default and checks what zod cannot see alone (registry, data set, shapes). */
export async function normalizeSpec(db: Db, tenantId: string, spec: ParsedJobSpec): Promise<{ spec: JobSpec; datasetId: string | null }> {
  const errors: FieldError[] = [];
  if (!hasModel(spec.architecture)) {
    errors.push({ path: "architecture", message: `unknown architecture "${spec.architecture}"` });
  }
  const dataset = await resolveDataset(db, tenantId, spec.dataset, errors);
  if (errors.length > 0 || !dataset) throw badRequest("the job spec is invalid", errors);
  const definition = getModelDefinition(spec.architecture);
  const [defaultHeight, defaultWidth] = definition.defaultInputShape;
  const inputShape = spec.inputShape ?? [defaultHeight, defaultWidth, dataset.imageShape[2]];
  try {
    checkBuildOptions(spec.architecture, { inputShape, classes: dataset.classes });
  } catch (error) {
    if (error instanceof ModelOptionError) throw badRequest(error.message, [{ path: error.path, message: error.message }]);
    throw error;
  }
  const normalizeChannels = spec.augmentation.normalize.mean.length;
  if (normalizeChannels !== 1 && normalizeChannels !== inputShape[2]) {
    throw badRequest("normalization does not match the input channels", [
      { path: "augmentation.normalize.mean", message: `has ${normalizeChannels} values; the input has ${inputShape[2]} channels` },
    ]);
  }
  const normalized: JobSpec = {
    ...spec,
    inputShape,
    training: {
      ...spec.training,
      seed: spec.training.seed ?? randomInt(0, 2 ** 31 - 1),
      optimizer: { ...spec.training.optimizer, learningRate: spec.training.optimizer.learningRate ?? defaultLearningRate(spec) },
    },
  };
  return { spec: normalized, datasetId: dataset.datasetId };
}
