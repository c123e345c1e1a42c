/**
 * The batch loader thread: its own backend and a copy of the data set; makes each step's batch
 * when asked, one step ahead, with the trainer thread's own InlineBatches (same code, same
 * seeded draws), so the batches are the ones the trainer's thread would make.
 */
import { parentPort } from "node:worker_threads";
import * as tf from "@tensorflow/tfjs";
import { initBackend } from "../backend/index.ts";
import { serveMessages } from "../workerThread.ts";
import { InlineBatches } from "./batchSource.ts";
import type { FromLoader, ToLoader } from "./loaderProtocol.ts";
import { makeSplits } from "./splits.ts";

let batches: InlineBatches | null = null;

function send(message: FromLoader, transfer: ArrayBuffer[] = []): void {
  parentPort!.postMessage(message, transfer);
}

serveMessages<ToLoader>(async (message) => {
  if (message.type === "init") {
    await initBackend(message.backend, { kernelThreads: 1 });
    batches = new InlineBatches(makeSplits(message.dataset, message.spec.training).train, message.shape, message.spec);
    send({ type: "ready" });
  } else if (message.type === "epoch") {
    let offset = 0;
    const steps = Array.from(message.lengths, (length) => message.positions.subarray(offset, (offset += length)));
    batches!.startEpoch(message.epoch, steps, message.firstStep);
  } else {
    const { x, y, labels } = await batches!.next();
    // On wasm dataSync hands out a copy, on cpu the backend's own array: copy that before transferring it.
    const values = x.dataSync() as Float32Array;
    const pixels = tf.getBackend() === "wasm" ? values : values.slice();
    const xShape = x.shape;
    tf.dispose([x, y]);
    send({ type: "batch", x: pixels, xShape, labels }, [pixels.buffer as ArrayBuffer, labels.buffer as ArrayBuffer]);
  }
});
