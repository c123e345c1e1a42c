/**
 * A replica thread of data-parallel training: its own TF.js backend (with the engine's kernels)
 * and its own copy of the job's network and optimizer. For each step it computes the gradients
 * of its part of the batch into its region of the shared buffer, then applies the reduced
 * gradients that replica 0 wrote, exactly as replica 0 does, so all copies stay identical.
 */
import { parentPort } from "node:worker_threads";
import * as tf from "@tensorflow/tfjs";
import { initBackend } from "../backend/index.ts";
import { loadExportedWeights } from "../modelExport.ts";
import { TrainingReplica } from "../trainingReplica.ts";
import { serveMessages } from "../workerThread.ts";
import { checkLayout, flattenInto, regionOf, tensorsFrom } from "./layout.ts";
import type { FromReplica, ReplicaLayout, ToReplica } from "./protocol.ts";

let replica: TrainingReplica | null = null;
let layout: ReplicaLayout | null = null;
let index = 0;

function send(message: FromReplica, transfer: ArrayBuffer[] = []): void {
  parentPort!.postMessage(message, transfer);
}

async function init(message: Extract<ToReplica, { type: "init" }>): Promise<void> {
  await initBackend(message.backend, { kernelThreads: 1 });
  replica = TrainingReplica.build(message.spec, message.classes, message.learningRate);
  loadExportedWeights(replica.model, message.weights);
  await replica.optimizer.importState(message.optimizerState);
  checkLayout(message.layout, replica);
  layout = message.layout;
  index = message.index;
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
  const region = regionOf(layout!, index);
  flattenInto(
    region,
    replica!.variables.map((v) => shard.grads[v.name]),
    replica!.statistics.map((s) => s.read()),
  );
  const [loss, hits] = await Promise.all([shard.loss.data(), shard.hits.data()]);
  tf.dispose([x, y, shard.loss, shard.hits, shard.grads]);
  send({ type: "gradients", count: message.count, loss: loss[0], hits: hits[0] });
}

function apply(learningRate: number): void {
  const { grads, statistics } = tensorsFrom(regionOf(layout!, 0), layout!, replica!);
  replica!.applyReduced(grads, statistics, learningRate);
}

async function weights(): Promise<void> {
  const values = await replica!.flatWeights();
  send({ type: "weights", values }, [values.buffer as ArrayBuffer]);
}

// One message at a time, in arrival order: a step's "apply" finishes before the next
// "gradients" starts, which is what keeps region 0 safe to rewrite (see group.ts).
serveMessages<ToReplica>((message) => {
  if (message.type === "init") return init(message);
  if (message.type === "gradients") return gradients(message);
  if (message.type === "apply") return apply(message.learningRate);
  return weights();
});
