import { DelayedError, UnrecoverableError, WaitingError, type Job as QueueJob } from "bullmq";
import type { Logger } from "pino";
import type { Db } from "@trainyard/db";
import { ERROR_CODES, queuePayloads, type BackendPreference, type JobSpec, type TrainPayload } from "@trainyard/shared";
import { ADAPTER_ENV, type Slot } from "./devices.ts";
import type { JobRecorder } from "./jobRecorder.ts";
import type { LockLease, LockLeases } from "./lockLeases.ts";
import type { WorkerMetrics } from "./metrics.ts";
import type { CpuParallelism, FromTrainer } from "./protocol.ts";
import { withRetry } from "./retry.ts";
import type { SlotBoard } from "./slotBoard.ts";
import { startTrainer, type TrainerHandle } from "./trainerProcess.ts";

export interface ProcessorDeps {
  recorder: JobRecorder;
  logger: Logger;
  workerId: string;
  backend: BackendPreference;
  parallelism: CpuParallelism;
  /** Most jobs one tenant may have running at once, over all workers. */
  tenantMaxRunning: number;
  /** Running trainers by job id, so cancel and shutdown can reach them. */
  running: Map<string, TrainerHandle>;
  /** Tells the supervisor which backend this slot trains with, for GET /v1/workers. */
  reportBackend: (backend: string) => void;
  /** The worker's slots and the jobs on them: a data-parallel job claims extra slots here. */
  board: SlotBoard;
  /** A job's training.devices (1 for a job gone or stored before the field existed). */
  devicesOf: (jobId: string) => Promise<number>;
  /** The queue locks this worker holds: a job whose lock is lost stops training and records nothing more. */
  leases: LockLeases;
  metrics: WorkerMetrics;
}

const TENANT_LIMIT_RETRY_MS = 5_000;
/** A data-parallel job that finds too few idle GPU slots here tries again after this. */
const DEVICES_RETRY_MS = 5_000;
/** A job fetched by a slot a data-parallel job has just claimed goes back for another slot after this. */
const CLAIMED_SLOT_RETRY_MS = 500;
/** Pins that are not Vulkan's: Dawn's adapter name goes separately, CUDA's means nothing to Dawn. */
const NOT_VULKAN_PINS = new Set(["CUDA_VISIBLE_DEVICES", ADAPTER_ENV]);

/** Reads a job's training.devices from its stored spec (1 for a job gone or stored before the field existed). */
export function devicesOfJob(db: Db): (jobId: string) => Promise<number> {
  return async (jobId) => {
    const job = await db.job.findUnique({ where: { id: jobId }, select: { spec: true } });
    const devices = (job?.spec as { training?: { devices?: unknown } } | undefined)?.training?.devices;
    return typeof devices === "number" && Number.isInteger(devices) && devices > 1 ? devices : 1;
  };
}

/**
 * Runs one queued job on one slot: claim, fork the trainer, record what it reports, end honestly.
 * A job with training.devices N > 1 also holds N − 1 other idle GPU slots of this worker while
 * it runs (their Dawn adapters go to the trainer's replica threads), or goes back to the queue,
 * delayed, when fewer are idle.
 */
