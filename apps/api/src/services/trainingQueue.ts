import { Queue } from "bullmq";
import type { Redis } from "ioredis";
import { TRAINING_QUEUE, bullPriority, queuePayloads, type TrainPayload } from "@trainyard/shared";

export interface TrainingQueue {
  enqueue(jobId: string, priority: number): Promise<void>;
  remove(jobId: string): Promise<void>;
  close(): Promise<void>;
}

/** BullMQ producer; the BullMQ job id is the Trainyard job id, so enqueueing twice is a no-op. */
export function createTrainingQueue(connection: Redis, prefix: string): TrainingQueue {
  const queue = new Queue<TrainPayload>(TRAINING_QUEUE, { connection, prefix });
  return {
    async enqueue(jobId, priority) {
      await queue.add("train", queuePayloads.train.parse({ jobId }), {
        jobId,
        priority: bullPriority(priority),
        attempts: 3,
        backoff: { type: "exponential", delay: 5_000 },
        removeOnComplete: { age: 7 * 24 * 3600 },
        removeOnFail: { age: 7 * 24 * 3600 },
      });
    },
    async remove(jobId) {
      await queue.remove(jobId);
    },
    close: () => queue.close(),
  };
}
