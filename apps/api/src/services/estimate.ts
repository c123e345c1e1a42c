import type { Db } from "@trainyard/db";
import { memoryEstimateOf } from "@trainyard/models";
import type { JobSpec } from "@trainyard/shared";
import type { ArchitectureSummaries } from "./architectures/summaries.ts";
import type { ResolvedDataset } from "./specNormalizer.ts";

/**
 * What a dry run answers: size, memory, steps, and time where a throughput was measured before.
 * The model is described off the event loop without building its weights, and held to the
 * parameter and activation budget (a 400 naming what is too big).
 */
export async function estimateJob(
  db: Db,
  architectures: ArchitectureSummaries,
  spec: JobSpec,
  { classes, trainCount }: Pick<ResolvedDataset, "classes" | "trainCount">,
) {
  const summary = await architectures.summary(
    spec.architecture,
    { inputShape: spec.inputShape, classes, options: spec.architectureOptions },
    { classes: "dataset", inputShape: "inputShape", architectureOptions: "architectureOptions" },
  );
  const memory = memoryEstimateOf(summary, spec.training.batchSize, spec.training.optimizer.type);
  const usable = Math.round(trainCount * (1 - spec.training.validationSplit));
  const trainSamples = Math.min(usable, spec.training.maxTrainSamples ?? usable);
  const stepsPerEpoch = Math.ceil(trainSamples / spec.training.batchSize);
  const measured = await db.epochMetric.findFirst({
    where: { job: { status: "succeeded", spec: { path: ["architecture"], equals: spec.architecture } } },
    orderBy: { createdAt: "desc" },
  });
  return {
    parameters: memory.parameters,
    /** One device's training memory at this batch size: parameters, gradients, optimizer slots, activations. */
    memoryBytes: memory.totalBytes,
    /** The part that grows with the batch: pick a batch size that fits the GPU's memory. */
    activationBytesPerSample: memory.activationBytesPerSample,
    activationBytesPerBatch: memory.activationBytes,
    trainSamples,
    stepsPerEpoch,
    secondsPerEpoch: measured ? trainSamples / measured.samplesPerSecond : null,
  };
}
