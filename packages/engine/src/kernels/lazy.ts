/**
 * Deferred kernel results (wasm and cpu backends).
 *
 * A fused convolution's gradient (tfjs-core's customGrad) computes the input gradient eagerly,
 * even for the first layer, whose input is data: the result is disposed unread. A deferred
 * result is an allocated but not yet computed tensor: it is computed the first time anything
 * looks it up in the backend (every kernel, read/readSync, incRef go through the
 * backend's tensor table: wasm's `dataIdMap.get`, cpu's `data.get`), and never if it is disposed first. Its inputs are kept alive (incRef)
 * until then.
 */
import type * as tf from "@tensorflow/tfjs";
import { KernelContext } from "./context.ts";

type TensorInfo = tf.TensorInfo;

interface Pending {
  compute(): void;
  release(): void;
}

interface DataStorageLike {
  get(dataId: object): { refCount: number } | undefined;
  has(dataId: object): boolean;
}

interface BackendInternals {
  /** wasm's tensor table. */
  dataIdMap?: DataStorageLike;
  /** cpu's tensor table. */
  data?: DataStorageLike;
  disposeData(dataId: object, force?: boolean): boolean;
  incRef(dataId: object): void;
}

const installed = new WeakMap<object, Map<object, Pending>>();
let computed = 0;
let skipped = 0;

/** Deferred results computed / dropped unread so far (tests, profiling). */
export function deferredStats(): { computed: number; skipped: number } {
  return { computed, skipped };
}

function pendingMap(backend: tf.KernelBackend): Map<object, Pending> {
  let pending = installed.get(backend);
  if (pending) return pending;
  const map = new Map<object, Pending>();
  const internals = backend as unknown as BackendInternals;
  const storage = (internals.dataIdMap ?? internals.data)!;
  const get = storage.get.bind(storage);
  storage.get = (dataId: object) => {
    if (map.size > 0) {
      const p = map.get(dataId);
      if (p) {
        map.delete(dataId);
        computed++;
        p.compute();
      }
    }
    return get(dataId);
  };
  const disposeData = internals.disposeData.bind(backend);
  internals.disposeData = (dataId: object, force?: boolean) => {
    const p = map.get(dataId);
    if (p && storage.has(dataId)) {
      const entry = get(dataId);
      if (force || (entry && entry.refCount <= 1)) {
        map.delete(dataId);
        skipped++;
        p.release();
      }
    }
    return disposeData(dataId, force);
  };
  installed.set(backend, map);
  pending = map;
  return pending;
}

/**
 * Returns an output of `shape` whose values `compute` produces when first needed. `compute`
 * must not dispose `inputs`; they stay referenced until it ran or the output was dropped.
 */
export function deferred(ctx: KernelContext, shape: number[], inputs: TensorInfo[], compute: () => TensorInfo): TensorInfo {
  const backend = ctx.backend;
  const map = pendingMap(backend);
  const out = ctx.alloc(shape);
  for (const input of inputs) backend.incRef(input.dataId);
  const release = () => {
    for (const input of inputs) backend.disposeData(input.dataId);
  };
  map.set(out.dataId, {
    compute: () => {
      try {
        const result = compute();
        ctx.f32(out).set(ctx.f32(result));
        ctx.free(result);
      } finally {
        release();
      }
    },
    release,
  });
  return out;
}
