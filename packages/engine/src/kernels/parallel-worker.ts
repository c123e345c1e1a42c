/**
 * A kernel worker: its own TF.js wasm backend with the engine's kernels. It runs one kernel at
 * a time on inputs it reads from a SharedArrayBuffer and writes the result back, woken and
 * answered through Atomics so the calling kernel can wait synchronously (see parallel.ts).
 */
import { parentPort, receiveMessageOnPort, workerData, type MessagePort } from "node:worker_threads";
import * as tf from "@tensorflow/tfjs";
import "@tensorflow/tfjs-backend-wasm";
import { registerEngineKernels } from "./index.ts";
import { STATE, type Job } from "./parallel-protocol.ts";

const { control, port } = workerData as { control: SharedArrayBuffer; port: MessagePort };
const flags = new Int32Array(control);
let arena: SharedArrayBuffer | undefined;

async function main(): Promise<void> {
  if (!(await tf.setBackend("wasm"))) throw new Error("wasm backend unavailable in kernel worker");
  await tf.ready();
  registerEngineKernels("wasm");
  parentPort!.postMessage({ ready: true });
  for (;;) {
    // Sleep until a job is posted (waiting on whatever value is there, so no spinning while
    // the caller has not yet collected the previous result).
    let state = Atomics.load(flags, 0);
    while (state !== STATE.posted && state !== STATE.stop) {
      Atomics.wait(flags, 0, state);
      state = Atomics.load(flags, 0);
    }
    if (state === STATE.stop) return;
    const message = receiveMessageOnPort(port)?.message as Job | undefined;
    try {
      if (!message) throw new Error("kernel worker woken without a job");
      if (message.arena) arena = message.arena;
      run(message);
      Atomics.store(flags, 0, STATE.done);
    } catch (error) {
      port.postMessage({ error: error instanceof Error ? error.stack ?? error.message : String(error) });
      Atomics.store(flags, 0, STATE.failed);
    }
    Atomics.notify(flags, 0);
  }
}

function run(job: Job): void {
  const tensors: Record<string, tf.Tensor> = {};
  for (const input of job.inputs) {
    tensors[input.name] = tf.tensor(new Float32Array(arena!, input.offset * 4, input.length), input.shape, "float32");
  }
  try {
    const out = tf.engine().runKernel(job.kernel, tensors as tf.NamedTensorMap, job.attrs as tf.NamedAttrMap) as tf.Tensor;
    const values = tf.backend().readSync(out.dataId) as Float32Array;
    if (values.length !== job.output.length) throw new Error(`${job.kernel}: worker result has ${values.length} values, expected ${job.output.length}`);
    new Float32Array(arena!, job.output.offset * 4, job.output.length).set(values);
    out.dispose();
  } finally {
    for (const t of Object.values(tensors)) t.dispose();
  }
}

main().catch((error: unknown) => {
  parentPort!.postMessage({ fatal: error instanceof Error ? error.message : String(error) });
});
