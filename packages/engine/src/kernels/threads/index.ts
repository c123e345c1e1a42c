/**
 * Kernel-level data parallelism for the single-threaded wasm backend: a heavy kernel splits
 * its batch, hands the tail to a worker thread that has its own wasm backend, computes the
 * head itself, waits (Atomics.wait, synchronously, as a kernel must) and joins the parts —
 * concatenated along the batch, or summed for filter gradients. Both cores work on every
 * convolution of a training step; the layers API and the training loop see one backend.
 */
import { MessageChannel } from "node:worker_threads";
import * as tf from "@tensorflow/tfjs";
import { startWorkerThread } from "../../workerThread.ts";
import { KernelContext } from "../context.ts";
import { MIN_WORK, MIN_WORK_PER_COPIED, SPLITTABLE, size, withBatch, type SplitSpec } from "./costModel.ts";
import { KernelWorker, type RegionInput } from "./kernelWorker.ts";
import { CLAIM, CLAIM_BASE, MAX_CHUNKS } from "./protocol.ts";

type TensorInfo = tf.TensorInfo;
type Attrs = Record<string, unknown>;

let workers: KernelWorker[] = [];
let splits = 0;
let splitting = false;
let workerChunks = 0;
let stealing = true;

/** Chunks computed by workers so far (tests, profiling). */
export function workerChunkCount(): number {
  return workerChunks;
}

/** Tests: whether the calling thread may take chunks of a worker's region (default true). */
export function setStealing(enabled: boolean): void {
  stealing = enabled;
}

