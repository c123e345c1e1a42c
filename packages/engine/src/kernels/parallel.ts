/**
 * Kernel-level data parallelism for the single-threaded wasm backend: a heavy kernel splits
 * its batch, hands the tail to a worker thread that has its own wasm backend, computes the
 * head itself, waits (Atomics.wait, synchronously, as a kernel must) and joins the parts —
 * concatenated along the batch, or summed for filter gradients. Both cores work on every
 * convolution of a training step; the layers API and the training loop see one backend.
 */
import { MessageChannel, Worker, receiveMessageOnPort, type MessagePort } from "node:worker_threads";
import * as tf from "@tensorflow/tfjs";
import { KernelContext } from "./context.ts";
import { STATE, type Job, type JobInput } from "./parallel-protocol.ts";

type TensorInfo = tf.TensorInfo;
type Attrs = Record<string, unknown>;
type Dims4 = [number, number, number, number];

interface SplitSpec {
  /** Inputs split along the batch (axis 0); the others go whole to every part. */
  batchInputs: string[];
  /** How the parts' results join. */
  join: "concat" | "sum";
  /** Attributes of a part with `n` images. */
  partAttrs?: (attrs: Attrs, n: number) => Attrs;
  /** Output shape of a part with `n` images. */
  outShape: (inputs: Record<string, TensorInfo>, attrs: Attrs, n: number) => number[];
  /** Multiply-adds (or comparisons) of the whole kernel, to weigh against the copying. */
  work: (inputs: Record<string, TensorInfo>, attrs: Attrs) => number;
  /** Cost of one unit of work relative to an XNNPACK multiply-add (plain JS loops: 10–20). */
  unitCost?: number;
}

const size = (info: TensorInfo) => tf.util.sizeFromShape(info.shape);
/** Taps × input channels of a [fh, fw, ci, co] filter shape. */
const fanIn = (filterShape: readonly number[]) => filterShape[0] * filterShape[1] * filterShape[2];
const convWork = (i: Record<string, TensorInfo>, a: Attrs) => tf.util.sizeFromShape(convOut(i, a, i.x.shape[0])) * fanIn(i.filter.shape);
const depthwiseWork = (i: Record<string, TensorInfo>, a: Attrs) =>
  tf.util.sizeFromShape(convOut(i, a, i.x.shape[0], true)) * i.filter.shape[0] * i.filter.shape[1];
const poolWork = (i: Record<string, TensorInfo>, a: Attrs) => {
  const f = a.filterSize as number | [number, number];
  return size(i.dy) * (typeof f === "number" ? f * f : f[0] * f[1]);
};

const withBatch = (shape: readonly number[], n: number) => [n, ...shape.slice(1)];

function convOut(inputs: Record<string, TensorInfo>, attrs: Attrs, n: number, depthwise = false): number[] {
  const { x, filter } = inputs;
  const info = tf.backend_util.computeConv2DInfo(
    withBatch(x.shape, n) as Dims4,
    filter.shape as Dims4,
    attrs.strides as [number, number],
    (attrs.dilations as [number, number] | undefined) ?? 1,
    attrs.pad as "valid",
    attrs.dimRoundingMode as "floor" | undefined,
    depthwise,
    attrs.dataFormat === "NCHW" ? "channelsFirst" : "channelsLast",
  );
  return info.outShape;
}

const inputShapeAttr = (attrs: Attrs, n: number): Attrs => ({ ...attrs, inputShape: withBatch(attrs.inputShape as number[], n) });

