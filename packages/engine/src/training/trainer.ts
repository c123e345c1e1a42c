import * as tf from "@tensorflow/tfjs";
import type { EpochMetrics, JobSpec, Progress } from "@trainyard/shared";
import { batchRanges, type BatchShape } from "../data/batches.ts";
import { batchSource } from "../data/batchSource.ts";
import { mixSeed, type LoadedDataset } from "@trainyard/datasets";
import { shuffledIndices } from "../data/random.ts";
import { makeSplits } from "../data/splits.ts";
import { TrainingError } from "../errors.ts";
import { evaluate } from "./evaluate.ts";
import { GpuMemoryGuard } from "../gpuMemory.ts";
import { transferWeights } from "./fineTune.ts";
import { exportModel, loadExportedWeights, type ExportedModel } from "../modelExport.ts";
import { learningRateAt } from "./optimizer.ts";
import { ReplicaGroup, splitBatch } from "../replicas/group.ts";
import type { ReplicaBackend } from "../replicas/protocol.ts";
import { TrainingReplica } from "./replica.ts";
import type { PartialEpoch, TrainerHooks, TrainingCheckpoint, TrainingOutcome, TrainingStart } from "./types.ts";

export type { EpochReport, PartialEpoch, TrainerHooks, TrainingCheckpoint, TrainingOutcome, TrainingStart } from "./types.ts";

/** Stop reasons after which training state is saved at the step boundary, to resume elsewhere. */
const CHECKPOINTING_STOPS = new Set(["shutdown"]);

/** Steps between yields to the event loop, so cancel and shutdown messages are seen within a step. */
const yieldToEventLoop = () => new Promise<void>((resolve) => setImmediate(resolve));

/** The early-stopping record a checkpoint carries: the best epoch so far and how long since. */
interface BestSoFar {
  bestEpoch: number;
  bestMetric: number | null;
  epochsWithoutImprovement: number;
}

/** Running sums of an epoch's training steps (what a resumed epoch continues from). */
interface EpochSums {
  lossSum: number;
  correct: number;
  seen: number;
}

async function checkpointOf(
  replica: TrainingReplica,
  epoch: number,
  partial: PartialEpoch | null,
  record: BestSoFar,
  model: ExportedModel,
): Promise<TrainingCheckpoint> {
  const { bestEpoch, bestMetric, epochsWithoutImprovement } = record;
  return { epoch, partial, model, optimizer: await replica.optimizer.exportState(), bestEpoch, bestMetric, epochsWithoutImprovement };
}

