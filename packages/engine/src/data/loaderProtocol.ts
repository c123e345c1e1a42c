import type { JobSpec } from "@trainyard/shared";
import type { BatchShape } from "./batches.ts";
import type { LoadedDataset } from "@trainyard/datasets";
import type { EngineBackendName } from "../kernels/context.ts";

/** Trainer → batch loader thread. */
export type ToLoader =
  | { type: "init"; dataset: LoadedDataset; spec: JobSpec; shape: BatchShape; backend: EngineBackendName }
  /** The epoch's steps: `lengths[i]` positions each, one after another in `positions`. */
  | { type: "epoch"; epoch: number; positions: Uint32Array; lengths: Uint32Array; firstStep: number }
  /** Make the epoch's next batch. */
  | { type: "next" };

/** Batch loader thread → trainer. */
export type FromLoader =
  { type: "ready" } | { type: "batch"; x: Float32Array; xShape: number[]; labels: Int32Array } | { type: "failed"; message: string };
