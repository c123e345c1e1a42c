/**
 * The engine's training step for the benchmarks: a job spec as the API would complete it (SGD at
 * the benchmark's rate, synthetic data set, seed 1) and its TrainingReplica.
 */
import { jobSpecInputSchema } from "@trainyard/shared";
import { TrainingReplica } from "../packages/engine/src/training/replica.ts";

export const BENCH_LEARNING_RATE = 0.05;

export interface BenchNetwork {
  model: string;
  options?: Record<string, unknown>;
  inputShape: [number, number, number];
  batch: number;
}

export function benchJobSpec(net: BenchNetwork) {
  const parsed = jobSpecInputSchema.parse({
    architecture: net.model,
    architectureOptions: net.options,
    dataset: { name: "synthetic-shapes" },
    training: { batchSize: net.batch, optimizer: { type: "sgd", learningRate: BENCH_LEARNING_RATE } },
  });
  return {
    ...parsed,
    inputShape: net.inputShape,
    training: { ...parsed.training, seed: 1, optimizer: { ...parsed.training.optimizer, learningRate: BENCH_LEARNING_RATE } },
  };
}

/** The spec and a replica built from it (10 classes). */
export function benchReplica(net: BenchNetwork): { spec: ReturnType<typeof benchJobSpec>; replica: TrainingReplica } {
  const spec = benchJobSpec(net);
  return { spec, replica: TrainingReplica.build(spec, 10, BENCH_LEARNING_RATE) };
}
