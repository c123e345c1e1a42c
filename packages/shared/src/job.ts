import { z } from "zod";

export const JOB_STATUSES = ["queued", "running", "succeeded", "failed", "cancelling", "cancelled"] as const;
export type JobStatus = (typeof JOB_STATUSES)[number];
export const jobStatusSchema = z.enum(JOB_STATUSES);
export const FINISHED_STATUSES: readonly JobStatus[] = ["succeeded", "failed", "cancelled"];

export const epochMetricsSchema = z.object({
  epoch: z.number().int(),
  trainLoss: z.number(),
  trainAccuracy: z.number(),
  valLoss: z.number().nullable(),
  valAccuracy: z.number().nullable(),
  learningRate: z.number(),
  seconds: z.number(),
  samplesPerSecond: z.number(),
});
export type EpochMetrics = z.infer<typeof epochMetricsSchema>;

export const progressSchema = z.object({
  epoch: z.number().int(),
  epochs: z.number().int(),
  step: z.number().int(),
  stepsPerEpoch: z.number().int(),
  fraction: z.number(),
  etaSeconds: z.number().nullable(),
});
export type Progress = z.infer<typeof progressSchema>;

export const jobResultSchema = z.object({
  testLoss: z.number(),
  testAccuracy: z.number(),
  bestEpoch: z.number().int(),
});
export type JobResult = z.infer<typeof jobResultSchema>;

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
