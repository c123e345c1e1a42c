/**
 * Data-parallel training on one machine: the trainer's own network is replica 0, and each
 * further replica is a worker thread with its own backend and an identical copy of the network
 * and optimizer (the design of the notes' multi-GPU training: one replica per device, the batch
 * split between them, gradients all-reduced, every replica applying the same update).
 *
 * A step: replica 0 sends each thread its part of the batch and computes its own part's
 * gradients; every replica publishes its gradients to the shared buffer, reduces one shard of
 * them — the mean over the whole batch, each part weighted by its size — and, once all shards
 * are reduced, applies the whole reduced update with the same optimizer code (./reduction.ts).
 * All replicas apply the same floats, so their weights stay bitwise equal. Batch norm's moving
 * statistics are averaged the same way (each replica normalizes with its own part's batch
 * statistics, as PyTorch's DataParallel does without SyncBatchNorm).
 */
import { SHARE_ENV, type Worker } from "node:worker_threads";
import * as tf from "@tensorflow/tfjs";
import type { JobSpec } from "@trainyard/shared";
import { exportModel } from "../modelExport.ts";
import type { TrainingReplica } from "../training/replica.ts";
import { startWorkerThread, ThreadChannel } from "../workerThread.ts";
import { createLayout } from "./sharedBuffer.ts";
import type { FromReplica, ReplicaBackend, ReplicaLayout, ToReplica } from "./protocol.ts";
import { ShardedReduction } from "./reduction.ts";

export interface ReplicaStep {
  /** Mean loss over the whole batch. */
  loss: number;
  /** Correct predictions in the whole batch. */
  hits: number;
}

/** Sizes of the batch's parts: as equal as possible, the larger ones first. */
export function splitBatch(batch: number, replicas: number): number[] {
  const base = Math.floor(batch / replicas);
  return Array.from({ length: replicas }, (_, r) => base + (r < batch % replicas ? 1 : 0));
}

class ReplicaThread extends ThreadChannel<ToReplica, FromReplica> {
  constructor(
    readonly index: number,
    worker: Worker,
  ) {
    super(worker, `replica ${index}`);
  }
}

export class ReplicaGroup {
  private readonly reduction: ShardedReduction;

  private constructor(
    private readonly replica: TrainingReplica,
    private readonly threads: ReplicaThread[],
    layout: ReplicaLayout,
  ) {
    this.reduction = new ShardedReduction(layout, 0, replica);
  }

  /**
   * Starts `replicas − 1` threads with copies of `replica` (its current weights and optimizer
   * state). On webgpu, thread k starts its own Dawn instance and device on `adapters[k]` (Dawn's
   * adapter name; replica 0, this thread, already runs on `adapters[0]`), with `adapterEnv[k]`
   * in the process's environment while it starts; webgpu threads start one at a time, so that
   * each sees its own. Fails if a thread cannot start; the threads started are stopped.
   */
  static async start(
    replica: TrainingReplica,
    replicas: number,
    setup: {
      spec: JobSpec;
      classes: number;
      learningRate: number;
      backend: ReplicaBackend;
      adapters?: (string | null)[];
      adapterEnv?: Record<string, string>[];
    },
  ): Promise<ReplicaGroup> {
    const { adapters, adapterEnv, ...common } = setup;
    const gpu = setup.backend === "webgpu";
    const layout = createLayout(replica, replicas);
    const [weights, optimizerState] = await Promise.all([exportModel(replica.model), replica.optimizer.exportState()]);
    const threads: ReplicaThread[] = [];
    const ready: Promise<unknown>[] = [];
    try {
      for (let index = 1; index < replicas; index++) {
        // A webgpu thread shares the process's environment, for the variables its Vulkan driver reads.
        const worker = startWorkerThread(new URL("./replicaWorker.ts", import.meta.url), gpu ? { env: SHARE_ENV } : {});
        const thread = new ReplicaThread(index, worker);
        threads.push(thread);
        ready.push(thread.expect("ready"));
        thread.post({
          type: "init",
          index,
          ...common,
          adapter: adapters?.[index] ?? null,
          vulkanEnv: adapterEnv?.[index] ?? {},
          weights,
          optimizerState,
          layout,
        });
        if (gpu) await ready[ready.length - 1];
      }
      await Promise.all(ready);
    } catch (error) {
      await Promise.all(threads.map((t) => t.worker.terminate()));
      throw error;
    }
    return new ReplicaGroup(replica, threads, layout);
  }

