import type { JobSpec } from "@trainyard/shared";
import type { ExportedModel, OptimizerState } from "../modelExport.ts";
import type { EngineBackendName } from "../kernels/context.ts";

/**
 * Messages between the trainer (replica 0) and a replica thread. Gradients and the reduced
 * result travel through one SharedArrayBuffer laid out as `ReplicaLayout` says; the messages
 * carry only control, the replica's part of the batch, and scalars.
 */
export interface ReplicaLayout {
  buffer: SharedArrayBuffer;
  /** Floats per region: the trained variables', then the batch norm statistics', in replica order. */
  regionLength: number;
  /** Shape of each trained variable, in `TrainingReplica.variables` order (checked on both sides). */
  variableShapes: number[][];
  /** Shape of each statistic, in `TrainingReplica.statistics` order. */
  statisticShapes: number[][];
  /** Replica k reduces the tensors [shardBounds[k], shardBounds[k + 1]) (variables, then statistics). */
  shardBounds: number[];
}

/** Backends a replica thread can run: each thread starts its own (a webgpu one on its own adapter). */
export type ReplicaBackend = EngineBackendName | "webgpu";

export type ToReplica =
  | {
      type: "init";
      /** 1-based replica index (replica 0 is the trainer's); it reduces shard `index` (see sharedBuffer.ts). */
      index: number;
      backend: ReplicaBackend;
      /** webgpu: the Dawn adapter name (TRAINYARD_WEBGPU_ADAPTER) this replica starts its backend on; null: Dawn's first. */
      adapter: string | null;
      /**
       * webgpu: process-wide variables the Vulkan loader and Mesa's device-select layer read when
       * this replica's Dawn instance starts (DRI_PRIME=pci-…! picks one of several GPUs of the same
       * name); "" unsets one. Set only while it starts (threads start one at a time), then restored.
       */
      vulkanEnv: Record<string, string>;
      spec: JobSpec;
      classes: number;
      learningRate: number;
      weights: ExportedModel;
      optimizerState: OptimizerState;
      layout: ReplicaLayout;
    }
  /** Compute gradients for this part of the batch (count 0: nothing to do this step). */
  | { type: "gradients"; count: number; x: Float32Array | null; xShape: number[]; y: Float32Array | null; yShape: number[] }
  /** Every replica has published its gradients: reduce this replica's shard (parts' sizes by replica). */
  | { type: "reduce"; counts: number[] }
  /** Every shard is reduced: apply the reduced gradients and take the reduced statistics. */
  | { type: "apply"; learningRate: number }
  /** Send the current weights back (to check that replicas agree). */
  | { type: "weights" };

export type FromReplica =
  | { type: "ready" }
  | { type: "gradients"; count: number; loss: number; hits: number }
  | { type: "reduced" }
  | { type: "weights"; values: Float32Array }
  | { type: "failed"; message: string };
