export const JOB_STATUSES = ["queued", "running", "succeeded", "failed", "cancelling", "cancelled"] as const;
export type JobStatus = (typeof JOB_STATUSES)[number];
export const FINISHED_STATUSES: readonly JobStatus[] = ["succeeded", "failed", "cancelled"];

/** One epoch's record: what the trainer reports and the API stores (JobMetric) and shows. */
export interface EpochMetrics {
  epoch: number;
  trainLoss: number;
  trainAccuracy: number;
  valLoss: number | null;
  valAccuracy: number | null;
  learningRate: number;
  seconds: number;
  samplesPerSecond: number;
}

/** Where a running job is: sent by the trainer at most once a second, shown as `progress`. */
export interface Progress {
  epoch: number;
  epochs: number;
  step: number;
  stepsPerEpoch: number;
  fraction: number;
  etaSeconds: number | null;
}

/** A finished job's test-set result. */
export interface JobResult {
  testLoss: number;
  testAccuracy: number;
  bestEpoch: number;
}

/** Failure codes a job can end with; user errors are not retried. */
export const ERROR_CODES = {
  LOSS_NOT_FINITE: { retry: false },
  INVALID_SPEC: { retry: false },
  DATASET_UNAVAILABLE: { retry: false },
  INVALID_FINE_TUNE_SOURCE: { retry: false },
  OUT_OF_MEMORY: { retry: false },
  /** The batch does not fit the GPU: the same batch size would fail again. */
  GPU_OUT_OF_MEMORY: { retry: false },
  TRAINER_CRASHED: { retry: true },
  INTERNAL: { retry: true },
} as const;
export type ErrorCode = keyof typeof ERROR_CODES;