/** How many kernel calls were split so far (tests, profiling). */
export function splitCount(): number {
  return splits;
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
  const wanted = Math.max(0, Math.floor(threads) - 1);
  if (wanted === workers.length && workers.every((w) => !w.broken)) return kernelThreads();
  await stopKernelWorkers();
  const url = new URL("./thread.ts", import.meta.url);
  const started: KernelWorker[] = [];
  try {
    for (let i = 0; i < wanted; i++) {
      const control = new SharedArrayBuffer(4 * (CLAIM_BASE + MAX_CHUNKS));
      const { port1, port2 } = new MessageChannel();
      const worker = startWorkerThread(url, { workerData: { control, port: port2 }, transferList: [port2] });
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
    process.emitWarning(
      `trainyard: kernel worker threads unavailable, using one thread (${error instanceof Error ? error.message : String(error)})`,
    );
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
  // Not re-entrant: a kernel computed from inside a split (a deferred input) runs here.
  if (!spec || active.length === 0 || ctx.name !== "wasm" || splitting) return null;
  const first = inputs[spec.batchInputs[0]];
  const batch = first.shape[0];
  if (batch < 2 || attrs.dataFormat === "NCHW") return null;
  for (const name of Object.keys(inputs)) if (inputs[name] && inputs[name].dtype !== "float32") return null;
  const fullOut = spec.outShape(inputs, attrs, batch);
  const work = spec.work(inputs, attrs) * (spec.unitCost ?? 1);
  if (work < MIN_WORK) return null;
  // Floats through the arena for the workers' share, plus the whole output to join; and per
  // chunk, the whole (not split) inputs again: each chunk's kernel call flips, transposes or
  // packs the filter anew, which for a 3×3×512×512 filter on a 2×2 map outweighs the work.
  const threads = active.length + 1;
  let copied = tf.util.sizeFromShape(fullOut) * (spec.join === "sum" ? 2 : 1);
  let whole = 0;
  for (const [name, info] of Object.entries(inputs)) {
    if (!info) continue;
    if (spec.batchInputs.includes(name)) copied += (size(info) * (threads - 1)) / threads;
    else whole += size(info);
  }
  // Per chunk, the calling thread's kernels flip/transpose/pack the filter anew (2–3 passes);
  // a filter gradient's every chunk yields a whole filter to zero, fill and add up.
  const perChunk = 3 * whole + (spec.join === "sum" ? 3 * tf.util.sizeFromShape(fullOut) : 0);
  let chunks = Math.min(batch, threads * 4);
  while (chunks >= threads && work < MIN_WORK_PER_COPIED * (copied + chunks * perChunk + threads * whole)) chunks -= threads;
  if (chunks < threads) return null;

  splits++;
  splitting = true;
  try {
    return split(ctx, kernelName, spec, active, batch, fullOut, chunks, inputs, attrs, local);
  } finally {
    splitting = false;
  }
}

function split(
  ctx: KernelContext,
  kernelName: string,
  spec: SplitSpec,
  active: KernelWorker[],
  batch: number,
  fullOut: number[],
  chunkCount: number,
  inputs: Record<string, TensorInfo>,
  attrs: Attrs,
  local: (inputs: Record<string, TensorInfo>, attrs: Attrs) => TensorInfo,
): TensorInfo {
  // Chunks: the calling thread owns the first region and claims upwards through the workers'
  // regions too; each worker claims its own region from the top down. A worker that is slow to
  // start (a busy machine) just ends up with fewer chunks.
  const threads = active.length + 1;
  const perRegion = Math.max(1, Math.min(MAX_CHUNKS, Math.floor(chunkCount / threads)));
  const nChunks = Math.min(batch, threads * perRegion);
  const rows = Array.from({ length: nChunks }, (_, i) => Math.floor(batch / nChunks) + (i < batch % nChunks ? 1 : 0));
  const startRow = rows.map((_, i) => rows.slice(0, i).reduce((a, b) => a + b, 0));
  const regionOf = Array.from({ length: nChunks }, (_, i) => Math.min(threads - 1, Math.floor((i * threads) / nChunks)));
  const regions: { worker?: KernelWorker; chunks: number[] }[] = Array.from({ length: threads }, (_, t) => ({
    worker: t === 0 ? undefined : active[t - 1],
    chunks: regionOf.map((r, i) => (r === t ? i : -1)).filter((i) => i >= 0),
  }));
  const partAttrs = (n: number) => (spec.partAttrs ? spec.partAttrs(attrs, n) : attrs);
  const outPerImage = tf.util.sizeFromShape(fullOut) / batch;
  const chunkOutLength = (n: number) => (spec.join === "sum" ? tf.util.sizeFromShape(fullOut) : outPerImage * n);

  const posted: { region: (typeof regions)[number]; outputs: { offset: number; length: number }[] }[] = [];
  for (const region of regions.slice(1)) {
    if (region.chunks.length === 0) continue;
    const first = startRow[region.chunks[0]];
    const count = region.chunks.reduce((a, c) => a + rows[c], 0);
    const regionInputs: RegionInput[] = [];
    for (const [name, info] of Object.entries(inputs)) {
      if (!info) continue;
      const batchInput = spec.batchInputs.includes(name);
      const per = batchInput ? size(info) / info.shape[0] : 0;
      regionInputs.push({
        name,
        shape: info.shape.slice(),
        batch: batchInput,
        values: batchInput ? ctx.f32(info).subarray(first * per, (first + count) * per) : ctx.f32(info),
      });
    }
    const chunkRows = region.chunks.map((c) => rows[c]);
    const outputs = region.worker!.post(
      kernelName,
      spec.join,
      regionInputs,
      chunkRows,
      chunkRows.map(partAttrs),
      chunkRows.map(chunkOutLength),
    );
    posted.push({ region, outputs });
  }

  const out = ctx.zeros(fullOut);
  const runHere = (chunk: number) => {
    const n = rows[chunk];
    const mine: Record<string, TensorInfo> = {};
    const copies: TensorInfo[] = [];
    for (const [name, info] of Object.entries(inputs)) {
      if (!info) continue;
      if (spec.batchInputs.includes(name)) {
        mine[name] = copyRows(ctx, info, startRow[chunk], n);
        copies.push(mine[name]);
      } else mine[name] = info;
    }
    let result: TensorInfo;
    try {
      result = local(mine, partAttrs(n));
    } finally {
      ctx.free(...copies);
    }
    const rv = ctx.f32(result);
    const ov = ctx.f32(out);
    if (spec.join === "sum") for (let i = 0; i < ov.length; i++) ov[i] += rv[i];
    else ov.set(rv.subarray(0, outPerImage * n), outPerImage * startRow[chunk]);
    ctx.free(result);
  };

  let failure: unknown;
  try {
    for (const chunk of regions[0].chunks) runHere(chunk);
    for (const { region } of stealing ? posted : []) {
      for (let r = 0; r < region.chunks.length; r++) {
        if (!region.worker!.claim(r)) break;
        runHere(region.chunks[r]);
      }
    }
  } catch (error) {
    failure = error;
  }
  for (const { region, outputs } of posted) {
    try {
      const arena = region.worker!.wait();
      if (failure) continue;
      const byWorker = region.chunks.map((_, r) => Atomics.load(region.worker!.flags, CLAIM_BASE + r) === CLAIM.worker);
      workerChunks += byWorker.filter(Boolean).length;
      const ov = ctx.f32(out);
      if (spec.join === "sum") {
        const { offset, length } = outputs[0];
        if (byWorker.includes(true)) for (let i = 0; i < length; i++) ov[i] += arena[offset + i];
      } else {
        region.chunks.forEach((chunk, r) => {
          if (!byWorker[r]) return;
          const { offset, length } = outputs[r];
          ov.set(arena.subarray(offset, offset + length), outPerImage * startRow[chunk]);
        });
      }
    } catch (error) {
      failure ??= error;
    }
  }
  if (failure) {
    ctx.free(out);
    if (active.every((w) => !w.broken)) throw failure; // not a worker problem
    process.emitWarning(`trainyard: ${failure instanceof Error ? failure.message : String(failure)}; continuing on one thread`);
    return local(inputs, attrs);
  }
  return out;
}