export async function train(
  spec: JobSpec,
  dataset: LoadedDataset,
  hooks: TrainerHooks,
  start: TrainingStart = {},
  compute: TrainingCompute = {},
): Promise<TrainingOutcome> {
  const resumeFrom = start.resumeFrom ?? null;
  const { training } = spec;
  const shape: BatchShape = { imageShape: dataset.imageShape, inputShape: spec.inputShape, classes: dataset.classes.length };
  const splits = makeSplits(dataset, training);
  if (splits.train.indices.length === 0) throw new TrainingError("DATASET_UNAVAILABLE", "the training split is empty");
  const replica = TrainingReplica.build(spec, dataset.classes.length, learningRateAt(training, 1));
  const { model, optimizer } = replica;
  if (spec.fineTune && !resumeFrom) {
    if (!start.fineTuneFrom)
      throw new TrainingError(
        "INVALID_FINE_TUNE_SOURCE",
        `${spec.fineTune.fromModel ? `model ${spec.fineTune.fromModel}` : `job ${spec.fineTune.fromJobId}`} has no model to fine-tune from`,
      );
    transferWeights(model, start.fineTuneFrom);
  }
  const stepsPerEpoch = Math.ceil(splits.train.indices.length / training.batchSize);
  const monitorValLoss = training.earlyStopping?.metric === "valLoss";

  let startEpoch = 1;
  const record: BestSoFar = { bestEpoch: 0, bestMetric: null, epochsWithoutImprovement: 0 };
  let best: ExportedModel | null = null;
  let partial: PartialEpoch | null = null;
  if (resumeFrom) {
    loadExportedWeights(model, resumeFrom.checkpoint.model);
    await optimizer.importState(resumeFrom.checkpoint.optimizer);
    const { bestEpoch, bestMetric, epochsWithoutImprovement } = resumeFrom.checkpoint;
    Object.assign(record, { bestEpoch, bestMetric, epochsWithoutImprovement });
    best = resumeFrom.best;
    startEpoch = resumeFrom.checkpoint.epoch + 1;
    partial = resumeFrom.checkpoint.partial;
  }

  const group = await startReplicas(replica, spec, dataset.classes.length, learningRateAt(training, startEpoch), compute, hooks.onLog);
  const source = await batchSource(dataset, splits.train, spec, shape, hooks.onLog, { prefetch: compute.prefetch });
  try {
    // webgpu: a batch that cannot fit fails now, and what the device reports after each step fails the job.
    const perDevice = Math.ceil(Math.min(training.batchSize, splits.train.indices.length) / (group?.size ?? 1));
    const gpuMemory = GpuMemoryGuard.forBackend(model, spec, perDevice);
    gpuMemory?.checkBatchFits();
    const pace = { startedAt: performance.now(), steps: 0 };
    let last: ExportedModel | null = resumeFrom?.checkpoint.model ?? null;
    let stoppedEarly = false;

    for (let epoch = startEpoch; epoch <= training.epochs; epoch += 1) {
      const learningRate = learningRateAt(training, epoch);
      const order = shuffledIndices(splits.train.indices.length, mixSeed(training.seed, epoch));
      // A resumed epoch skips the steps already taken; the order is the same, a function of (seed, epoch).
      const resumed = partial;
      partial = null;
      const epochStartedAt = performance.now() - (resumed?.seconds ?? 0) * 1000;
      const sums: EpochSums = { lossSum: resumed?.lossSum ?? 0, correct: resumed?.correct ?? 0, seen: resumed?.seen ?? 0 };
      const steps = [...batchRanges(order, training.batchSize)];
      let step = resumed?.step ?? 0;
      // The source replays the augmentation draws of the steps a resumed epoch skips.
      source.startEpoch(epoch, steps, step);
      while (step < steps.length) {
        const stop = hooks.stopRequested();
        if (stop) {
          if (!CHECKPOINTING_STOPS.has(stop)) return { status: "stopped", reason: stop, checkpoint: null };
          const seconds = (performance.now() - epochStartedAt) / 1000;
          const checkpoint = await checkpointOf(replica, epoch - 1, { step, ...sums, seconds }, record, await exportModel(model));
          return { status: "stopped", reason: stop, checkpoint };
        }
        const { x, y } = await source.next();
        const { loss: lossValue, hits: hitValue } = await (group ?? replica).step(x, y, learningRate);
        tf.dispose([x, y]);
        gpuMemory?.checkDevice();
        if (!Number.isFinite(lossValue)) {
          throw new TrainingError(
            "LOSS_NOT_FINITE",
            `loss became ${lossValue} at epoch ${epoch}, step ${step + 1}; lower the learning rate`,
          );
        }
        const size = steps[step].length;
        sums.lossSum += lossValue * size;
        sums.correct += hitValue;
        sums.seen += size;
        step += 1;
        pace.steps += 1;
        hooks.onProgress(progressAt(epoch, step, training.epochs, stepsPerEpoch, pace));
        await yieldToEventLoop();
      }
      const trainSeconds = (performance.now() - epochStartedAt) / 1000;
      const validation = splits.val ? await evaluate(model, splits.val, shape, Math.max(training.batchSize, 500)) : null;
      gpuMemory?.checkDevice();
      const metrics: EpochMetrics = {
        epoch,
        trainLoss: sums.lossSum / sums.seen,
        trainAccuracy: sums.correct / sums.seen,
        valLoss: validation?.loss ?? null,
        valAccuracy: validation?.accuracy ?? null,
        learningRate,
        seconds: (performance.now() - epochStartedAt) / 1000,
        samplesPerSecond: sums.seen / trainSeconds,
      };
      // Higher is better: accuracy as is, loss negated. Without validation, training accuracy decides.
      const monitored = validation ? (monitorValLoss ? -validation.loss : validation.accuracy) : metrics.trainAccuracy;
      const isBest = recordEpoch(record, epoch, monitored, training.earlyStopping?.minDelta ?? 0);
      last = await exportModel(model);
      if (isBest) best = last;
      await hooks.onEpoch({ metrics, checkpoint: await checkpointOf(replica, epoch, null, record, last), isBest });
      if (training.earlyStopping && record.epochsWithoutImprovement >= training.earlyStopping.patience) {
        stoppedEarly = true;
        break;
      }
    }
    if (!best || !last) throw new TrainingError("INTERNAL", "training finished without a checkpoint");
    // The result describes the model users download by default: the best epoch's weights.
    loadExportedWeights(model, best);
    const test = await evaluate(model, splits.test, shape, Math.max(training.batchSize, 500));
    const result = { testLoss: test.loss, testAccuracy: test.accuracy, bestEpoch: record.bestEpoch };
    return { status: "completed", result, best, last, stoppedEarly };
  } finally {
    await source.stop();
    await group?.stop();
    replica.dispose();
  }
}

