import { z } from "zod";

/** The one queue contract: job name → payload. Payloads carry ids only; the spec lives in PostgreSQL. */
export const TRAINING_QUEUE = "trainyard-training";

export const queuePayloads = {
  train: z.object({ jobId: z.string().min(1) }),
} as const;
export type TrainPayload = z.infer<typeof queuePayloads.train>;

/** Redis pub/sub channel the API publishes cancel requests on; workers listen. */
export const CANCEL_CHANNEL = "trainyard:cancel";

/** BullMQ priority: 1 is highest. Trainyard's 0–100 (higher first) maps onto 1–101. */
export function bullPriority(priority: number): number {
  return 101 - priority;
}
