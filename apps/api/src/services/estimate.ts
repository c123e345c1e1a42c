import type { Db } from "@trainyard/db";
import { getModel } from "@trainyard/models";
import type { JobSpec } from "@trainyard/shared";
import type { ResolvedDataset } from "./specNormalizer.ts";

const BYTES_PER_FLOAT = 4;
/** Weights, gradients and up to two optimizer slots per parameter. */
const COPIES_PER_PARAMETER = { sgd: 2, adam: 4, adamw: 4, rmsprop: 3 } as const;

/** What a dry run answers: size, memory, steps, and time where a throughput was measured before. */
export async function estimateJob(db: Db, spec: JobSpec, { classes, trainCount }: Pick<ResolvedDataset, "classes" | "trainCount">) {
  const model = getModel(spec.architecture, { inputShape: spec.inputShape, classes, options: spec.architectureOptions });
  const parameters = model.countParams();
  const activationsPerSample = model.layers.reduce((sum, layer) => {
    const shape = layer.outputShape as number[];
    return sum + (Array.isArray(shape) && typeof shape[1] === "number" ? shape.slice(1).reduce((a, b) => a * b, 1) : 0);
  }, 0);
  model.dispose();
  const usable = Math.round(trainCount * (1 - spec.training.validationSplit));
  const trainSamples = Math.min(usable, spec.training.maxTrainSamples ?? usable);
  const stepsPerEpoch = Math.ceil(trainSamples / spec.training.batchSize);
  const measured = await db.epochMetric.findFirst({
    where: { job: { status: "succeeded", spec: { path: ["architecture"], equals: spec.architecture } } },
    orderBy: { createdAt: "desc" },
  });
  return {
    parameters,
    memoryBytes:
      parameters * BYTES_PER_FLOAT * COPIES_PER_PARAMETER[spec.training.optimizer.type] +
      activationsPerSample * spec.training.batchSize * BYTES_PER_FLOAT * 2,
    trainSamples,
    stepsPerEpoch,
    secondsPerEpoch: measured ? trainSamples / measured.samplesPerSecond : null,
  };
}
