import type { FastifyBaseLogger } from "fastify";
import type { Db } from "@trainyard/db";
import { WORKER_TIMINGS } from "@trainyard/shared";
import { createPeriodicTask } from "./periodic.ts";
import type { TrainingQueue } from "./trainingQueue.ts";

/**
 * PostgreSQL is the record of what should run; Redis only the means. This puts back every
 * `queued` job Redis does not know (Redis restarted empty, or an enqueue was lost) and every
 * `running` job whose worker stopped heartbeating and whose queue entry is gone.
 */
/** Queued jobs read and checked against Redis per step. */
const RECONCILE_PAGE = 1000;

export function createQueueReconciler({ db, queue, logger }: { db: Db; queue: TrainingQueue; logger: FastifyBaseLogger }) {
  async function reconcile(): Promise<{ requeued: string[] }> {
    const requeued: string[] = [];
    // Queued jobs a page at a time, each page checked against Redis in one pipeline: a backlog of
    // 100,000 queued jobs costs a hundred round trips, not 100,000, and is never all in memory.
    for (let after = ""; ;) {
      const page = await db.job.findMany({
        where: { status: "queued", id: { gt: after } },
        select: { id: true, priority: true },
        orderBy: { id: "asc" },
        take: RECONCILE_PAGE,
      });
      if (page.length === 0) break;
      after = page.at(-1)!.id;
      const missing = new Set(await queue.missing(page.map((job) => job.id)));
      for (const job of page.filter((candidate) => missing.has(candidate.id))) {
        await queue.enqueue(job.id, job.priority);
        requeued.push(job.id);
      }
      if (page.length < RECONCILE_PAGE) break;
    }
    const lostBefore = new Date(Date.now() - WORKER_TIMINGS.lostAfterMs);
    const live = await db.worker.findMany({ where: { lastHeartbeatAt: { gte: lostBefore }, status: "active" }, select: { id: true } });
    const orphans = await db.job.findMany({
      where: {
        status: { in: ["running", "cancelling"] },
        OR: [{ workerId: null }, { workerId: { notIn: live.map((worker) => worker.id) } }],
      },
      select: { id: true, priority: true, status: true },
    });
    const lostToRedis = new Set(await queue.missing(orphans.map((job) => job.id)));
    for (const job of orphans) {
      if (!lostToRedis.has(job.id)) continue;
      if (job.status === "cancelling") {
        await db.job.update({ where: { id: job.id }, data: { status: "cancelled", finishedAt: new Date() } });
        continue;
      }
      await db.job.updateMany({ where: { id: job.id, status: "running" }, data: { status: "queued", workerId: null } });
      await queue.enqueue(job.id, job.priority);
      requeued.push(job.id);
    }
    if (requeued.length > 0) logger.warn({ jobs: requeued }, "re-enqueued jobs the queue had lost");
    return { requeued };
  }

  const task = createPeriodicTask(reconcile, (error) => logger.warn({ err: error.message }, "queue reconciliation failed; will retry"));
  return {
    reconcile,
    /** Reconciles now and every `intervalMs`; answers a function that reconciles at once (on a Redis reconnect). */
    start(intervalMs: number) {
      task.start(intervalMs);
      return task.runNow;
    },
    stop: task.stop,
  };
}