  /** Replicas in the group, replica 0 included. */
  get size(): number {
    return this.threads.length + 1;
  }

  /** One training step on a batch split over the replicas. `x` and `y` stay the caller's. */
  async step(x: tf.Tensor, y: tf.Tensor, learningRate: number): Promise<ReplicaStep> {
    const batch = x.shape[0];
    const counts = splitBatch(batch, this.size);
    // Read asynchronously: a GPU backend has no synchronous read in Node.
    const [xValues, yValues] = (await Promise.all([x.data(), y.data()])) as Float32Array[];
    const xPer = xValues.length / batch;
    const yPer = yValues.length / batch;
    let start = counts[0];
    for (const thread of this.threads) {
      const count = counts[thread.index];
      const part = (values: Float32Array, per: number) => (count === 0 ? null : values.slice(start * per, (start + count) * per));
      const xPart = part(xValues, xPer);
      const yPart = part(yValues, yPer);
      thread.post(
        { type: "gradients", count, x: xPart, xShape: [count, ...x.shape.slice(1)], y: yPart, yShape: [count, ...y.shape.slice(1)] },
        [xPart, yPart].flatMap((p) => (p ? [p.buffer as ArrayBuffer] : [])),
      );
      start += count;
    }
    const answers = Promise.all(this.threads.map((t) => t.expect("gradients")));
    // Replica 0's part, on this thread, while the threads compute theirs.
    const x0 = x.slice(0, counts[0]);
    const y0 = y.slice(0, counts[0]);
    const own = this.replica.gradients(x0, y0);
    tf.dispose([x0, y0]);
    const ownTensors = this.reduction.ownTensors(own.grads);
    const [ownLoss, ownHits] = await Promise.all([own.loss.data(), own.hits.data(), this.reduction.publish(ownTensors)]);
    tf.dispose([own.loss, own.hits]);
    let others: Extract<FromReplica, { type: "gradients" }>[];
    try {
      others = await answers;
    } catch (error) {
      tf.dispose(own.grads);
      throw error;
    }
    // Every replica has published: each reduces its shard.
    const reducedAnswers = Promise.all(this.threads.map((t) => t.expect("reduced")));
    for (const thread of this.threads) thread.post({ type: "reduce", counts });
    let mine: tf.Tensor[];
    try {
      mine = await this.reduction.reduceShard(ownTensors, counts);
    } finally {
      tf.dispose(own.grads);
    }
    try {
      await reducedAnswers;
    } catch (error) {
      tf.dispose(mine);
      throw error;
    }
    for (const thread of this.threads) thread.post({ type: "apply", learningRate });
    const reduced = this.reduction.reduced(mine);
    this.replica.applyReduced(reduced.grads, reduced.statistics, learningRate);
    const lossSum = ownLoss[0] * counts[0] + others.reduce((sum, a) => sum + a.loss * a.count, 0);
    return { loss: lossSum / batch, hits: ownHits[0] + others.reduce((sum, a) => sum + a.hits, 0) };
  }

  /** Every replica's weights (replica 0 first), flattened in `model.weights` order: to check they agree. */
  async weights(): Promise<Float32Array[]> {
    const flat = await this.replica.flatWeights();
    const answers = this.threads.map((t) => t.expect("weights"));
    for (const thread of this.threads) thread.post({ type: "weights" });
    return [flat, ...(await Promise.all(answers)).map((a) => a.values)];
  }

  async stop(): Promise<void> {
    await Promise.all(this.threads.map((t) => t.worker.terminate()));
  }
}
