import type { EpochReport, ExportedModel, TrainingCheckpoint } from "@trainyard/engine";
import type { BackendPreference, ErrorCode, JobResult, JobSpec, Progress } from "@trainyard/shared";

/** How a worker's CPU slots share the machine (its config's TRAINYARD_CPU_SLOTS, _REPLICAS, _KERNEL_THREADS). */
export interface CpuParallelism {
  cpuSlots: number;
  replicas: number | "auto";
  /** undefined: off (1 thread). */
  kernelThreads: number | "auto" | undefined;
}

/** How fast the child trained since its previous progress message (for the worker's /metrics). */
export interface TrainingPace {
  /** Mean wall-clock seconds per training step. */
  stepSeconds: number;
  imagesPerSecond: number;
}

/** The training child's memory when it sent a progress message. */
export interface TrainerMemory {
  /** Resident set of the child process (host memory, including its replica threads). */
  rssBytes: number;
  /** What the backend holds on its device, where it reports it (webgpu); null elsewhere. */
  deviceBytes: number | null;
}

/** Parent → trainer child. */
export type ToTrainer =
  | {
      type: "start";
      jobId: string;
      spec: JobSpec;
      backend: BackendPreference;
      parallelism: CpuParallelism;
      resumeFrom: { checkpoint: TrainingCheckpoint; best: ExportedModel | null } | null;
      fineTuneFrom: ExportedModel | null;
      /** Where an uploaded data set's decoded files are (TRAINYARD_DATA_DIR, shared with the API). */
      datasetDir: string | null;
      /**
       * A data-parallel job on several GPU slots (training.devices > 1): the Dawn adapter name of
       * each slot, this child's own first; the engine starts a replica thread on each other one.
       */
      adapters?: (string | null)[];
      /** With `adapters`: each slot's other pins (Mesa's DRI_PRIME for same-named GPUs), for its replica thread's Dawn start. */
      adapterEnv?: Record<string, string>[];
    }
  | { type: "stop"; reason: "cancel" | "shutdown" }
  /** The worker's start-up check: load the backend, compute one small op, answer, exit. */
  | { type: "check"; backend: BackendPreference };

/** Trainer child → parent. Sent with `serialization: "advanced"`, so typed arrays cross as they are. */
export type FromTrainer =
  | {
      type: "started";
      backend: string;
      device: string;
      /** webgpu: the adapter's description as Dawn gives it ("llvmpipe: Mesa …", "NVIDIA GeForce RTX 4090 …"). */
      adapter: string | null;
      classes: string[];
    }
  /** Answer to "check": the backend loaded (and why `auto` skipped others), or why it cannot. */
  | { type: "checked"; backend: string; device: string; adapter: string | null; skipped: string[] }
  | { type: "unavailable"; message: string }
  /** A line for the job's event stream (what a user watching the job should know). */
  | { type: "log"; message: string }
  /** `pace` is null in the first message of an attempt and of each epoch (nothing measured yet, or an evaluation in between). */
  | { type: "progress"; progress: Progress; pace: TrainingPace | null; memory: TrainerMemory }
  | { type: "epoch"; report: EpochReport }
  | { type: "completed"; result: JobResult; best: ExportedModel; last: ExportedModel }
  | { type: "stopped"; reason: string; checkpoint: TrainingCheckpoint | null }
  | { type: "failed"; code: ErrorCode; message: string };
