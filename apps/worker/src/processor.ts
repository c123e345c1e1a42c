import { UnrecoverableError, type Job as QueueJob } from "bullmq";
import type { Logger } from "pino";
import { ERROR_CODES, queuePayloads, type TrainPayload } from "@trainyard/shared";
import type { JobSpec } from "@trainyard/shared";
import type { Slot } from "./devices.ts";
import type { JobRecorder } from "./jobRecorder.ts";
import { startTrainer, type TrainerHandle } from "./trainerProcess.ts";

export interface ProcessorDeps {
  recorder: JobRecorder;
  logger: Logger;
  workerId: string;
  backend: "auto" | "tensorflow" | "wasm" | "cpu";
  /** Running trainers by job id, so cancel and shutdown can reach them. */
  running: Map<string, TrainerHandle>;
}

/** Runs one queued job on one slot: claim, fork the trainer, record what it reports, end honestly. */
export function createProcessor(slot: Slot, { recorder, logger, workerId, backend, running }: ProcessorDeps) {
  return async (queueJob: QueueJob<TrainPayload>): Promise<void> => {
    const { jobId } = queuePayloads.train.parse(queueJob.data);
    const job = await recorder.markRunning(jobId, workerId, slot.device);
    if (!job) {
      logger.info({ jobId }, "job is no longer runnable (cancelled before it started); skipping");
      return;
    }
    const log = logger.child({ jobId, device: slot.device, attempt: job.attempts });
    const resumeFrom = await recorder.loadResumeState(jobId);
    if (resumeFrom) log.info({ fromEpoch: resumeFrom.checkpoint.epoch }, "resuming from checkpoint");
    let lastProgressWrite = 0;
    const trainer = startTrainer(
      { type: "start", jobId, spec: job.spec as unknown as JobSpec, backend, resumeFrom },
      {
        gpu: slot.gpu,
        onMessage: async (message) => {
          switch (message.type) {
            case "started":
              log.info({ backend: message.backend }, "training started");
              await recorder.recordStarted(jobId, message.backend, slot.gpu !== null ? slot.device : message.device, message.classes);
              break;
            case "progress":
              if (Date.now() - lastProgressWrite >= 1000 || message.progress.step === message.progress.stepsPerEpoch) {
                lastProgressWrite = Date.now();
                await recorder.recordProgress(jobId, message.progress);
                await queueJob.updateProgress(message.progress.fraction).catch(() => undefined);
              }
              break;
            case "epoch":
              await recorder.recordEpoch(jobId, message.report);
              log.info(message.report.metrics, "epoch finished");
              break;
            default:
              break;
          }
        },
      },
    );
    running.set(jobId, trainer);
    // Cancel may have arrived between the claim and the fork.
    if ((await recorder.status(jobId)) === "cancelling") trainer.stop("cancel");
    const outcome = await trainer.finished.finally(() => running.delete(jobId));

    if (outcome.type === "completed") {
      await recorder.markSucceeded(jobId, outcome.result);
      log.info(outcome.result, "job succeeded");
      return;
    }
    if (outcome.type === "stopped") {
      if (outcome.reason === "cancel") {
        await recorder.markCancelled(jobId);
        log.info("job cancelled");
        return;
      }
      // Shutdown: hand the job back; the next worker resumes from the checkpoint.
      await recorder.markRetrying(jobId, "TRAINER_CRASHED", "worker shut down; the job was handed back to the queue");
      throw new Error("worker shutting down; job handed back");
    }
    const retryable = ERROR_CODES[outcome.code].retry;
    const attemptsLeft = (queueJob.opts.attempts ?? 1) - queueJob.attemptsMade - 1;
    log.error({ code: outcome.code, message: outcome.message, attemptsLeft }, "training failed");
    if (!retryable || attemptsLeft <= 0) {
      await recorder.markFailed(jobId, outcome.code, outcome.message);
      throw new UnrecoverableError(`${outcome.code}: ${outcome.message}`);
    }
    await recorder.markRetrying(jobId, outcome.code, outcome.message);
    throw new Error(`${outcome.code}: ${outcome.message}`);
  };
}
