import { hostname } from "node:os";
import { Worker } from "bullmq";
import { Redis } from "ioredis";
import pino from "pino";
import { createDb, openArtifactStore, type Db } from "@trainyard/db";
import { CANCEL_CHANNEL, TRAINING_QUEUE, WORKER_TIMINGS, newId, type TrainPayload } from "@trainyard/shared";
import { cpuParallelismOf, type WorkerConfig } from "./config.ts";
import { planSlots, type Slot } from "./devices.ts";
import { createJobRecorder } from "./jobRecorder.ts";
import { LockLeases } from "./lockLeases.ts";
import { createWorkerMetrics } from "./metrics.ts";
import { startMetricsServer } from "./metricsServer.ts";
import { createProcessor, devicesOfJob } from "./jobProcessor.ts";
import { SlotBoard } from "./slotBoard.ts";
import { checkBackend, type TrainerHandle } from "./trainerProcess.ts";

interface SlotState {
  /** Job id → device of the jobs running now. */
  busy: Map<string, string>;
  /** Slots held by a data-parallel job (and each slot's own job). */
  board: SlotBoard;
  /** Device → the TF.js backend its last training child reported. */
  backends: Map<string, string>;
}

async function heartbeat(db: Db, workerId: string, slots: Slot[], { busy, backends, board }: SlotState, status: string) {
  const devices = slots.map((slot) => ({
    id: slot.device,
    name: slot.name,
    backend: backends.get(slot.device) ?? null,
    busyWithJob: board.jobOn(slot.device) ?? [...busy.entries()].find(([, device]) => device === slot.device)?.[0] ?? null,
  }));
  await db.worker.upsert({
    where: { id: workerId },
    create: { id: workerId, host: hostname(), pid: process.pid, devices, status },
    update: { devices, status, lastHeartbeatAt: new Date() },
  });
}

/** Raised at start when the configured backend cannot train on this machine: the worker takes no job. */
export class BackendCheckError extends Error {
  override name = "BackendCheckError";
}

/**
 * Loads the configured backend once per distinct slot pinning, each in a short-lived child
 * (in parallel), before the worker takes any job. Answers each slot's backend; throws one line
 * naming the backend, the slot and the reason when one cannot load.
 */
export async function checkSlots(
  config: WorkerConfig,
  slots: Slot[],
): Promise<Map<string, { backend: string; adapter: string | null; skipped: string[] }>> {
  // CPU slots are pinned alike: one check serves them all.
  const pinning = (slot: Slot) => JSON.stringify([slot.gpu, slot.env]);
  const distinct = [...new Map(slots.map((slot) => [pinning(slot), slot])).values()];
  const checks = await Promise.all(distinct.map((slot) => checkBackend(config.TRAINYARD_BACKEND, { gpu: slot.gpu, env: slot.env })));
  const byPinning = new Map<string, { backend: string; adapter: string | null; skipped: string[] }>();
  distinct.forEach((slot, i) => {
    const check = checks[i];
    if (check.type === "unavailable") {
      const where = slots.length > 1 || slot.gpu !== null ? ` on ${slot.device}` : "";
      const reason = check.message.replace(/\s*\n\s*/g, "; ");
      const named = reason.includes("TRAINYARD_BACKEND") ? reason : `TRAINYARD_BACKEND=${config.TRAINYARD_BACKEND}: ${reason}`;
      throw new BackendCheckError(`worker not started${where}: ${named}`);
    }
    byPinning.set(pinning(slot), { backend: check.backend, adapter: check.adapter, skipped: check.skipped });
  });
  return new Map(slots.map((slot) => [slot.device, byPinning.get(pinning(slot))!]));
}

