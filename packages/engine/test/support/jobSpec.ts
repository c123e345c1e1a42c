import { jobSpecInputSchema, type JobSpec } from "@trainyard/shared";

/**
 * A job spec as the API would store it: the input parsed with defaults filled (LeNet on
 * synthetic-shapes unless it says otherwise), and the values the API fills in from the data set
 * and the architecture: input shape, seed and learning rate (the input's own seed and rate win).
 */
export function testJobSpec(
  input: Record<string, unknown>,
  fill: { inputShape?: [number, number, number]; seed?: number; learningRate?: number } = {},
): JobSpec {
  const parsed = jobSpecInputSchema.parse({ architecture: "lenet", dataset: { name: "synthetic-shapes" }, ...input });
  return {
    ...parsed,
    inputShape: fill.inputShape ?? [28, 28, 1],
    training: {
      ...parsed.training,
      seed: parsed.training.seed ?? fill.seed ?? 3,
      optimizer: { ...parsed.training.optimizer, learningRate: parsed.training.optimizer.learningRate ?? fill.learningRate ?? 0.05 },
    },
  };
}