export const SPLITTABLE: Record<string, SplitSpec> = {
  Conv2D: { batchInputs: ["x"], join: "concat", outShape: (i, a, n) => convOut(i, a, n), work: convWork },
  FusedConv2D: { batchInputs: ["x"], join: "concat", outShape: (i, a, n) => convOut(i, a, n), work: convWork },
  DepthwiseConv2dNative: { batchInputs: ["x"], join: "concat", outShape: (i, a, n) => convOut(i, a, n, true), work: depthwiseWork },
  FusedDepthwiseConv2D: { batchInputs: ["x"], join: "concat", outShape: (i, a, n) => convOut(i, a, n, true), work: depthwiseWork },
  Conv2DBackpropInput: {
    batchInputs: ["dy"],
    join: "concat",
    partAttrs: inputShapeAttr,
    outShape: (_i, a, n) => withBatch(a.inputShape as number[], n),
    work: (i) => size(i.dy) * fanIn(i.filter.shape),
  },
  DepthwiseConv2dNativeBackpropInput: {
    unitCost: 10,
    batchInputs: ["dy"],
    join: "concat",
    partAttrs: inputShapeAttr,
    outShape: (_i, a, n) => withBatch(a.inputShape as number[], n),
    work: (i) => size(i.dy) * i.filter.shape[0] * i.filter.shape[1],
  },
  Conv2DBackpropFilter: {
    batchInputs: ["x", "dy"],
    join: "sum",
    outShape: (_i, a) => a.filterShape as number[],
    work: (i, a) => size(i.dy) * fanIn(a.filterShape as number[]),
  },
  DepthwiseConv2dNativeBackpropFilter: {
    unitCost: 10,
    batchInputs: ["x", "dy"],
    join: "sum",
    outShape: (_i, a) => a.filterShape as number[],
    work: (i, a) => size(i.dy) * (a.filterShape as number[])[0] * (a.filterShape as number[])[1],
  },
  MaxPoolGrad: { unitCost: 20, batchInputs: ["dy", "input", "output"], join: "concat", outShape: (i, _a, n) => withBatch(i.input.shape, n), work: poolWork },
  AvgPoolGrad: { unitCost: 20, batchInputs: ["dy", "input"], join: "concat", outShape: (i, _a, n) => withBatch(i.input.shape, n), work: poolWork },
};

/**
 * A kernel is split when its work is large (waking a worker and joining costs tens of µs) and
 * large against the floats copied to and from the worker (a small-map filter gradient with a
 * big filter is mostly copying).
 */
const MIN_WORK = 4_000_000;
const MIN_WORK_PER_COPIED = 24;

class KernelWorker {
  private readonly flags: Int32Array;
  private arena = new SharedArrayBuffer(4 << 20);
  private arenaSent = false;
  broken = false;

  constructor(
    readonly worker: Worker,
    private readonly port: MessagePort,
    control: SharedArrayBuffer,
  ) {
    this.flags = new Int32Array(control);
  }

  /** Copies the job's inputs into the arena and wakes the worker. */
  post(kernel: string, attrs: Attrs, inputs: { name: string; shape: number[]; values: Float32Array }[], outLength: number): void {
    let total = outLength;
    for (const input of inputs) total += input.values.length;
    let arena: SharedArrayBuffer | undefined;
    if (total * 4 > this.arena.byteLength || !this.arenaSent) {
      if (total * 4 > this.arena.byteLength) this.arena = new SharedArrayBuffer(Math.ceil((total * 4 * 1.25) / 65536) * 65536);
      arena = this.arena;
      this.arenaSent = true;
    }
    const view = new Float32Array(this.arena);
    const jobInputs: JobInput[] = [];
    let offset = 0;
    for (const input of inputs) {
      view.set(input.values, offset);
      jobInputs.push({ name: input.name, shape: input.shape, offset, length: input.values.length });
      offset += input.values.length;
    }
    const job: Job = { kernel, attrs, inputs: jobInputs, output: { offset, length: outLength }, arena };
    this.port.postMessage(job);
    Atomics.store(this.flags, 0, STATE.posted);
    Atomics.notify(this.flags, 0);
  }

  /** Waits for the posted job; returns its result (a view into the arena, valid until the next post). */
  wait(outOffset: number, outLength: number): Float32Array {
    while (Atomics.load(this.flags, 0) === STATE.posted) Atomics.wait(this.flags, 0, STATE.posted);
    const state = Atomics.load(this.flags, 0);
    Atomics.store(this.flags, 0, STATE.idle);
    if (state !== STATE.done) {
      const reply = receiveMessageOnPort(this.port)?.message as { error?: string } | undefined;
      this.broken = true;
      throw new Error(`kernel worker failed: ${reply?.error ?? `state ${state}`}`);
    }
    return new Float32Array(this.arena, outOffset * 4, outLength);
  }

