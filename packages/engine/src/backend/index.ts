/**
 * TF.js backend selection for a training process.
 *
 * Order for "auto": `tensorflow` (native libtensorflow through @tensorflow/tfjs-node-gpu on a
 * GPU slot, @tensorflow/tfjs-node otherwise; optional dependencies that only install with
 * internet access), then `webgpu` (Dawn on a hardware Vulkan adapter, ./webgpu.ts; a software
 * adapter only when asked for by name), then `wasm` (XNNPACK, SIMD), then `cpu`. On `wasm` and `cpu` the engine
 * registers its own kernels (see ../kernels): the convolution/pooling gradients wasm lacks or
 * runs slowly, and replacements for the slowest stock kernels.
 */
import * as tf from "@tensorflow/tfjs";
import { availableParallelism } from "node:os";
import type { BackendPreference } from "@trainyard/shared";
import { registerEngineKernels, startKernelWorkers, stopKernelWorkers } from "../kernels/index.ts";
import { releaseWebGpu, startWebGpu, WebGpuUnavailableError } from "./webgpu.ts";

export type { BackendPreference } from "@trainyard/shared";

export interface BackendInfo {
  /** The TF.js backend name in use: "tensorflow", "webgpu", "wasm" or "cpu". */
  backend: string;
  /** What trained the job: "gpu:N" for native TensorFlow or WebGPU on a GPU slot, otherwise "cpu:0". */
  device: string;
  /** webgpu: the adapter's description as Dawn gives it (e.g. "NVIDIA GeForce RTX 4090", "llvmpipe …"). */
  adapter?: string;
  /** For "auto": why the backends before this one were skipped. */
  skipped?: string[];
  /** wasm: threads its heavy kernels run on. */
  threads?: number;
}

export interface InitBackendOptions {
  /**
   * GPU index of this slot. `undefined`: derived from CUDA_VISIBLE_DEVICES (set and not
   * empty/"-1" means a GPU slot). `false`/`null`: CPU slot even if CUDA_VISIBLE_DEVICES is set.
   */
  gpu?: number | boolean | null;
  /** Register the engine's kernels on wasm/cpu (default true). */
  engineKernels?: boolean;
  /**
   * Threads the wasm kernels split their batch over (worker threads with their own wasm
   * backend): a number, or "auto" (the machine's cores, at most 4, divided by `cpuSlots`).
   * Default 1 (off): on the shared 2-core machines measured so far it did not pay in full
   * training steps (docs/engine.md). The worker's config (TRAINYARD_KERNEL_THREADS) sets it.
   */
  kernelThreads?: number | "auto";
  /** CPU slots of the worker this process trains for: they share the machine's cores (default 1). */
  cpuSlots?: number;
  /**
   * Environment to read CUDA_VISIBLE_DEVICES and TRAINYARD_WEBGPU_ADAPTER (the Dawn adapter
   * name a worker pins its slot's child to) from (default process.env).
   */
  env?: Record<string, string | undefined>;
}

/** Raised when an explicitly requested backend cannot be used. */
export class BackendUnavailableError extends Error {
  override name = "BackendUnavailableError";
  constructor(
    message: string,
    readonly backend: BackendPreference,
    override readonly cause?: unknown,
  ) {
    super(message);
  }
}

/** The GPU this process should use, or null for a CPU slot. */
export function gpuSlot(opts: InitBackendOptions = {}): number | null {
  if (opts.gpu === false || opts.gpu === null) return null;
  if (typeof opts.gpu === "number") return opts.gpu;
  const visible = (opts.env ?? process.env).CUDA_VISIBLE_DEVICES?.trim();
  if (opts.gpu !== true && (!visible || visible === "-1")) return null;
  const first = Number.parseInt(visible?.split(",")[0] ?? "", 10);
  return Number.isFinite(first) ? first : 0;
}

/** Module names are computed so that bundlers and tsc do not require the optional packages. */
const NATIVE_PACKAGES = { gpu: "@tensorflow/tfjs-node-gpu", cpu: "@tensorflow/tfjs-node" } as const;

async function importOptional(name: string): Promise<unknown> {
  return import(/* @vite-ignore */ name);
}

function errorText(error: unknown): string {
  return error instanceof Error ? error.message.split("\n")[0] : String(error);
}

async function tryTensorflow(gpu: number | null): Promise<BackendInfo> {
  const pkg = gpu !== null ? NATIVE_PACKAGES.gpu : NATIVE_PACKAGES.cpu;
  try {
    await importOptional(pkg);
  } catch (error) {
    throw new BackendUnavailableError(
      `TRAINYARD_BACKEND=tensorflow needs ${pkg} with its native libtensorflow, which could not be loaded (${errorText(error)}). ` +
        `Install it where its install script can download libtensorflow, or use TRAINYARD_BACKEND=wasm or auto.`,
      "tensorflow",
      error,
    );
  }
  let ok: boolean;
  try {
    ok = await tf.setBackend("tensorflow");
  } catch (error) {
    throw new BackendUnavailableError(`${pkg} loaded but its backend failed to start: ${errorText(error)}`, "tensorflow", error);
  }
  if (!ok || tf.getBackend() !== "tensorflow") {
    throw new BackendUnavailableError(
      `${pkg} loaded but did not register a "tensorflow" backend with this @tensorflow/tfjs (are both 4.22 and deduplicated?)`,
      "tensorflow",
    );
  }
  await tf.ready();
  return { backend: "tensorflow", device: gpu !== null ? `gpu:${gpu}` : "cpu:0" };
}