/** Updates the early-stopping record with an epoch's monitored value (higher is better); true when it is the best so far. */
function recordEpoch(record: BestSoFar, epoch: number, monitored: number, minDelta: number): boolean {
  const isBest = record.bestMetric === null || monitored > record.bestMetric + minDelta;
  if (isBest) Object.assign(record, { bestMetric: monitored, bestEpoch: epoch, epochsWithoutImprovement: 0 });
  else record.epochsWithoutImprovement += 1;
  return isBest;
}

/** Where the job is after `step` steps of `epoch`, with an ETA from the steps this run has taken. */
function progressAt(
  epoch: number,
  step: number,
  epochs: number,
  stepsPerEpoch: number,
  pace: { startedAt: number; steps: number },
): Progress {
  const secondsPerStep = (performance.now() - pace.startedAt) / 1000 / pace.steps;
  const stepsLeft = (epochs - epoch) * stepsPerEpoch + (stepsPerEpoch - step);
  return {
    epoch,
    epochs,
    step,
    stepsPerEpoch,
    fraction: ((epoch - 1) * stepsPerEpoch + step) / (epochs * stepsPerEpoch),
    etaSeconds: Math.round(secondsPerStep * stepsLeft),
  };
}

/** Where a job's training steps run. */
export interface TrainingCompute {
  /**
   * Data-parallel replicas on this machine (default 1): the trainer's thread and `replicas − 1`
   * worker threads, each with its own backend, splitting every batch (./replicas/group.ts).
   * wasm and cpu only: native TensorFlow already uses every core (or its GPU) for one replica.
   */
  replicas?: number;
  /**
   * webgpu: one Dawn adapter name (TRAINYARD_WEBGPU_ADAPTER's form) per replica, for one job on
   * several GPUs. Replica 0 is the trainer's own backend, already started on `adapters[0]`; each
   * further replica is a thread with its own Dawn device on its adapter. Two or more entries on
   * the webgpu backend make a replica group (`replicas` is then ignored); null: Dawn's first
   * adapter. Other backends ignore it.
   */
  adapters?: (string | null)[];
  /**
   * webgpu, with `adapters`: per replica, process-wide variables its Vulkan driver must see when
   * its Dawn instance starts — Mesa's DRI_PRIME=pci-…! where GPUs share a name, which Dawn's
   * adapter name cannot tell apart; "" unsets one. Replica 0's are already in this process's environment.
   */
  adapterEnv?: Record<string, string>[];
  /** Make each next batch on a loader thread while the current one trains (default: when the job augments). */
  prefetch?: boolean;
}

/** Largest network (trainable parameters) trained on several replicas: ResNet-50 (23.5M) fits, VGG does not. */
const MAX_REPLICATED_PARAMETERS = 32_000_000;

async function startReplicas(
  replica: TrainingReplica,
  spec: JobSpec,
  classes: number,
  learningRate: number,
  compute: TrainingCompute,
  log: (line: string) => void = () => undefined,
): Promise<ReplicaGroup | null> {
  const backend = tf.getBackend();
  const severalAdapters = (compute.adapters?.length ?? 0) > 1;
  const onGpus = backend === "webgpu" && severalAdapters;
  if (severalAdapters && !onGpus) {
    log(
      `${compute.adapters!.length} devices for this job, but only webgpu runs a replica per device: the ${backend} backend uses none of the others`,
    );
  }
  const replicas = Math.min(onGpus ? compute.adapters!.length : (compute.replicas ?? 1), spec.training.batchSize);
  if (replicas <= 1 || (backend !== "wasm" && backend !== "cpu" && !onGpus)) return null;
  const parameters = replica.variables.reduce((n, v) => n + v.size, 0);
  if (parameters > MAX_REPLICATED_PARAMETERS) {
    // Every replica holds the network and optimizer, and the reduce buffer is ((replicas + 1) ×
    // parameters) floats; per-step costs that grow with the parameters, not the batch, would
    // also eat the gain (docs/engine.md).
    log(`one replica: ${parameters} trainable parameters is over ${MAX_REPLICATED_PARAMETERS} for data-parallel replicas`);
    return null;
  }
  try {
    const adapters = onGpus ? compute.adapters!.slice(0, replicas) : undefined;
    const adapterEnv = onGpus ? compute.adapterEnv?.slice(0, replicas) : undefined;
    const group = await ReplicaGroup.start(replica, replicas, {
      spec,
      classes,
      learningRate,
      backend: backend as ReplicaBackend,
      adapters,
      adapterEnv,
    });
    const on = adapters ? `webgpu threads on adapters ${adapters.map((a) => a ?? "(Dawn's first)").join(", ")}` : "threads";
    log(`${replicas} data-parallel replicas (${on}); each batch split ${splitBatch(spec.training.batchSize, replicas).join(" + ")}`);
    return group;
  } catch (error) {
    // Slower beats failed: train on this thread alone.
    log(`one replica: ${replicas} data-parallel replicas could not start (${(error as Error).message.split("\n")[0]})`);
    return null;
  }
}
