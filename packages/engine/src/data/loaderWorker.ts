/**
 * The batch loader thread: its own backend and a copy of the data set; makes each step's batch
 * (assembled and augmented, exactly as the trainer's thread would) when asked, one step ahead.
 */
import { parentPort } from "node:worker_threads";
import * as tf from "@tensorflow/tfjs";
import { registerEngineKernels } from "../kernels/index.ts";
import { augmentationStream, makeBatch, replayDraws } from "./batchSource.ts";
import type { BatchShape } from "./batches.ts";
import type { FromLoader, ToLoader } from "./loaderProtocol.ts";
import { makeSplits, type IndexedSplit } from "./splits.ts";
import type { JobSpec } from "@trainyard/shared";

const port = parentPort!;
let split: IndexedSplit;
let spec: JobSpec;
let shape: BatchShape;
let steps: Uint32Array[] = [];
let step = 0;
let random: () => number = () => 0;

function send(message: FromLoader, transfer: ArrayBuffer[] = []): void {
  port.postMessage(message, transfer);
}

async function handle(message: ToLoader): Promise<void> {
  if (message.type === "init") {
    if (message.backend === "wasm") await import("@tensorflow/tfjs-backend-wasm");
    if (!(await tf.setBackend(message.backend))) throw new Error(`backend ${message.backend} did not start in the batch loader`);
    await tf.ready();
    registerEngineKernels(message.backend);
    ({ spec, shape } = message);
    split = makeSplits(message.dataset, spec.training).train;
    send({ type: "ready" });
  } else if (message.type === "epoch") {
    let offset = 0;
    steps = Array.from(message.lengths, (length) => message.positions.subarray(offset, (offset += length)));
    step = message.firstStep;
    random = augmentationStream(spec.training.seed, message.epoch);
    replayDraws(steps, message.firstStep, shape, spec, random);
  } else {
    const batch = makeBatch(split, steps[step++], shape, spec, random);
    // On wasm dataSync hands out a copy, on cpu the backend's own array: copy that before transferring it.
    const values = batch.x.dataSync() as Float32Array;
    const x = tf.getBackend() === "wasm" ? values : values.slice();
    const xShape = batch.x.shape;
    tf.dispose([batch.x, batch.y]);
    send({ type: "batch", x, xShape, labels: batch.labels }, [x.buffer as ArrayBuffer, batch.labels.buffer as ArrayBuffer]);
  }
}

let queue = Promise.resolve();
port.on("message", (message: ToLoader) => {
  queue = queue.then(() =>
    handle(message).catch((error: unknown) =>
      send({ type: "failed", message: error instanceof Error ? (error.stack ?? error.message) : String(error) }),
    ),
  );
});
