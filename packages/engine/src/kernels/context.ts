/**
 * A thin, backend-neutral view of a TF.js kernel backend, used by the engine's kernels.
 *
 * Kernels work on raw Float32Arrays: on `wasm` they are views onto the WebAssembly heap, on
 * `cpu` the backend's own value arrays. Heavy arithmetic is delegated to the backend's stock
 * kernels (captured before the engine overrides any of them), e.g. wasm's XNNPACK Conv2D.
 */
import * as tf from "@tensorflow/tfjs";

type TensorInfo = tf.TensorInfo;
type Attrs = Record<string, unknown>;

export type EngineBackendName = "wasm" | "cpu";

interface WasmBackendLike {
  makeOutput(shape: number[], dtype: tf.DataType): TensorInfo;
  typedArrayFromHeap(info: TensorInfo): Float32Array;
  disposeData(dataId: object, force?: boolean): boolean;
}

interface CpuBackendLike {
  makeTensorInfo(shape: number[], dtype: tf.DataType, values?: Float32Array): TensorInfo;
  data: { get(dataId: object): { values: ArrayLike<number> | null } };
  disposeData(dataId: object, force?: boolean): boolean;
}

const CPU_ENGINE_NESTED = new Set(["Conv2D", "FusedConv2D", "BatchMatMul", "_FusedMatMul"]);

/** The stock kernels of each backend, captured the first time the engine registers its own. */
const stockKernels = new Map<string, tf.KernelConfig>();

export function captureStock(kernelName: string, backendName: string): tf.KernelConfig | undefined {
  const key = `${backendName}/${kernelName}`;
  if (!stockKernels.has(key)) {
    const config = tf.getKernel(kernelName, backendName);
    if (config) stockKernels.set(key, config);
  }
  return stockKernels.get(key);
}

export function stockKernel(kernelName: string, backendName: string): tf.KernelConfig | undefined {
  return stockKernels.get(`${backendName}/${kernelName}`);
}

export class KernelContext {
  readonly name: EngineBackendName;
  private readonly wasm?: WasmBackendLike;
  private readonly cpu?: CpuBackendLike;

  constructor(
    readonly backend: tf.KernelBackend,
    name: string,
  ) {
    if (name !== "wasm" && name !== "cpu") throw new Error(`engine kernels do not support backend "${name}"`);
    this.name = name;
    if (name === "wasm") this.wasm = backend as unknown as WasmBackendLike;
    else this.cpu = backend as unknown as CpuBackendLike;
  }

  /** A new float32 tensor of the given shape. On cpu it is zero-filled; on wasm its contents are undefined. */
  alloc(shape: number[]): TensorInfo {
    if (this.wasm) return this.wasm.makeOutput(shape, "float32");
    return this.cpu!.makeTensorInfo(shape, "float32", new Float32Array(tf.util.sizeFromShape(shape)));
  }

  /** A zero-filled float32 tensor. */
  zeros(shape: number[]): TensorInfo {
    const info = this.alloc(shape);
    if (this.wasm) this.f32(info).fill(0);
    return info;
  }

  /**
   * The tensor's values as a Float32Array, without copying where possible. On wasm the view is
   * invalidated by any later allocation (the heap may grow): allocate first, then take views.
   */
  f32(info: TensorInfo): Float32Array {
    if (this.wasm) {
      if (info.dtype !== "float32") throw new Error(`engine kernels expect float32, got ${info.dtype}`);
      return this.wasm.typedArrayFromHeap(info);
    }
    const values = this.cpu!.data.get(info.dataId).values;
    if (values instanceof Float32Array) return values;
    return Float32Array.from(values ?? []);
  }

  /** Any tensor's values (float32 or int32: box indices, for instance), as `f32` does for float32. */
  values(info: TensorInfo): Float32Array | Int32Array {
    if (info.dtype === "float32") return this.f32(info);
    if (this.wasm) return this.wasm.typedArrayFromHeap(info) as unknown as Int32Array;
    const values = this.cpu!.data.get(info.dataId).values;
    return values instanceof Int32Array ? values : Int32Array.from(values ?? []);
  }

  /**
   * The same data as a further tensor (no copy): the backend counts one more reference, and the
   * memory is freed when every tensor on it is disposed. Tensors are never written after their
   * kernel returns, so sharing is safe.
   */
  shared(info: TensorInfo): TensorInfo {
    (this.backend as unknown as { incRef(dataId: object): void }).incRef(info.dataId);
    return { dataId: info.dataId, shape: info.shape.slice(), dtype: info.dtype };
  }

  free(...infos: (TensorInfo | undefined)[]): void {
    for (const info of infos) if (info) this.backend.disposeData(info.dataId);
  }

  /**
   * Runs a kernel from inside an engine kernel. On wasm: the stock kernel (the engine's
   * overrides may split work over worker threads, which must not nest). On cpu: the engine's
   * JS GEMM versions of Conv2D/FusedConv2D/BatchMatMul/_FusedMatMul where registered, since
   * the stock ones are slow; else stock.
   */
  run(kernelName: string, inputs: Record<string, TensorInfo>, attrs: Attrs = {}, stock = false): TensorInfo {
    const preferEngine = !stock && this.name === "cpu" && CPU_ENGINE_NESTED.has(kernelName);
    const config = (preferEngine ? tf.getKernel(kernelName, this.name) : stockKernel(kernelName, this.name)) ?? tf.getKernel(kernelName, this.name);
    if (!config) throw new Error(`backend ${this.name} has no kernel ${kernelName}`);
    const out = config.kernelFunc({ inputs, attrs: attrs as tf.NamedAttrMap, backend: this.backend });
    return Array.isArray(out) ? out[0] : out;
  }

  /** Same data under another shape (no copy); the caller keeps ownership of `info`. */
  static reshaped(info: TensorInfo, shape: number[]): TensorInfo {
    return { dataId: info.dataId, shape, dtype: info.dtype };
  }
}
