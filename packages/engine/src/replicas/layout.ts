import * as tf from "@tensorflow/tfjs";
import { KernelContext } from "../kernels/context.ts";
import type { TrainingReplica } from "../trainingReplica.ts";
import type { ReplicaLayout } from "./protocol.ts";

const sizeOf = (shape: number[]) => shape.reduce((a, b) => a * b, 1);

/** One region per replica (region 0: the reduced result), each the trained variables then the statistics. */
export function createLayout(replica: TrainingReplica, replicas: number): ReplicaLayout {
  const variableShapes = replica.variables.map((v) => v.shape);
  const statisticShapes = replica.statistics.map((s) => s.shape as number[]);
  const regionLength = [...variableShapes, ...statisticShapes].reduce((n, shape) => n + sizeOf(shape), 0);
  return { buffer: new SharedArrayBuffer(regionLength * 4 * replicas), regionLength, variableShapes, statisticShapes };
}

/** Fails when a replica's network does not line up with the layout (a different build of the spec). */
export function checkLayout(layout: ReplicaLayout, replica: TrainingReplica): void {
  const same = (a: number[][], b: number[][]) => a.length === b.length && a.every((shape, i) => shape.join("x") === b[i].join("x"));
  if (
    !same(
      layout.variableShapes,
      replica.variables.map((v) => v.shape),
    )
  ) {
    throw new Error("replica's trained variables differ from replica 0's (shapes or order)");
  }
  if (
    !same(
      layout.statisticShapes,
      replica.statistics.map((s) => s.shape as number[]),
    )
  ) {
    throw new Error("replica's batch norm statistics differ from replica 0's");
  }
}

export function regionOf(layout: ReplicaLayout, index: number): Float32Array {
  return new Float32Array(layout.buffer, index * layout.regionLength * 4, layout.regionLength);
}

/**
 * A float32 tensor's values: on wasm a view onto the heap (no copy; valid until the next
 * allocation), else the backend's copy.
 */
export function valuesOf(tensor: tf.Tensor): Float32Array {
  const backend = tf.getBackend();
  if (backend === "wasm") return new KernelContext(tf.backend(), backend).f32(tensor);
  return tensor.dataSync() as Float32Array;
}

/** Writes tensors' values one after another into a region. */
export function flattenInto(region: Float32Array, ...groups: tf.Tensor[][]): void {
  let offset = 0;
  for (const group of groups) {
    for (const tensor of group) {
      const values = valuesOf(tensor);
      region.set(values, offset);
      offset += values.length;
    }
  }
}

/** A region as tensors: gradients named after this replica's variables, and the statistics in order. */
export function tensorsFrom(
  region: Float32Array,
  layout: ReplicaLayout,
  replica: TrainingReplica,
): { grads: tf.NamedTensorMap; statistics: tf.Tensor[] } {
  // wasm copies a tensor's values into its heap; cpu keeps the array itself, which must then not
  // be a view of the shared region (the next step rewrites it, and a statistic keeps its tensor).
  const copies = tf.getBackend() !== "wasm";
  let offset = 0;
  const take = (shape: number[]) => {
    const length = sizeOf(shape);
    const values = copies ? region.slice(offset, offset + length) : region.subarray(offset, offset + length);
    const tensor = tf.tensor(values, shape, "float32");
    offset += length;
    return tensor;
  };
  const grads: tf.NamedTensorMap = {};
  replica.variables.forEach((v, i) => (grads[v.name] = take(layout.variableShapes[i])));
  return { grads, statistics: layout.statisticShapes.map(take) };
}