let wasmImported: Promise<unknown> | undefined;

async function tryWasm(): Promise<BackendInfo> {
  try {
    wasmImported ??= importOptional("@tensorflow/tfjs-backend-wasm");
    await wasmImported;
    if (!(await tf.setBackend("wasm"))) throw new Error("tf.setBackend('wasm') returned false");
    await tf.ready();
  } catch (error) {
    wasmImported = undefined;
    throw new BackendUnavailableError(`the wasm backend could not start: ${errorText(error)}`, "wasm", error);
  }
  return { backend: "wasm", device: "cpu:0" };
}

/**
 * `webgpu` on Dawn. `explicit` (TRAINYARD_BACKEND=webgpu) accepts a software adapter; `auto`
 * takes hardware only, and releases Dawn again when it passes, so that the process can exit.
 */
async function tryWebGpu(gpu: number | null, explicit: boolean, env: Record<string, string | undefined>): Promise<BackendInfo> {
  try {
    const adapter = await startWebGpu({ adapterName: env.TRAINYARD_WEBGPU_ADAPTER?.trim() || undefined, allowSoftware: explicit });
    return { backend: "webgpu", device: `gpu:${gpu ?? 0}`, adapter: adapter.description || adapter.device };
  } catch (error) {
    releaseWebGpu();
    const message = error instanceof WebGpuUnavailableError ? error.message : `the webgpu backend could not start: ${errorText(error)}`;
    throw new BackendUnavailableError(message, "webgpu", error);
  }
}

async function useCpu(): Promise<BackendInfo> {
  if (!(await tf.setBackend("cpu"))) throw new BackendUnavailableError("the cpu backend could not start", "cpu");
  await tf.ready();
  return { backend: "cpu", device: "cpu:0" };
}

/** Cores (at most 4) per CPU slot: a worker running several slots shares the cores between its trainer processes. */
function coresPerSlot(cpuSlots = 1): number {
  return Math.min(4, availableParallelism()) / Math.max(1, cpuSlots);
}

/** Kernel threads for a setting: a number as it is, "auto" as the cores of one CPU slot, unset as 1 (off). */
export function kernelThreadsFor(setting: number | "auto" | undefined, cpuSlots = 1): number {
  if (setting === "auto") return Math.max(1, Math.floor(coresPerSlot(cpuSlots)));
  return setting !== undefined && Number.isInteger(setting) && setting >= 1 ? setting : 1;
}

/** How a worker splits its CPU between jobs: its config's TRAINYARD_CPU_SLOTS and TRAINYARD_REPLICAS. */
export interface ReplicaSettings {
  /** A number of replicas, or "auto" (the default). */
  replicas?: number | "auto";
  cpuSlots?: number;
}

/**
 * Data-parallel replicas for one job on this backend (see ../replicas/group.ts): "auto" → the
 * machine's cores (at most 4) divided between the worker's CPU slots and each replica's kernel
 * threads; a number → that many (at most 16). Always 1 on native TensorFlow and webgpu, which
 * spread one replica over every core (or run it on a GPU) themselves.
 */
export function replicasFor(info: BackendInfo, settings: ReplicaSettings = {}): number {
  if (info.backend !== "wasm" && info.backend !== "cpu") return 1;
  const { replicas = "auto", cpuSlots } = settings;
  if (replicas !== "auto") return Number.isInteger(replicas) && replicas >= 1 ? Math.min(replicas, 16) : 1;
  return Math.max(1, Math.floor(coresPerSlot(cpuSlots) / (info.threads ?? 1)));
}

/** Selects and initializes the TF.js backend for this process, and registers the engine's kernels. */
export async function initBackend(preference: BackendPreference = "auto", opts: InitBackendOptions = {}): Promise<BackendInfo> {
  const env = opts.env ?? process.env;
  let info: BackendInfo;
  switch (preference) {
    case "tensorflow":
      info = await tryTensorflow(gpuSlot(opts));
      break;
    case "webgpu":
      info = await tryWebGpu(gpuSlot(opts), true, env);
      break;
    case "wasm":
      info = await tryWasm();
      break;
    case "cpu":
      info = await useCpu();
      break;
    case "auto": {
      const skipped: string[] = [];
      try {
        info = await tryTensorflow(gpuSlot(opts));
      } catch (tfError) {
        skipped.push(`tensorflow: ${errorText(tfError)}`);
        try {
          info = await tryWebGpu(gpuSlot(opts), false, env);
        } catch (gpuError) {
          skipped.push(`webgpu: ${errorText(gpuError)}`);
          try {
            info = await tryWasm();
          } catch (wasmError) {
            skipped.push(`wasm: ${errorText(wasmError)}`);
            info = await useCpu();
          }
        }
      }
      if (skipped.length > 0) info.skipped = skipped;
      break;
    }
    default:
      throw new BackendUnavailableError(`unknown backend preference "${String(preference)}"`, preference);
  }
  if (opts.engineKernels !== false) registerEngineKernels(info.backend);
  if (info.backend === "wasm" && opts.engineKernels !== false) {
    const wanted = kernelThreadsFor(opts.kernelThreads, opts.cpuSlots);
    info.threads = await startKernelWorkers(wanted);
  } else {
    await stopKernelWorkers();
  }
  return info;
}

export { registerEngineKernels, unregisterEngineKernels } from "../kernels/index.ts";
