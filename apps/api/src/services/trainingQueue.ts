import { Queue } from "bullmq";
import type { Redis } from "ioredis";
import { TRAINING_QUEUE, bullPriority, queuePayloads, type TrainPayload } from "@trainyard/shared";
import { createBatcher } from "./batcher.ts";

export interface TrainingQueue {
  enqueue(jobId: string, priority: number): Promise<void>;
  /** BullMQ's state of the job ("waiting", "active", "delayed", …), "unknown" if Redis has no such job. */
  state(jobId: string): Promise<string>;
  remove(jobId: string): Promise<void>;
  close(): Promise<void>;
}

/**
 * BullMQ producer; the BullMQ job id is the Trainyard job id, so enqueueing twice is a no-op.
 * Enqueues that arrive while one is under way go to Redis together in the next pipeline.
 */
export function createTrainingQueue(
  connection: Redis,
  prefix: string,
  options: { retryBackoffMs?: number; timeoutMs?: number } = {},
): TrainingQueue {
  const queue = new Queue<TrainPayload>(TRAINING_QUEUE, { connection, prefix });
  const timeoutMs = options.timeoutMs ?? 5_000;
  // Concurrent submits share one pipeline (addBulk: one round trip to Redis).
  const add = createBatcher<{ jobId: string; priority: number }, void>(async (jobs) => {
    await withTimeout(timeoutMs, "enqueueing", () =>
      queue.addBulk(
        jobs.map(({ jobId, priority }) => ({
          name: "train",
          data: queuePayloads.train.parse({ jobId }),
          opts: {
            jobId,
            priority: bullPriority(priority),
            attempts: 3,
            backoff: { type: "exponential", delay: options.retryBackoffMs ?? 5_000 },
            removeOnComplete: { age: 7 * 24 * 3600 },
            removeOnFail: { age: 7 * 24 * 3600 },
          },
        })),
      ),
    );
    return jobs.map(() => undefined);
  });
  return {
    enqueue: (jobId, priority) => add({ jobId, priority }),
    state: (jobId) => withTimeout(timeoutMs, "reading the queue", () => queue.getJobState(jobId)),
    async remove(jobId) {
      await queue.remove(jobId);
    },
    close: () => queue.close(),
  };
}

/** Redis calls that would wait for a reconnect forever fail after `ms` instead. */
async function withTimeout<T>(ms: number, what: string, run: () => Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} timed out after ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([run(), timeout]);
  } finally {
    clearTimeout(timer);
  }
}
