import type { Db } from "@trainyard/db";
import { getModel, memoryEstimate } from "@trainyard/models";
import type { JobSpec } from "@trainyard/shared";
import type { ResolvedDataset } from "./specNormalizer.ts";

/** What a dry run answers: size, memory, steps, and time where a throughput was measured before. */
export async function estimateJob(db: Db, spec: JobSpec, { classes, trainCount }: Pick<ResolvedDataset, "classes" | "trainCount">) {
  const model = getModel(spec.architecture, { inputShape: spec.inputShape, classes, options: spec.architectureOptions });
  const memory = memoryEstimate(model, spec.training.batchSize, spec.training.optimizer.type);
  model.dispose();
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
