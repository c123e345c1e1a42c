/** What the replica tests compare: two runs of one spec from the same start, weight by weight. */
import * as tf from "@tensorflow/tfjs";
import type { JobSpec } from "@trainyard/shared";
import { expect } from "vitest";
import type { ExportedModel, TrainerHooks, TrainingOutcome } from "../../src/index.ts";
import { decodeExportedWeights, exportModel } from "../../src/modelExport.ts";
import { TrainingReplica } from "../../src/trainingReplica.ts";
import type { TrainingStart } from "../../src/trainingTypes.ts";

export const quietHooks: TrainerHooks = { onProgress: () => undefined, onEpoch: async () => undefined, stopRequested: () => null };

/** An exported model's weights by name (read with data(): webgpu has no synchronous read in Node). */
export async function weightsOf(model: ExportedModel): Promise<Record<string, Float32Array>> {
  const named = decodeExportedWeights(model);
  const entries = await Promise.all(
    Object.entries(named).map(async ([name, tensor]) => [name, (await tensor.data()) as Float32Array] as const),
  );
  tf.dispose(Object.values(named));
  return Object.fromEntries(entries);
}

/** Largest |a − b| over every weight, relative to max(1, |a|). */
export async function maxRelativeDifference(a: ExportedModel, b: ExportedModel): Promise<number> {
  const [wa, wb] = await Promise.all([weightsOf(a), weightsOf(b)]);
  expect(Object.keys(wb).sort()).toEqual(Object.keys(wa).sort());
  let max = 0;
  for (const name of Object.keys(wa)) {
    for (let i = 0; i < wa[name].length; i++) max = Math.max(max, Math.abs(wa[name][i] - wb[name][i]) / Math.max(1, Math.abs(wa[name][i])));
  }
  return max;
}

/** An "epoch 0" checkpoint: both runs of a comparison start from the same initial weights. */
export async function sameStart(spec: JobSpec, classes: number): Promise<TrainingStart> {
  const initial = TrainingReplica.build(spec, classes, spec.training.optimizer.learningRate);
  const [model, optimizer] = [await exportModel(initial.model), await initial.optimizer.exportState()];
  initial.dispose();
  return {
    resumeFrom: {
      checkpoint: { epoch: 0, partial: null, model, optimizer, bestEpoch: 0, bestMetric: null, epochsWithoutImprovement: 0 },
      best: null,
    },
  };
}

export function completed(outcome: TrainingOutcome) {
  if (outcome.status !== "completed") throw new Error(`training ${outcome.status}`);
  return outcome;
}
