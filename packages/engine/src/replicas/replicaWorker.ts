/**
 * A replica thread of data-parallel training: its own TF.js backend (with the engine's kernels)
 * and its own copy of the job's network and optimizer. For each step it computes the gradients
 * of its part of the batch into its region of the shared buffer, then applies the reduced
 * gradients that replica 0 wrote, exactly as replica 0 does, so all copies stay identical.
 */
import { parentPort } from "node:worker_threads";
import * as tf from "@tensorflow/tfjs";
import { registerEngineKernels } from "../kernels/index.ts";
import { loadExportedWeights } from "../modelExport.ts";
import { TrainingReplica } from "../trainingReplica.ts";
import { checkLayout, flattenInto, regionOf, tensorsFrom } from "./layout.ts";
import type { FromReplica, ReplicaLayout, ToReplica } from "./protocol.ts";

const port = parentPort!;
let replica: TrainingReplica | null = null;
let layout: ReplicaLayout | null = null;
let index = 0;

function send(message: FromReplica, transfer: ArrayBuffer[] = []): void {
  port.postMessage(message, transfer);
}

async function init(message: Extract<ToReplica, { type: "init" }>): Promise<void> {
  if (message.backend === "wasm") await import("@tensorflow/tfjs-backend-wasm");
  if (!(await tf.setBackend(message.backend))) throw new Error(`backend ${message.backend} did not start in a replica thread`);
  await tf.ready();
  registerEngineKernels(message.backend);
  replica = TrainingReplica.build(message.spec, message.classes, message.learningRate);
  loadExportedWeights(replica.model, message.weights);
  await replica.optimizer.importState(message.optimizerState);
  checkLayout(message.layout, replica);
  layout = message.layout;
  index = message.index;
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
  replica!.apply(grads, learningRate);
  replica!.statistics.forEach((s, i) => s.write(statistics[i]));
  tf.dispose(statistics);
}

async function weights(): Promise<void> {
  const values = await Promise.all(replica!.model.weights.map((w) => w.read().data() as Promise<Float32Array>));
  const all = new Float32Array(values.reduce((n, v) => n + v.length, 0));
  let offset = 0;
  for (const v of values) {
    all.set(v, offset);
    offset += v.length;
  }
  send({ type: "weights", values: all }, [all.buffer]);
}

// Messages are handled one at a time in arrival order: a step's "apply" finishes before the
// next "gradients" starts, which is what keeps region 0 safe to rewrite (see group.ts).
let queue = Promise.resolve();
port.on("message", (message: ToReplica) => {
  queue = queue.then(async () => {
    try {
      if (message.type === "init") await init(message);
      else if (message.type === "gradients") await gradients(message);
      else if (message.type === "apply") apply(message.learningRate);
      else await weights();
      if (message.type === "init") send({ type: "ready" });
    } catch (error) {
      send({ type: "failed", message: error instanceof Error ? (error.stack ?? error.message) : String(error) });
    }
  });
});
