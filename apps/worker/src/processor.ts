import { DelayedError, UnrecoverableError, WaitingError, type Job as QueueJob } from "bullmq";
import type { Logger } from "pino";
import { ERROR_CODES, queuePayloads, type BackendPreference, type JobSpec, type TrainPayload } from "@trainyard/shared";
import type { Slot } from "./devices.ts";
import type { JobRecorder } from "./jobRecorder.ts";
import type { FromTrainer } from "./protocol.ts";
import { withRetry } from "./retry.ts";
import { startTrainer, type TrainerHandle } from "./trainerProcess.ts";

export interface ProcessorDeps {
  recorder: JobRecorder;
  logger: Logger;
  workerId: string;
  backend: BackendPreference;
  /** Most jobs one tenant may have running at once, over all workers. */
  tenantMaxRunning: number;
  /** Running trainers by job id, so cancel and shutdown can reach them. */
  running: Map<string, TrainerHandle>;
  /** Tells the supervisor which backend this slot trains with, for GET /v1/workers. */
  reportBackend: (backend: string) => void;
}

const TENANT_LIMIT_RETRY_MS = 5_000;

/** Runs one queued job on one slot: claim, fork the trainer, record what it reports, end honestly. */
export function createProcessor(slot: Slot, deps: ProcessorDeps) {
  const { recorder, logger, workerId, backend, running } = deps;

  return async (queueJob: QueueJob<TrainPayload>, token?: string): Promise<void> => {
    const { jobId } = queuePayloads.train.parse(queueJob.data);
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
      if (message.type === "started") {
        log.info({ backend: message.backend, adapter: message.adapter }, "training started");
        deps.reportBackend(message.backend);
        const on = message.adapter ? ` on ${message.adapter}` : "";
        await userLog(`training on ${slot.device} with the ${message.backend} backend${on} (worker ${workerId})`);
        const device = slot.gpu !== null ? slot.device : message.device;
        await withRetry(
          "recording the start",
          () => recorder.recordStarted(jobId, message.backend, device, message.classes, message.adapter),
          log,
        );
      } else if (message.type === "log") {
        log.info(message.message);
        await userLog(message.message);
      } else if (message.type === "progress") {
        // Progress is best effort: the next one replaces it.
        const status = await recorder.recordProgress(jobId, message.progress).catch(() => null);
        if (status === "cancelling") trainer.stop("cancel");
        await queueJob.updateProgress(message.progress.fraction).catch(() => undefined);
      } else if (message.type === "epoch") {
        await withRetry(`recording epoch ${message.report.metrics.epoch}`, () => recorder.recordEpoch(jobId, message.report), log);
        log.info(message.report.metrics, "epoch finished");
      }
    };
    const spec = job.spec as unknown as JobSpec;
    // A resumed attempt continues from its own checkpoint; only a first start needs the source model.
    const fineTuneFrom =
      spec.fineTune && !resumeFrom ? await recorder.loadFineTuneSource(spec.fineTune.fromJobId, spec.fineTune.checkpoint) : null;
    const datasetDir = await recorder.datasetDir(job.datasetId);
    const start = { type: "start" as const, jobId, spec, backend, resumeFrom, fineTuneFrom, datasetDir };
    const trainer = startTrainer(start, { gpu: slot.gpu, env: slot.env, onMessage });
    running.set(jobId, trainer);
    // A cancel may have arrived between the claim and the fork.
    if ((await recorder.status(jobId)) === "cancelling") trainer.stop("cancel");
    const outcome = await trainer.finished.finally(() => running.delete(jobId));

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
  };
}
