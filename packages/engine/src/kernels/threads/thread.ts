/**
 * A kernel worker: its own TF.js wasm backend with the engine's kernels. It runs one kernel at
 * a time on inputs it reads from a SharedArrayBuffer and writes the result back, woken and
 * answered through Atomics so the calling kernel can wait synchronously (see index.ts).
 */
import { parentPort, receiveMessageOnPort, workerData, type MessagePort } from "node:worker_threads";
import * as tf from "@tensorflow/tfjs";
import "@tensorflow/tfjs-backend-wasm";
import { registerEngineKernels } from "../index.ts";
import { CLAIM, CLAIM_BASE, STATE, type Chunk, type Job } from "./protocol.ts";

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
      port.postMessage({ error: error instanceof Error ? (error.stack ?? error.message) : String(error) });
      Atomics.store(flags, 0, STATE.failed);
    }
    Atomics.notify(flags, 0);
  }
}

/** Claims chunks from the top of the region down until the caller's claims meet ours. */
function run(job: Job): void {
  if (job.join === "sum") {
    const { offset, length } = job.chunks[0].output;
    new Float32Array(arena!, offset * 4, length).fill(0);
  }
  // Inputs every chunk shares (the filter, the bias) become tensors once per job, so that
  // XNNPACK packs the filter once (its operators are cached per filter tensor).
  const shared = new Map<number, tf.Tensor>();
  try {
    for (let r = job.chunks.length - 1; r >= 0; r--) {
      if (Atomics.compareExchange(flags, CLAIM_BASE + r, CLAIM.free, CLAIM.worker) !== CLAIM.free) break;
      runChunk(job.kernel, job.join, job.chunks[r], shared);
    }
  } finally {
    for (const t of shared.values()) t.dispose();
  }
}

function runChunk(kernel: string, join: Job["join"], chunk: Chunk, shared: Map<number, tf.Tensor>): void {
  const tensors: Record<string, tf.Tensor> = {};
  const own: tf.Tensor[] = [];
  for (const input of chunk.inputs) {
    let t = input.shared ? shared.get(input.offset) : undefined;
    if (!t) {
      t = tf.tensor(new Float32Array(arena!, input.offset * 4, input.length), input.shape, "float32");
      if (input.shared) shared.set(input.offset, t);
      else own.push(t);
    }
    tensors[input.name] = t;
  }
  try {
    const out = tf.engine().runKernel(kernel, tensors as tf.NamedTensorMap, chunk.attrs as tf.NamedAttrMap) as tf.Tensor;
    const values = tf.backend().readSync(out.dataId) as Float32Array;
    out.dispose();
    if (values.length !== chunk.output.length)
      throw new Error(`${kernel}: worker result has ${values.length} values, expected ${chunk.output.length}`);
    const target = new Float32Array(arena!, chunk.output.offset * 4, chunk.output.length);
    if (join === "sum") for (let i = 0; i < values.length; i++) target[i] += values[i];
    else target.set(values);
  } finally {
    for (const t of own) t.dispose();
  }
}

main().catch((error: unknown) => {
  parentPort!.postMessage({ fatal: error instanceof Error ? error.message : String(error) });
});