export function createProcessor(slot: Slot, deps: ProcessorDeps) {
  const { recorder, logger, workerId, backend, parallelism, running, board } = deps;

  return async (queueJob: QueueJob<TrainPayload>, token?: string): Promise<void> => {
    const { jobId } = queuePayloads.train.parse(queueJob.data);
    if (!board.take(slot.device, jobId)) {
      // A data-parallel job claimed this slot while its queue consumer was fetching.
      await queueJob.moveToDelayed(Date.now() + CLAIMED_SLOT_RETRY_MS, token);
      throw new DelayedError(`${slot.device} is held by a data-parallel job`);
    }
    const lease = deps.leases.hold(jobId);
    try {
      await processOnSlot(queueJob, jobId, token, lease);
    } finally {
      lease.release();
      deps.metrics.jobEnded(slot.device);
      board.release(slot.device, jobId);
    }
  };

  async function processOnSlot(
    queueJob: QueueJob<TrainPayload>,
    jobId: string,
    token: string | undefined,
    lease: LockLease,
  ): Promise<void> {
    const devices = await deps.devicesOf(jobId);
    let extras: Slot[] = [];
    if (devices > 1) {
      const claimed = slot.gpu === null ? { idle: 0, total: 0 } : board.claimExtras(slot.device, jobId, devices - 1);
      if (!("slots" in claimed)) {
        await queueJob.moveToDelayed(Date.now() + DEVICES_RETRY_MS, token);
        throw new DelayedError(
          `the job needs ${devices} GPU slots of one worker; ${slot.device} found ${claimed.idle} more idle of ${claimed.total} GPU slots`,
        );
      }
      extras = claimed.slots;
    }
    const claim = await recorder.claim(jobId, workerId, slot.device, deps.tenantMaxRunning);
    if (claim.kind === "gone") {
      logger.info({ jobId, status: claim.status }, "job is no longer runnable; skipping");
      return;
    }
    if (claim.kind === "tenant-limit") {
      await queueJob.moveToDelayed(Date.now() + TENANT_LIMIT_RETRY_MS, token);
      throw new DelayedError(`tenant ${claim.tenantId} is at its limit of ${deps.tenantMaxRunning} running jobs`);
    }
    const job = claim.job;
    const log = logger.child({ jobId, device: slot.device, attempt: job.attempts });
    const jobSlots = [slot, ...extras];
    const jobDevices = jobSlots.map((s) => s.device);
    const resumeFrom = await recorder.loadResumeState(jobId);
    // What a user watching the job should know goes to its event stream as `log` events too.
    const userLog = (message: string) => recorder.event(jobId, "log", { message }).catch(() => undefined);
    if (resumeFrom) {
      const { epoch, partial } = resumeFrom.checkpoint;
      log.info({ fromEpoch: epoch, partial: partial?.step ?? null }, "resuming");
      await userLog(
        `attempt ${job.attempts}: resuming after epoch ${epoch}${partial ? `, ${partial.step} steps into epoch ${epoch + 1}` : ""}`,
      );
    }

    const onMessage = async (message: FromTrainer) => {
      // Another worker may own the job now: what this child still says is not recorded.
      if (lease.lost()) return;
      if (message.type === "started") {
        log.info({ backend: message.backend, adapter: message.adapter }, "training started");
        deps.reportBackend(message.backend);
        const on = message.adapter ? ` on ${message.adapter}` : "";
        await userLog(`training on ${jobDevices.join(" + ")} with the ${message.backend} backend${on} (worker ${workerId})`);
        const device = slot.gpu !== null ? slot.device : message.device;
        await withRetry(
          "recording the start",
          () =>
            recorder.recordStarted(
              jobId,
              message.backend,
              device,
              message.classes,
              message.adapter,
              extras.length > 0 ? jobDevices : [device],
            ),
          log,
        );
      } else if (message.type === "log") {
        log.info(message.message);
        await userLog(message.message);
      } else if (message.type === "progress") {
        deps.metrics.progress(slot.device, message.pace, message.memory);
        // Progress is best effort: the next one replaces it.
        const status = await recorder.recordProgress(jobId, message.progress).catch(() => null);
        if (status === "cancelling") trainer.stop("cancel");
        await queueJob.updateProgress(message.progress.fraction).catch(() => undefined);
      } else if (message.type === "epoch") {
        const writeStarted = performance.now();
        await withRetry(`recording epoch ${message.report.metrics.epoch}`, () => recorder.recordEpoch(jobId, message.report), log);
        deps.metrics.checkpointWritten(slot.device, (performance.now() - writeStarted) / 1000);
        deps.metrics.epoch(slot.device, message.report.metrics.seconds);
        log.info(message.report.metrics, "epoch finished");
      }
    };
    const spec = job.spec as unknown as JobSpec;
    // A resumed attempt continues from its own checkpoint; only a first start needs the source model.
    const fineTuneFrom = spec.fineTune && !resumeFrom ? await recorder.loadFineTuneSource(job.tenantId, spec.fineTune) : null;
    const datasetDir = await recorder.datasetDir(job.datasetId);
    // One Dawn adapter per device: the trainer's own backend runs on the first, a replica thread on each other.
    const adapters = extras.length > 0 ? jobSlots.map((s) => s.env[ADAPTER_ENV] ?? null) : undefined;
    // Same-named GPUs are told apart by Mesa's DRI_PRIME (devices.ts): each replica thread's Dawn
    // start sees its own slot's, and "" (unset) where its slot has none but the child's has.
    const vulkanKeys = [...new Set(jobSlots.flatMap((s) => Object.keys(s.env)))].filter((key) => !NOT_VULKAN_PINS.has(key));
    const adapterEnv = adapters ? jobSlots.map((s) => Object.fromEntries(vulkanKeys.map((key) => [key, s.env[key] ?? ""]))) : undefined;
    const start = { type: "start" as const, jobId, spec, backend, parallelism, resumeFrom, fineTuneFrom, datasetDir, adapters, adapterEnv };
    const trainer = startTrainer(start, { gpu: slot.gpu, env: slot.env, onMessage });
    running.set(jobId, trainer);
    lease.onLost(() => {
      log.warn("lost the queue lock: stopping the training child; another worker takes the job from its last checkpoint");
      trainer.kill();
    });
    // A cancel may have arrived between the claim and the fork.
    if ((await recorder.status(jobId)) === "cancelling") trainer.stop("cancel");
    const outcome = await trainer.finished.finally(() => running.delete(jobId));
    if (lease.lost()) throw new Error(`lost the queue lock of job ${jobId}; its outcome (${outcome.type}) is not recorded`);

    if (outcome.type === "completed") {
      await withRetry("recording success", () => recorder.markSucceeded(jobId, outcome.result), log);
      log.info(outcome.result, "job succeeded");
      return;
    }
    if (outcome.type === "stopped" && outcome.reason === "cancel") {
      await withRetry("recording the cancel", () => recorder.markCancelled(jobId), log);
      log.info("job cancelled");
      return;
    }
    if (outcome.type === "stopped") {
      // Shutdown: keep the step we reached, hand the job back without spending an attempt.
      const checkpoint = outcome.checkpoint;
      if (checkpoint) await withRetry("saving the shutdown checkpoint", () => recorder.recordInterruptedCheckpoint(jobId, checkpoint), log);
      await recorder.markRequeued(jobId, "worker shut down");
      await queueJob.moveToWait(token);
      log.info({ step: checkpoint?.partial?.step ?? null }, "job handed back to the queue");
      await userLog("the worker shut down; the job went back to the queue and resumes from its checkpoint");
      throw new WaitingError();
    }
    const retryable = ERROR_CODES[outcome.code].retry;
    const attemptsLeft = (queueJob.opts.attempts ?? 1) - queueJob.attemptsMade - 1;
    log.error({ code: outcome.code, message: outcome.message, attemptsLeft }, "training failed");
    await userLog(`attempt ${job.attempts} failed: ${outcome.code} ${outcome.message.split("\n")[0]}`);
    if (!retryable || attemptsLeft <= 0) {
      await withRetry("recording the failure", () => recorder.markFailed(jobId, outcome.code, outcome.message), log);
      throw new UnrecoverableError(`${outcome.code}: ${outcome.message}`);
    }
    await recorder.markRequeued(jobId, "retrying after a fault", { code: outcome.code, message: outcome.message });
    throw new Error(`${outcome.code}: ${outcome.message}`);
  }
}
