import * as tf from "@tensorflow/tfjs";
import { KernelContext } from "../kernels/context.ts";
import type { TrainingReplica } from "../training/replica.ts";
import type { ReplicaLayout } from "./protocol.ts";

const sizeOf = (shape: number[]) => shape.reduce((a, b) => a * b, 1);

/**
 * Where a step's numbers live in the shared buffer: region 0 holds the reduced result, region
 * k + 1 replica k's own gradients; each region is the trained variables, then the statistics.
 * The tensors are split into one contiguous shard per replica, about equal in floats: replica k
 * reduces shard k (see ./reduction.ts).
 */
export function createLayout(replica: TrainingReplica, replicas: number): ReplicaLayout {
  const variableShapes = replica.variables.map((v) => v.shape);
  const statisticShapes = replica.statistics.map((s) => s.shape as number[]);
  const sizes = [...variableShapes, ...statisticShapes].map(sizeOf);
  const regionLength = sizes.reduce((n, size) => n + size, 0);
  return {
    buffer: new SharedArrayBuffer(regionLength * 4 * (replicas + 1)),
    regionLength,
    variableShapes,
    statisticShapes,
    shardBounds: shardBounds(sizes, replicas),
  };
}

/**
 * Tensor indices splitting `sizes` into `shards` contiguous runs of about equal total size:
 * shard k is [bounds[k], bounds[k + 1]). A run may be empty (fewer tensors than shards, or one
 * tensor bigger than a share).
 */
export function shardBounds(sizes: number[], shards: number): number[] {
  const total = sizes.reduce((n, size) => n + size, 0);
  const bounds = [0];
  let index = 0;
  let sum = 0;
  for (let k = 1; k < shards; k++) {
    // Close shard k − 1 at the tensor boundary nearest to k/shards of the floats.
    const target = (total * k) / shards;
    while (index < sizes.length && sum + sizes[index] / 2 < target) sum += sizes[index++];
    bounds.push(index);
  }
  bounds.push(sizes.length);
  return bounds;
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

/** The reduced result. */
export function reducedRegion(layout: ReplicaLayout): Float32Array {
  return regionAt(layout, 0);
}

/** Replica `index`'s own gradients and statistics (replica 0 included). */
export function ownRegion(layout: ReplicaLayout, index: number): Float32Array {
  return regionAt(layout, index + 1);
}

function regionAt(layout: ReplicaLayout, region: number): Float32Array {
  return new Float32Array(layout.buffer, region * layout.regionLength * 4, layout.regionLength);
}

/** Every tensor's shape in region order (variables, then statistics), with its offset in a region. */
export function tensorSlots(layout: ReplicaLayout): { shape: number[]; offset: number; length: number }[] {
  let offset = 0;
  return [...layout.variableShapes, ...layout.statisticShapes].map((shape) => {
    const slot = { shape, offset, length: sizeOf(shape) };
    offset += slot.length;
    return slot;
  });
}

/**
 * Whether `valuesOf` can read a tensor on this thread's backend without waiting: wasm and cpu
 * hold their tensors in this thread's memory. A GPU backend's (webgpu) values come back
 * asynchronously, after the device has run the queued work (`writeValues`).
 */
export function readsInPlace(): boolean {
  const backend = tf.getBackend();
  return backend === "wasm" || backend === "cpu";
}

/**
 * A float32 tensor's values: on wasm a view onto the heap (no copy; valid until the next
 * allocation), else the backend's copy (cpu; `readsInPlace` backends only).
 */
export function valuesOf(tensor: tf.Tensor): Float32Array {
  const backend = tf.getBackend();
  if (backend === "wasm") return new KernelContext(tf.backend(), backend).f32(tensor);
  return tensor.dataSync() as Float32Array;
}

/**
 * A tensor holding a copy of part of a region. wasm copies the values into its heap itself; cpu
 * (and webgpu, until it uploads them) would keep the array, which must then not be a view of the
 * shared buffer (the next step rewrites it, and a statistic keeps its tensor).
 */
export function tensorFromRegion(region: Float32Array, slot: { shape: number[]; offset: number; length: number }): tf.Tensor {
  const end = slot.offset + slot.length;
  const values = tf.getBackend() === "wasm" ? region.subarray(slot.offset, end) : region.slice(slot.offset, end);
  return tf.tensor(values, slot.shape, "float32");
}

/**
 * Writes float32 tensors into a region at their slots' offsets. wasm and cpu copy each tensor
 * straight from memory; a GPU backend flattens and concatenates them on the device and reads the
 * result back once (one round trip a step, not one a tensor).
 */
export async function writeValues(region: Float32Array, tensors: tf.Tensor[], slots: { offset: number; length: number }[]): Promise<void> {
  if (readsInPlace()) {
    tensors.forEach((tensor, i) => region.set(valuesOf(tensor), slots[i].offset));
    return;
  }
  if (tensors.length === 0) return;
  const flat = tf.tidy(() => tf.concat(tensors.map((t) => t.reshape([-1]))));
  let values: Float32Array;
  try {
    values = (await flat.data()) as Float32Array;
  } finally {
    flat.dispose();
  }
  let start = 0;
  slots.forEach((slot) => {
    region.set(values.subarray(start, start + slot.length), slot.offset);
    start += slot.length;
  });
}
