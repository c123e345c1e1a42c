import { z } from "zod";
import type { Db } from "@trainyard/db";
import { HEAD_PREFIX, memoryEstimateOf, type LayerSummary, type OptimizerName } from "@trainyard/models";
import type { JobSpec } from "@trainyard/shared";
import type { ArchitectureSummaries } from "./architectures/summaries.ts";
import type { ResolvedDataset } from "./specNormalizer.ts";

const BYTES_PER_FLOAT = 4;

/** A dry run's estimate (`POST /v1/jobs?dryRun=true`): what estimateJob answers. */
export const estimateSchema = z.object({
  parameters: z.number().int(),
  memoryBytes: z.number().describe("one device's training memory at this batch size: parameters, gradients, optimizer slots, activations"),
  activationBytesPerSample: z.number(),
  activationBytesPerBatch: z.number().describe("the part that grows with the batch: pick a batch size that fits the GPU's memory"),
  head: z
    .object({
      layers: z.array(z.string()),
      parameters: z.number().int(),
      weightBytes: z.number().describe("its float32 weights: what the head adds to a saved model"),
      trainingBytes: z.number().describe("its weights, gradients and optimizer slots while training (part of memoryBytes)"),
    })
    .describe("the classifier head (the layers fine-tuning replaces)"),
  trainSamples: z.number().int(),
  stepsPerEpoch: z.number().int(),
  secondsPerEpoch: z.number().nullable().describe("null until a job of this architecture has succeeded and measured a throughput"),
});
export type Estimate = z.input<typeof estimateSchema>;

/**
 * What the classifier head costs: the layers fine-tuning replaces (named `head_…`: `head_fc`
 * for most architectures, NiN's last conv block) that hold weights. It grows with the class
 * count, and at thousands of classes it can outweigh the rest of a small network.
 */
function headCost(layers: LayerSummary[], optimizer: OptimizerName) {
  const head = layers.filter((layer) => layer.name.startsWith(`${HEAD_PREFIX}_`) && layer.params > 0);
  const parameters = head.reduce((sum, layer) => sum + layer.params, 0);
  return {
    layers: head.map((layer) => layer.name),
    parameters,
    /** Its float32 weights: what the head adds to a saved model. */
    weightBytes: parameters * BYTES_PER_FLOAT,
    /** Its weights, gradients and optimizer slots while training (part of memoryBytes). */
    trainingBytes: memoryEstimateOf({ totalParams: parameters, activationFloatsPerSample: 0 }, 1, optimizer).parameterBytes,
  };
}

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
): Promise<Estimate> {
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
    head: headCost(summary.layers, spec.training.optimizer.type),
    trainSamples,
    stepsPerEpoch,
    secondsPerEpoch: measured ? trainSamples / measured.samplesPerSecond : null,
  };
}
