/**
 * Where the trainer's batches come from. Without augmentation a batch is a memcpy and one
 * conversion (~1 ms for 256 images at 28×28), made on the trainer's thread when needed. With
 * augmentation (~20 ms per 256 images at 28×28, ~165 ms at 96×96) a loader thread makes the
 * next batch while the current one trains — as PyTorch's DataLoader workers do. Both give the
 * same batches: the same code (assembleBatch, augmentBatch) on the same kind of backend, the
 * augmentation draws taken in step order from the same seeded stream, skipped steps of a
 * resumed epoch replaying their draws.
 */
import * as tf from "@tensorflow/tfjs";
import type { JobSpec } from "@trainyard/shared";
import { startWorkerThread, ThreadChannel } from "../workerThread.ts";
import { AUGMENT_SALT, augmentBatch, hasAugmentation, planAugmentation } from "./augment.ts";
import { assembleBatch, type BatchShape } from "./batches.ts";
import { mixSeed, seededRandom, type LoadedDataset } from "@trainyard/datasets";
import type { IndexedSplit } from "./splits.ts";
import type { FromLoader, ToLoader } from "./loaderProtocol.ts";
import type { EngineBackendName } from "../kernels/context.ts";

export interface Batch {
  x: tf.Tensor4D;
  y: tf.Tensor2D;
}

export interface BatchSource {
  /** Starts an epoch: its steps' positions in order, the first `firstStep` of them already trained (their draws are replayed). */
  startEpoch(epoch: number, steps: Uint32Array[], firstStep: number): void;
  /** The next step's batch; the caller disposes it. */
  next(): Promise<Batch>;
  stop(): Promise<void>;
}

/** The augmentation's random stream for an epoch: a function of (seed, epoch) only. */
function augmentationStream(seed: number, epoch: number): () => number {
  return seededRandom(mixSeed(mixSeed(seed, epoch), AUGMENT_SALT));
}

/** Makes a step's batch: assembled, then augmented with the epoch's stream when the job augments. */
function makeBatch(
  split: IndexedSplit,
  positions: Uint32Array,
  shape: BatchShape,
  spec: JobSpec,
  random: (() => number) | null,
): Batch & { labels: Int32Array } {
  const { x, y, labels } = assembleBatch(split, positions, shape);
  if (!random) return { x, y, labels };
  const augmented = augmentBatch(x, spec.augmentation, random);
  x.dispose();
  return { x: augmented, y, labels };
}

/** Takes the draws the skipped steps took, so the steps after them see the same augmentations. */
function replayDraws(steps: Uint32Array[], count: number, shape: BatchShape, spec: JobSpec, random: () => number): void {
  for (let i = 0; i < count; i++) planAugmentation([steps[i].length, ...shape.inputShape], spec.augmentation, random);
}

/** Batches made on the trainer's thread when asked for. */
export class InlineBatches implements BatchSource {
  private steps: Uint32Array[] = [];
  private step = 0;
  private random: (() => number) | null = null;

  constructor(
    private readonly split: IndexedSplit,
    private readonly shape: BatchShape,
    private readonly spec: JobSpec,
  ) {}

  startEpoch(epoch: number, steps: Uint32Array[], firstStep: number): void {
    this.steps = steps;
    this.step = firstStep;
    this.random = hasAugmentation(this.spec.augmentation) ? augmentationStream(this.spec.training.seed, epoch) : null;
    if (this.random) replayDraws(steps, firstStep, this.shape, this.spec, this.random);
  }

  /** Also the batch's labels (the loader thread sends those instead of the one-hot tensor). */
  async next(): Promise<Batch & { labels: Int32Array }> {
    return makeBatch(this.split, this.steps[this.step++], this.shape, this.spec, this.random);
  }

  async stop(): Promise<void> {}
}

/** Batches made one step ahead on a loader thread with its own backend. */
class PrefetchedBatches implements BatchSource {
  private pending: Promise<Extract<FromLoader, { type: "batch" }>> | null = null;
  private steps = 0;
  private step = 0;

  private constructor(
    private readonly channel: ThreadChannel<ToLoader, FromLoader>,
    private readonly classes: number,
  ) {}

  static async start(dataset: LoadedDataset, spec: JobSpec, shape: BatchShape, backend: EngineBackendName): Promise<PrefetchedBatches> {
    const channel = new ThreadChannel<ToLoader, FromLoader>(
      startWorkerThread(new URL("./loaderWorker.ts", import.meta.url), {}),
      "the batch loader",
    );
    try {
      const ready = channel.expect("ready");
      channel.post({ type: "init", dataset, spec, shape, backend });
      await ready;
    } catch (error) {
      await channel.worker.terminate();
      throw error;
    }
    return new PrefetchedBatches(channel, shape.classes);
  }

  private request(): void {
    const answer = this.channel.expect("batch");
    // Rejections surface when the batch is awaited in next().
    answer.catch(() => undefined);
    this.pending = answer;
    this.channel.post({ type: "next" });
  }

  startEpoch(epoch: number, steps: Uint32Array[], firstStep: number): void {
    // A batch made ahead for an epoch left unfinished is dropped when it arrives (answers come in order).
    this.pending = null;
    this.steps = steps.length;
    this.step = firstStep;
    // The steps are views into the epoch's order; sent as one array (a view would send its whole buffer).
    const positions = new Uint32Array(steps.reduce((n, s) => n + s.length, 0));
    steps.reduce((offset, s) => (positions.set(s, offset), offset + s.length), 0);
    const lengths = Uint32Array.from(steps, (s) => s.length);
    this.channel.post({ type: "epoch", epoch, positions, lengths, firstStep });
    if (this.step < this.steps) this.request();
  }

  async next(): Promise<Batch> {
    if (!this.pending) throw new Error("no batch left in this epoch");
    const message = await this.pending;
    this.pending = null;
    this.step += 1;
    // The loader makes the following batch while this one trains.
    if (this.step < this.steps) this.request();
    return tf.tidy(() => ({
      x: tf.tensor4d(message.x, message.xShape as [number, number, number, number]),
      y: tf.oneHot(tf.tensor1d(message.labels, "int32"), this.classes).toFloat() as tf.Tensor2D,
    }));
  }

  async stop(): Promise<void> {
    this.pending = null;
    await this.channel.worker.terminate();
  }
}

/**
 * A loader thread when the job augments (or `prefetch` asks for one), else batches on the
 * trainer's thread. The thread runs wasm with the engine's kernels (cpu if the trainer runs cpu);
 * next to native TensorFlow it is wasm too, so a GPU's steps overlap the CPU's augmentation. If
 * the thread cannot start, the batches are made inline and `log` says why.
 */
export async function batchSource(
  dataset: LoadedDataset,
  split: IndexedSplit,
  spec: JobSpec,
  shape: BatchShape,
  log: (line: string) => void = () => undefined,
  options: { prefetch?: boolean } = {},
): Promise<BatchSource> {
  if (!(options.prefetch ?? hasAugmentation(spec.augmentation))) return new InlineBatches(split, shape, spec);
  try {
    const source = await PrefetchedBatches.start(dataset, spec, shape, tf.getBackend() === "cpu" ? "cpu" : "wasm");
    log("batches made one step ahead on a loader thread (augmentation off the training thread)");
    return source;
  } catch (error) {
    log(`batches made on the training thread: the loader thread could not start (${(error as Error).message.split("\n")[0]})`);
    return new InlineBatches(split, shape, spec);
  }
}