/** The worker supervisor: one BullMQ worker (concurrency 1) per device slot. */
export async function startWorker(config: WorkerConfig) {
  const logger = pino({ level: config.LOG_LEVEL, base: { component: "worker" } });
  const workerId = newId("wrk");
  const plan = await planSlots(config);
  const slots = plan.slots;
  for (const warning of plan.warnings) logger.warn(warning);
  // Fail fast: a worker that cannot load its backend exits here, before it takes a job.
  const checked = await checkSlots(config, slots);
  for (const slot of slots) {
    const { backend, adapter, skipped } = checked.get(slot.device)!;
    const fields = { device: slot.device, name: slot.name, backend, adapter, pin: slot.env };
    if (config.TRAINYARD_BACKEND === "auto") logger.info({ ...fields, skipped }, `auto: ${slot.device} will train on ${backend}`);
    else logger.info(fields, `${slot.device} trains on ${backend}${adapter ? ` (${adapter})` : ""}`);
  }
  const db = createDb(config.DATABASE_URL);
  // Checkpoints go to TRAINYARD_ARTIFACTS_URL (unset: PostgreSQL).
  const recorder = createJobRecorder(db, await openArtifactStore(db, config));
  const running = new Map<string, TrainerHandle>();
  const leases = new LockLeases(config.TRAINYARD_LOCK_DURATION_MS);
  const busy = new Map<string, string>();
  const queueWorkers = new Map<string, Worker<TrainPayload>>();
  // A slot a data-parallel job holds takes no job from the queue until released.
  const board = new SlotBoard(slots, {
    pause: (device) => {
      void queueWorkers.get(device)?.pause(true);
      void beat();
    },
    resume: (device) => {
      const worker = queueWorkers.get(device);
      if (worker && !worker.closing) void worker.resume();
      void beat();
    },
  });
  const backends = new Map<string, string>([...checked].map(([device, check]) => [device, check.backend]));
  const metrics = createWorkerMetrics({
    slots: slots.length,
    busySlots: () => slots.filter((slot) => board.jobOn(slot.device) || [...busy.values()].includes(slot.device)).length,
  });
  const metricsServer = config.TRAINYARD_METRICS_PORT ? await startMetricsServer(metrics, config.TRAINYARD_METRICS_PORT) : null;

  const subscriber = new Redis(config.REDIS_URL, { maxRetriesPerRequest: null });
  subscriber.on("error", (error) => logger.warn({ err: error.message }, "redis subscriber error"));
  await subscriber.subscribe(CANCEL_CHANNEL);
  subscriber.on("message", (_channel, jobId: string) => {
    const trainer = running.get(jobId);
    if (trainer) {
      logger.info({ jobId }, "cancel requested");
      trainer.stop("cancel");
    }
  });

  const beat = () =>
    heartbeat(db, workerId, slots, { busy, backends, board }, "active").catch((error) =>
      logger.warn({ err: error.message }, "heartbeat failed"),
    );
  const workers = slots.map((slot) => {
    const processor = createProcessor(slot, {
      recorder,
      logger,
      workerId,
      backend: config.TRAINYARD_BACKEND,
      parallelism: cpuParallelismOf(config),
      tenantMaxRunning: config.TRAINYARD_TENANT_MAX_RUNNING,
      running,
      reportBackend: (backend) => backends.set(slot.device, backend),
      board,
      devicesOf: devicesOfJob(db),
      leases,
      metrics,
    });
    const worker = new Worker<TrainPayload>(
      TRAINING_QUEUE,
      async (job, token) => {
        // A heartbeat at each start and end keeps GET /v1/workers current between the periodic ones.
        busy.set(job.data.jobId, slot.device);
        void beat();
        try {
          await processor(job, token);
        } finally {
          busy.delete(job.data.jobId);
          void beat();
        }
      },
      {
        connection: new Redis(config.REDIS_URL, { maxRetriesPerRequest: null }),
        prefix: config.TRAINYARD_QUEUE_PREFIX,
        concurrency: 1,
        lockDuration: config.TRAINYARD_LOCK_DURATION_MS,
        // Renewed every quarter of the lock (BullMQ checks every half of this), so a live worker keeps it through a short stall.
        lockRenewTime: config.TRAINYARD_LOCK_DURATION_MS / 4,
        stalledInterval: config.TRAINYARD_STALLED_INTERVAL_MS,
        maxStalledCount: 3,
      },
    );
    queueWorkers.set(slot.device, worker);
    worker.on("error", (error) => logger.warn({ err: error.message, device: slot.device }, "queue worker error"));
    worker.on("locksRenewed", ({ jobIds }) => leases.renewed(jobIds));
    worker.on("lockRenewalFailed", (jobIds) => leases.failed(jobIds));
    // A job BullMQ gives up on outside the processor (stalled too often) must not stay "running".
    worker.on("failed", (job, error) => {
      if (!job || job.attemptsMade < (job.opts.attempts ?? 1)) return;
      void recorder.status(job.data.jobId).then(async (status) => {
        if (status === "running" || status === "queued") await recorder.markFailed(job.data.jobId, "TRAINER_CRASHED", error.message);
      });
    });
    return worker;
  });

  await beat();
  const heartbeatTimer = setInterval(beat, WORKER_TIMINGS.heartbeatMs);
  logger.info({ workerId, slots: slots.map((slot) => slot.device), backend: config.TRAINYARD_BACKEND, gpus: plan.source }, "worker ready");

  let closing: Promise<void> | null = null;
  const close = () =>
    (closing ??= (async () => {
      logger.info("shutting down: no new jobs, running jobs hand back at their next step");
      clearInterval(heartbeatTimer);
      const pausing = Promise.all(workers.map((worker) => worker.pause(true).catch(() => undefined)));
      for (const trainer of running.values()) trainer.stop("shutdown");
      const grace = setTimeout(() => {
        for (const trainer of running.values()) trainer.kill();
      }, config.TRAINYARD_SHUTDOWN_GRACE_MS);
      await Promise.all(workers.map((worker) => worker.close()));
      await pausing;
      clearTimeout(grace);
      leases.close();
      await metricsServer?.close();
      await db.worker.update({ where: { id: workerId }, data: { status: "stopped", lastHeartbeatAt: new Date() } }).catch(() => undefined);
      subscriber.disconnect();
      await db.$disconnect();
    })());
  return { workerId, slots, close };
}
