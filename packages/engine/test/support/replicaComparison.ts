/** What the replica tests compare: two runs of one spec from the same start, weight by weight. */
import * as tf from "@tensorflow/tfjs";
import type { JobSpec } from "@trainyard/shared";
import { loadBuiltinDataset } from "@trainyard/datasets";
import { expect } from "vitest";
import type { ExportedModel, TrainerHooks, TrainingOutcome } from "../../src/index.ts";
import { decodeExportedWeights, exportModel } from "../../src/modelExport.ts";
import type { ReplicaGroup } from "../../src/replicas/group.ts";
import { TrainingReplica } from "../../src/training/replica.ts";
import type { TrainingStart } from "../../src/training/types.ts";

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

/**
 * Steps a replica group on the first `count` images of synthetic-shapes for each count (a last
 * count of 1 leaves the other replicas without samples: they must still reduce their shards and
 * apply the update), checking each step's loss and hits and that no step after the first (which
 * creates the optimizer's slots) leaves tensors behind; then that every replica holds exactly
 * replica 0's weights.
 */
export async function stepAndExpectInSync(group: ReplicaGroup, counts: number[]): Promise<void> {
  const data = loadBuiltinDataset("synthetic-shapes");
  let tensorsAfterFirstStep = 0;
  for (const count of counts) {
    const x = tf.tensor4d(new Float32Array(data.train.images.subarray(0, count * 784)), [count, 28, 28, 1]);
    const y = tf.tidy(() => tf.oneHot(tf.tensor1d(Int32Array.from(data.train.labels.subarray(0, count)), "int32"), 10).toFloat());
    const step = await group.step(x, y, 0.1);
    expect(Number.isFinite(step.loss)).toBe(true);
    expect(step.hits).toBeGreaterThanOrEqual(0);
    expect(step.hits).toBeLessThanOrEqual(count);
    tf.dispose([x, y]);
    if (tensorsAfterFirstStep === 0) tensorsAfterFirstStep = tf.memory().numTensors;
    else expect(tf.memory().numTensors).toBe(tensorsAfterFirstStep);
  }
  const [own, ...others] = await group.weights();
  expect(others).toHaveLength(group.size - 1);
  for (const other of others) {
    expect(other.length).toBe(own.length);
    let differing = 0;
    for (let i = 0; i < own.length; i++) if (own[i] !== other[i]) differing += 1;
    expect(differing).toBe(0);
  }
}
