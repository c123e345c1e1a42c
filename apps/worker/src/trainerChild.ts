import { DatasetUnavailableError, loadBuiltinDataset, loadUploadedDataset, type LoadedDataset } from "@trainyard/datasets";
import { deviceMemoryBytes, initBackend, replicasFor, train, TrainingError } from "@trainyard/engine";
import { ModelOptionError } from "@trainyard/models";
import type { JobSpec, Progress } from "@trainyard/shared";
import type { FromTrainer, ToTrainer, TrainingPace } from "./protocol.ts";

/**
 * The training child: one job, then exit. It only trains; the parent owns the queue lock,
 * the database and the cancel channel, so a CPU-bound step never starves lock renewal.
 */
/** Progress reaches the parent (and PostgreSQL, and SSE) at most once a second, and at each epoch's end. */
const PROGRESS_INTERVAL_MS = 1000;

let stopReason: string | null = null;
let finished = false;

function send(message: FromTrainer): Promise<void> {
  return new Promise((resolve, reject) => process.send!(message, undefined, {}, (error) => (error ? reject(error) : resolve())));
}

function loadDataset(spec: JobSpec, datasetDir: string | null): LoadedDataset {
  if ("name" in spec.dataset) return loadBuiltinDataset(spec.dataset.name);
  if (!datasetDir)
    throw new DatasetUnavailableError(`data set ${spec.dataset.id} has no files (it was deleted, or never finished processing)`);
  return loadUploadedDataset(datasetDir);
}

async function run(message: Extract<ToTrainer, { type: "start" }>): Promise<void> {
  try {
    const { cpuSlots, replicas, kernelThreads } = message.parallelism;
    const backend = await initBackend(message.backend, { cpuSlots, kernelThreads });
    const dataset = loadDataset(message.spec, message.datasetDir);
    await send({
      type: "started",
      backend: backend.backend,
      device: backend.device,
      adapter: adapterName(backend.adapter),
      classes: dataset.classes,
    });
    let lastProgressAt = 0;
    const pace = paceMeter(message.spec.training.batchSize);
    const outcome = await train(
      message.spec,
      dataset,
      {
        onProgress: (progress) => {
          const now = Date.now();
          if (now - lastProgressAt < PROGRESS_INTERVAL_MS && progress.step !== progress.stepsPerEpoch) return;
          lastProgressAt = now;
          const memory = { rssBytes: process.memoryUsage.rss(), deviceBytes: deviceMemoryBytes() };
          void send({ type: "progress", progress, pace: pace(progress, now), memory });
        },
        onEpoch: (report) => send({ type: "epoch", report }),
        stopRequested: () => stopReason,
        onLog: (line) => void send({ type: "log", message: line }),
      },
      { resumeFrom: message.resumeFrom, fineTuneFrom: message.fineTuneFrom },
      { replicas: replicasFor(backend, { replicas, cpuSlots }), adapters: message.adapters, adapterEnv: message.adapterEnv },
    );
    if (outcome.status === "stopped") await send({ type: "stopped", reason: outcome.reason, checkpoint: outcome.checkpoint });
    else await send({ type: "completed", result: outcome.result, best: outcome.best, last: outcome.last });
  } catch (error) {
    if (error instanceof TrainingError) await send({ type: "failed", code: error.code, message: error.message });
    else if (error instanceof DatasetUnavailableError) await send({ type: "failed", code: "DATASET_UNAVAILABLE", message: error.message });
    else if (error instanceof ModelOptionError)
      await send({ type: "failed", code: "INVALID_SPEC", message: `${error.path}: ${error.message}` });
    else await send({ type: "failed", code: "INTERNAL", message: (error as Error).stack ?? String(error) });
  }
  end();
}

/**
 * Steps and images per second between two progress messages of one epoch. Across an epoch's end
 * the interval includes validation, so the first message of an epoch measures nothing.
 */
function paceMeter(batchSize: number): (progress: Progress, now: number) => TrainingPace | null {
  let previous: { epoch: number; step: number; at: number } | null = null;
  return (progress, now) => {
    const last = previous;
    previous = { epoch: progress.epoch, step: progress.step, at: now };
    if (!last || last.epoch !== progress.epoch || progress.step <= last.step || now <= last.at) return null;
    const seconds = (now - last.at) / 1000;
    const steps = progress.step - last.step;
    return { stepSeconds: seconds / steps, imagesPerSecond: (steps * batchSize) / seconds };
  };
}

/**
 * Exits once the last message is on its way: a process holding Dawn (webgpu) would not end by
 * itself, and the parent waits for the exit.
 */
function end(): void {
  finished = true;
  process.disconnect();
  process.exit(0);
}

/**
 * The adapter as a job records it: Dawn's description of a Vulkan adapter is its driver
 * ("NVIDIA: 550.54", "llvmpipe: Mesa 25.0.7 …"), so the GPU's name the slot is pinned to
 * (TRAINYARD_WEBGPU_ADAPTER, set by the worker) goes first.
 */
function adapterName(description: string | undefined): string | null {
  if (!description) return null;
  const pinned = process.env.TRAINYARD_WEBGPU_ADAPTER?.trim();
  return pinned && !description.startsWith(pinned) ? `${pinned}; driver ${description}` : description;
}

/** The worker's start-up check: does the backend this worker is configured for load here? */
async function check(message: Extract<ToTrainer, { type: "check" }>): Promise<void> {
  try {
    const info = await initBackend(message.backend);
    await send({
      type: "checked",
      backend: info.backend,
      device: info.device,
      adapter: adapterName(info.adapter),
      skipped: info.skipped ?? [],
    });
  } catch (error) {
    await send({ type: "unavailable", message: error instanceof Error ? error.message : String(error) });
  }
  end();
}

process.on("message", (message: ToTrainer) => {
  if (message.type === "start") void run(message);
  else if (message.type === "check") void check(message);
  else if (message.type === "stop") stopReason = message.reason;
});
// The parent vanishing (SIGKILL of the worker) must not leave an orphan training forever.
process.on("disconnect", () => {
  if (!finished) process.exit(1);
});