  stop(): Promise<number> {
    Atomics.store(this.flags, 0, STATE.stop);
    Atomics.notify(this.flags, 0);
    return this.worker.terminate();
  }
}

let workers: KernelWorker[] = [];
let splits = 0;

/** How many kernel calls were split so far (tests, profiling). */
export function splitCount(): number {
  return splits;
}

function bootstrap(entry: URL): string {
  if (entry.pathname.endsWith(".js") || entry.pathname.endsWith(".mjs")) return `import(${JSON.stringify(entry.href)});`;
  const tsxApi = import.meta.resolve("tsx/esm/api");
  return `(async () => { const { register } = await import(${JSON.stringify(tsxApi)}); register(); await import(${JSON.stringify(entry.href)}); })().catch((e) => { require("node:worker_threads").parentPort.postMessage({ fatal: String(e && e.stack || e) }); });`;
}

/** Number of threads kernels run on (1 = no workers). */
export function kernelThreads(): number {
  return workers.filter((w) => !w.broken).length + 1;
}

/**
 * Starts `threads − 1` kernel workers (wasm backend only). Resolves to the number of threads
 * in use; falls back to 1 if a worker cannot start.
 */
export async function startKernelWorkers(threads: number): Promise<number> {
  await stopKernelWorkers();
  const wanted = Math.max(0, Math.floor(threads) - 1);
  const url = new URL("./parallel-worker.ts", import.meta.url);
  const started: KernelWorker[] = [];
  try {
    for (let i = 0; i < wanted; i++) {
      const control = new SharedArrayBuffer(8);
      const { port1, port2 } = new MessageChannel();
      // The worker's entry is TypeScript: an eval'd bootstrap registers tsx's loader in the
      // worker first (a .ts entry URL is resolved before --import hooks run).
      const worker = new Worker(bootstrap(url), { eval: true, workerData: { control, port: port2 }, transferList: [port2] });
      const kw = new KernelWorker(worker, port1, control);
      started.push(kw);
      await new Promise<void>((resolve, reject) => {
        worker.once("message", (m: { ready?: boolean; fatal?: string }) => (m.ready ? resolve() : reject(new Error(m.fatal))));
        worker.once("error", reject);
        worker.once("exit", (code) => reject(new Error(`kernel worker exited with ${code}`)));
      });
      worker.removeAllListeners("exit");
      worker.on("error", () => (kw.broken = true));
      worker.on("exit", () => (kw.broken = true));
      worker.unref();
    }
  } catch (error) {
    await Promise.all(started.map((w) => w.stop()));
    process.emitWarning(`trainyard: kernel worker threads unavailable, using one thread (${error instanceof Error ? error.message : String(error)})`);
    return 1;
  }
  workers = started;
  return kernelThreads();
}

export async function stopKernelWorkers(): Promise<void> {
  const all = workers;
  workers = [];
  await Promise.all(all.map((w) => w.stop()));
}

function copyRows(ctx: KernelContext, info: TensorInfo, start: number, count: number): TensorInfo {
  const per = tf.util.sizeFromShape(info.shape) / info.shape[0];
  const part = ctx.alloc(withBatch(info.shape, count));
  ctx.f32(part).set(ctx.f32(info).subarray(start * per, (start + count) * per));
  return part;
}

/**
 * Runs `local` on a share of the batch here and the rest on the kernel workers, or returns
 * null when the kernel should simply run here (no workers, small work, batch of one).
 */
