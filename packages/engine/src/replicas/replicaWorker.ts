/**
 * A replica thread of data-parallel training: its own TF.js backend (with the engine's kernels)
 * and its own copy of the job's network and optimizer. For each step it computes the gradients
 * of its part of the batch, publishes them, reduces its shard of every replica's gradients, then
 * applies the whole reduced update exactly as replica 0 does, so all copies stay identical
 * (see ./reduction.ts).
 */
import { parentPort } from "node:worker_threads";
import * as tf from "@tensorflow/tfjs";
import { initBackend } from "../backend/index.ts";
import { loadExportedWeights } from "../modelExport.ts";
import { TrainingReplica } from "../training/replica.ts";
import { serveMessages } from "../workerThread.ts";
import { checkLayout } from "./sharedBuffer.ts";
import type { FromReplica, ToReplica } from "./protocol.ts";
import { ShardedReduction } from "./reduction.ts";

let replica: TrainingReplica | null = null;
let reduction: ShardedReduction | null = null;
/** This step's gradients (until its shard is reduced), then its reduced shard (until applied). */
let pending: { grads: tf.NamedTensorMap; own: tf.Tensor[] } | null = null;
let mine: tf.Tensor[] = [];

function send(message: FromReplica, transfer: ArrayBuffer[] = []): void {
  parentPort!.postMessage(message, transfer);
}

/**
 * Runs `start` with these variables in the process's environment ("" unsets one), then restores
 * them. This thread shares the process's environment: the Vulkan loader and its layers read the
 * C environment when Dawn creates its instance.
 */
async function withProcessEnv<T>(vars: Record<string, string>, start: () => Promise<T>): Promise<T> {
  const saved = Object.keys(vars).map((key) => [key, process.env[key]] as const);
  for (const [key, value] of Object.entries(vars)) {
    if (value === "") delete process.env[key];
    else process.env[key] = value;
  }
  try {
    return await start();
  } finally {
    for (const [key, value] of saved) {
      if (value === undefined) delete process.env[key];
      else process.env[key] = value;
    }
  }
}

async function init(message: Extract<ToReplica, { type: "init" }>): Promise<void> {
  // A webgpu replica: its own Dawn instance (one per thread) on its own adapter.
  const env = message.adapter ? { TRAINYARD_WEBGPU_ADAPTER: message.adapter } : {};
  await withProcessEnv(message.vulkanEnv, () => initBackend(message.backend, { kernelThreads: 1, env }));
  replica = TrainingReplica.build(message.spec, message.classes, message.learningRate);
  loadExportedWeights(replica.model, message.weights);
  await replica.optimizer.importState(message.optimizerState);
  checkLayout(message.layout, replica);
  reduction = new ShardedReduction(message.layout, message.index, replica);
  send({ type: "ready" });
}

async function gradients(message: Extract<ToReplica, { type: "gradients" }>): Promise<void> {
  if (message.count === 0 || !message.x || !message.y) {
    send({ type: "gradients", count: 0, loss: 0, hits: 0 });
    return;
  }
  const x = tf.tensor(message.x, message.xShape, "float32");
  const y = tf.tensor(message.y, message.yShape, "float32");
  const shard = replica!.gradients(x, y);
  pending = { grads: shard.grads, own: reduction!.ownTensors(shard.grads) };
  const [loss, hits] = await Promise.all([shard.loss.data(), shard.hits.data(), reduction!.publish(pending.own)]);
  tf.dispose([x, y, shard.loss, shard.hits]);
  send({ type: "gradients", count: message.count, loss: loss[0], hits: hits[0] });
}

async function reduce(counts: number[]): Promise<void> {
  try {
    mine = await reduction!.reduceShard(pending?.own ?? null, counts);
  } finally {
    tf.dispose(pending?.grads ?? {});
    pending = null;
  }
  send({ type: "reduced" });
}

function apply(learningRate: number): void {
  const { grads, statistics } = reduction!.reduced(mine);
  mine = [];
  replica!.applyReduced(grads, statistics, learningRate);
}

async function weights(): Promise<void> {
  const values = await replica!.flatWeights();
  send({ type: "weights", values }, [values.buffer as ArrayBuffer]);
}

// One message at a time, in arrival order. Replica 0 sends "reduce" only when every replica has
// published, and "apply" only when every shard is reduced; a step's "apply" is handled before the
// next step's "gradients", so no region is rewritten while another replica may still read it.
serveMessages<ToReplica>((message) => {
  if (message.type === "init") return init(message);
  if (message.type === "gradients") return gradients(message);
  if (message.type === "reduce") return reduce(message.counts);
  if (message.type === "apply") return apply(message.learningRate);
  return weights();
});
