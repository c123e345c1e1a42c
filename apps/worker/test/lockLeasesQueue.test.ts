import { Queue, Worker } from "bullmq";
import { Redis } from "ioredis";
import { afterEach, describe, expect, it } from "vitest";
import { TEST_REDIS_URL, uniqueQueuePrefix } from "../../../tests/helpers/database.ts";
import { deleteQueueKeys } from "../../../tests/helpers/redis.ts";
import { LockLeases } from "../src/lockLeases.ts";

/**
 * The leases wired to a real BullMQ worker on the local Redis, as worker.ts wires them: a live
 * worker keeps its lease through a job several locks long; a lock taken away from it (its key
 * gone, as when the job has been handed on) is noticed at the next renewal.
 */
const LOCK_MS = 1_600;
const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0)) await cleanup();
});

async function leasedWorker(run: (jobId: string, lease: ReturnType<LockLeases["hold"]>, prefix: string) => Promise<void>) {
  const prefix = uniqueQueuePrefix();
  const leases = new LockLeases(LOCK_MS);
  const queue = new Queue("leases", { connection: new Redis(TEST_REDIS_URL), prefix });
  const finished = new Promise<void>((resolve, reject) => {
    const worker = new Worker(
      "leases",
      async (job) => {
        const lease = leases.hold(job.id!);
        try {
          await run(job.id!, lease, prefix);
          resolve();
        } catch (error) {
          reject(error as Error);
        } finally {
          lease.release();
        }
      },
      {
        connection: new Redis(TEST_REDIS_URL, { maxRetriesPerRequest: null }),
        prefix,
        lockDuration: LOCK_MS,
        lockRenewTime: LOCK_MS / 4,
        stalledInterval: 60_000,
      },
    );
    worker.on("locksRenewed", ({ jobIds }) => leases.renewed(jobIds));
    worker.on("lockRenewalFailed", (jobIds) => leases.failed(jobIds));
    worker.on("error", () => undefined);
    cleanups.push(async () => {
      await worker.close(true);
      await queue.close();
      leases.close();
      await deleteQueueKeys(prefix);
    });
  });
  await queue.add("job", {}, { jobId: "job_1" });
  return finished;
}

describe("lock leases on a real BullMQ worker", () => {
  it("hold through a job that runs for three lock durations", async () => {
    let stops = 0;
    let lostAtEnd = true;
    await leasedWorker(async (_jobId, lease) => {
      lease.onLost(() => (stops += 1));
      await new Promise((resolve) => setTimeout(resolve, LOCK_MS * 3));
      lostAtEnd = lease.lost();
    });
    expect(stops).toBe(0);
    expect(lostAtEnd).toBe(false);
  });

  it("are lost, and the training stopped, soon after the job's lock is taken away", async () => {
    let stoppedAfterMs: number | null = null;
    await leasedWorker(async (jobId, lease, prefix) => {
      const redis = new Redis(TEST_REDIS_URL);
      const takenAt = Date.now();
      const stopped = new Promise<void>((resolve) =>
        lease.onLost(() => {
          stoppedAfterMs = Date.now() - takenAt;
          resolve();
        }),
      );
      await redis.del(`${prefix}:leases:${jobId}:lock`);
      await redis.quit();
      await Promise.race([stopped, new Promise((resolve) => setTimeout(resolve, LOCK_MS * 3))]);
    });
    expect(stoppedAfterMs).not.toBeNull();
    // Within the lease's margin of the lock's duration: before another worker's stalled check could take the job.
    expect(stoppedAfterMs!).toBeLessThan(LOCK_MS);
  });
});