export function runSplit(
  ctx: KernelContext,
  kernelName: string,
  inputs: Record<string, TensorInfo>,
  attrs: Attrs,
  local: (inputs: Record<string, TensorInfo>, attrs: Attrs) => TensorInfo,
): TensorInfo | null {
  const spec = SPLITTABLE[kernelName];
  const active = workers.filter((w) => !w.broken);
  if (!spec || active.length === 0 || ctx.name !== "wasm") return null;
  const first = inputs[spec.batchInputs[0]];
  const batch = first.shape[0];
  if (batch < 2 || attrs.dataFormat === "NCHW") return null;
  for (const name of Object.keys(inputs)) if (inputs[name] && inputs[name].dtype !== "float32") return null;
  const fullOut = spec.outShape(inputs, attrs, batch);
  const work = spec.work(inputs, attrs) * (spec.unitCost ?? 1);
  // Floats through the arena for the worker's half, plus the whole output to join.
  let copied = tf.util.sizeFromShape(fullOut) * (spec.join === "sum" ? 2 : 1);
  for (const name of spec.batchInputs) copied += tf.util.sizeFromShape(inputs[name].shape) / 2;
  if (work < MIN_WORK || work < MIN_WORK_PER_COPIED * copied) return null;

  splits++;
  // Parts: the calling thread takes a share like every worker.
  const parts = Math.min(batch, active.length + 1);
  const sizes = Array.from({ length: parts }, (_, i) => Math.floor(batch / parts) + (i < batch % parts ? 1 : 0));
  const starts = sizes.map((_, i) => sizes.slice(0, i).reduce((a, b) => a + b, 0));
  const posted: { worker: KernelWorker; outOffset: number; outLength: number; start: number; n: number }[] = [];
  for (let p = 1; p < parts; p++) {
    const worker = active[p - 1];
    const n = sizes[p];
    const jobInputs: { name: string; shape: number[]; values: Float32Array }[] = [];
    for (const [name, info] of Object.entries(inputs)) {
      if (!info) continue;
      if (spec.batchInputs.includes(name)) {
        const per = tf.util.sizeFromShape(info.shape) / info.shape[0];
        jobInputs.push({ name, shape: withBatch(info.shape, n), values: ctx.f32(info).subarray(starts[p] * per, (starts[p] + n) * per) });
      } else {
        jobInputs.push({ name, shape: info.shape.slice(), values: ctx.f32(info) });
      }
    }
    const outLength = tf.util.sizeFromShape(spec.outShape(inputs, attrs, n));
    let offset = 0;
    for (const i of jobInputs) offset += i.values.length;
    worker.post(kernelName, spec.partAttrs ? spec.partAttrs(attrs, n) : attrs, jobInputs, outLength);
    posted.push({ worker, outOffset: offset, outLength, start: starts[p], n });
  }

  // Our share.
  const n0 = sizes[0];
  const mine: Record<string, TensorInfo> = {};
  const copies: TensorInfo[] = [];
  for (const [name, info] of Object.entries(inputs)) {
    if (!info) continue;
    if (spec.batchInputs.includes(name)) {
      mine[name] = copyRows(ctx, info, 0, n0);
      copies.push(mine[name]);
    } else mine[name] = info;
  }
  let own: TensorInfo;
  try {
    own = local(mine, spec.partAttrs ? spec.partAttrs(attrs, n0) : attrs);
  } finally {
    ctx.free(...copies);
  }

  // Join.
  const out = ctx.alloc(fullOut);
  const ownLength = tf.util.sizeFromShape(own.shape);
  {
    const ov = ctx.f32(out);
    ov.set(ctx.f32(own).subarray(0, ownLength));
  }
  ctx.free(own);
  let failure: unknown;
  for (const job of posted) {
    try {
      const result = job.worker.wait(job.outOffset, job.outLength);
      const ov = ctx.f32(out);
      if (spec.join === "sum") {
        for (let i = 0; i < ov.length; i++) ov[i] += result[i];
      } else {
        ov.set(result, (ownLength / n0) * job.start);
      }
    } catch (error) {
      failure = error;
    }
  }
  if (failure) {
    // A worker died: compute everything here from now on.
    ctx.free(out);
    process.emitWarning(`trainyard: ${failure instanceof Error ? failure.message : String(failure)}; continuing on one thread`);
    return local(inputs, attrs);
  }
  return out;
}
