import { Queue } from "bullmq";
import type { Redis } from "ioredis";
import { TRAINING_QUEUE, bullPriority, queuePayloads, type TrainPayload } from "@trainyard/shared";
import { createBatcher } from "./batcher.ts";

export interface TrainingQueue {
  enqueue(jobId: string, priority: number): Promise<void>;
  /** Of these job ids, the ones Redis holds no job for (one pipeline per 1,000 ids), in their order. */
  missing(jobIds: string[]): Promise<string[]>;
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
    // A job Redis knows has its hash at prefix:queue:id (enqueueing such an id again is a no-op anyway).
    missing: (jobIds) =>
      withTimeout(timeoutMs, "reading the queue", async () => {
        const missing: string[] = [];
        for (let start = 0; start < jobIds.length; start += 1000) {
          const chunk = jobIds.slice(start, start + 1000);
          const pipeline = connection.pipeline();
          for (const jobId of chunk) pipeline.exists(queue.toKey(jobId));
          const answers = (await pipeline.exec()) ?? [];
          chunk.forEach((jobId, i) => {
            const [error, exists] = answers[i] ?? [new Error("no answer")];
            if (error) throw error;
            if (exists === 0) missing.push(jobId);
          });
        }
        return missing;
      }),
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
