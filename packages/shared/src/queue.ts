import { z } from "zod";

/** The one queue contract: job name → payload. Payloads carry ids only; the spec lives in PostgreSQL. */
export const TRAINING_QUEUE = "trainyard-training";

export const queuePayloads = {
  train: z.object({ jobId: z.string().min(1) }),
} as const;
export type TrainPayload = z.infer<typeof queuePayloads.train>;

/** Redis pub/sub channel the API publishes cancel requests on; workers listen. */
export const CANCEL_CHANNEL = "trainyard:cancel";

/**
 * How workers show they are alive, and when they count as gone. A dead worker's job is handed on
 * within LOCK_DURATION + STALLED_CHECK after its last lock renewal, and so within
 * HEARTBEAT + LOCK_DURATION + STALLED_CHECK (12 s) of its last heartbeat: bounded by 15 s with
 * a margin for the next worker's fetch and claim.
 */
export const WORKER_TIMINGS = {
  /** Each worker writes its Worker row this often. */
  heartbeatMs: 3_000,
  /**
   * A queue lock not renewed for this long has lapsed: the job's worker is taken for dead. Workers
   * renew every quarter of it (2 s), so a live one may stall ~6 s before it loses a lock.
   */
  lockDurationMs: 8_000,
  /** How often each queue consumer looks for lapsed locks and puts their jobs back. */
  stalledCheckMs: 1_000,
  /** A worker silent this long is reported `lost`, and the API may re-enqueue its running jobs that Redis has forgotten. */
  lostAfterMs: 15_000,
} as const;

/** BullMQ priority: 1 is highest. Trainyard's 0–100 (higher first) maps onto 1–101. */
export function bullPriority(priority: number): number {
  return 101 - priority;
}
