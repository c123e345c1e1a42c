/**
 * The `webgpu` backend: TF.js's WebGPU backend (@tensorflow/tfjs-backend-webgpu) on Dawn, the
 * WebGPU implementation Chromium uses, from the npm package `webgpu` (a prebuilt `dawn.node`,
 * no download). Dawn runs on the machine's Vulkan driver: NVIDIA, AMD and Intel GPUs, or Mesa's
 * software rasterizer llvmpipe (lavapipe) on a machine without one.
 *
 * The backend is registered here with our own factory instead of the package's, which asks
 * `navigator.gpu` for "the" adapter at import time: we pick the adapter (by Dawn's adapter
 * option, see ../../../docs/gpu.md), refuse a software adapter unless it was asked for, and keep
 * the adapter's description for the job record.
 */
import * as tf from "@tensorflow/tfjs";

/** What a WebGPU adapter says of itself (GPUAdapterInfo); Dawn fills every field. */
export interface AdapterInfo {
  vendor: string;
  architecture: string;
  device: string;
  description: string;
  /** True for a CPU implementation (Mesa llvmpipe/lavapipe, SwiftShader). */
  software: boolean;
}

export interface WebGpuOptions {
  /** Dawn's `adapter=` option: the (part of the) adapter name to use. Default: Dawn's first. */
  adapterName?: string;
  /** Accept a software adapter (llvmpipe): for tests and CI. Default false. */
  allowSoftware?: boolean;
}

/** An error that should not be retried on this machine with the same adapter (no adapter, software only). */
export class WebGpuUnavailableError extends Error {
  override name = "WebGpuUnavailableError";
}

interface DawnModule {
  create(options: string[]): GpuLike;
  globals: Record<string, unknown>;
}
interface GpuLike {
  requestAdapter(options?: { powerPreference?: "high-performance" | "low-power" }): Promise<AdapterLike | null>;
}
interface AdapterLike {
  info: { vendor?: string; architecture?: string; device?: string; description?: string };
  features: Set<string>;
  limits: Record<string, number>;
  requestDevice(descriptor: { requiredFeatures?: string[]; requiredLimits?: Record<string, number> }): Promise<DeviceLike>;
}
interface DeviceLike {
  lost: Promise<{ reason: string; message: string }>;
  addEventListener(type: "uncapturederror", listener: (event: { error: { message: string; constructor: { name: string } } }) => void): void;
  destroy(): void;
}

/** The process's Dawn instance (one per process; a thread has its own). */
let dawn: { gpu: GpuLike; options: string } | null = null;

function errorText(error: unknown): string {
  return error instanceof Error ? error.message.split("\n")[0] : String(error);
}

/** Architecture strings that name a CPU implementation rather than a GPU. */
export function isSoftwareAdapter(info: { vendor?: string; architecture?: string; description?: string; device?: string }): boolean {
  const text = `${info.architecture ?? ""} ${info.description ?? ""} ${info.device ?? ""}`.toLowerCase();
  return /\b(software|llvmpipe|lavapipe|swiftshader)\b/.test(text) || info.architecture === "swiftshader";
}

function adapterInfoOf(adapter: AdapterLike): AdapterInfo {
  const raw = adapter.info ?? {};
  const info = {
    vendor: raw.vendor ?? "",
    architecture: raw.architecture ?? "",
    device: raw.device ?? "",
    description: raw.description ?? "",
  };
  return { ...info, software: isSoftwareAdapter(info) };
}

/**
 * Dawn's instance for this process, created once with the given options. The Dawn options
 * of a process are fixed at its first call: a second call with other options is an error
 * (a slot's child uses one adapter for its life).
 */
async function dawnInstance(adapterName: string | undefined): Promise<GpuLike> {
  const options = adapterName ? [`adapter=${adapterName}`] : [];
  const key = options.join(",");
  if (dawn) {
    if (dawn.options !== key) throw new WebGpuUnavailableError(`this process already uses Dawn with [${dawn.options}], not [${key}]`);
    return dawn.gpu;
  }
  // XDG_RUNTIME_DIR unset makes Dawn's Vulkan loader print an error line on every start.
  process.env.XDG_RUNTIME_DIR ??= "/tmp";
  const module = (await import(/* @vite-ignore */ "webgpu")) as unknown as DawnModule;
  Object.assign(globalThis, module.globals);
  const gpu = module.create(options);
  dawn = { gpu, options: key };
  // TF.js's WebGPUBackend checks navigator.gpu. On Node 22 `navigator` is a built-in getter that
  // ignores assignment, so the property is defined, not assigned.
  const navigator = (globalThis as { navigator?: object }).navigator ?? {};
  Object.defineProperty(navigator, "gpu", { value: gpu, configurable: true, writable: true });
  Object.defineProperty(globalThis, "navigator", { value: navigator, configurable: true, writable: true });
  return gpu;
}

let selected: { info: AdapterInfo; device: DeviceLike; limits: DeviceLimits } | null = null;

/** The device limits that bound one tensor: TF.js binds every tensor as one storage buffer. */
export interface DeviceLimits {
  maxStorageBufferBindingSize: number;
  maxBufferSize: number;
}

/**
 * A WebGPU error the device reported without an error scope to catch it. WebGPU does not throw:
 * a failed allocation or a tensor over the binding limit invalidates the command, and TF.js
 * carries on with zeros — so the trainer must look after every step.
 */
export interface DeviceError {
  /** "out-of-memory": an allocation failed, or a tensor is over the device's buffer limits. */
  kind: "out-of-memory" | "validation" | "internal" | "lost";
  message: string;
}

/** The first error since the last take: later ones are usually "invalid due to a previous error". */
let firstDeviceError: DeviceError | null = null;

/** The device error Dawn reported since the last call, if any, and clears it. */
export function takeDeviceError(): DeviceError | null {
  const error = firstDeviceError;
  firstDeviceError = null;
  return error;
}

/** The buffer limits of the webgpu backend's device, once it has started. */
export function webgpuLimits(): DeviceLimits | null {
  return selected?.limits ?? null;
}

/** The adapter the `webgpu` backend of this process runs on, once it has started. */
export function webgpuAdapter(): AdapterInfo | null {
  return selected?.info ?? null;
}

export function deviceErrorKind(errorClass: string, message: string): DeviceError["kind"] {
  if (/OutOfMemory/i.test(errorClass) || /out of memory/i.test(message)) return "out-of-memory";
  // A tensor larger than one buffer may be: the batch is too large for this device.
  if (/(binding size|size) \(\d+\).*larger than the maximum/i.test(message)) return "out-of-memory";
  if (/Validation/i.test(errorClass)) return "validation";
  return "internal";
}

/**
 * Starts TF.js's webgpu backend on Dawn. Throws WebGpuUnavailableError when the package
 * is not installed, Dawn finds no adapter, or the adapter is a software one and
 * `allowSoftware` is not set.
 */
export async function startWebGpu(opts: WebGpuOptions = {}): Promise<AdapterInfo> {
  if (selected && tf.findBackend("webgpu")) {
    if (tf.getBackend() !== "webgpu" && !(await tf.setBackend("webgpu")))
      throw new WebGpuUnavailableError("tf.setBackend('webgpu') returned false");
    return selected.info;
  }
  let gpu: GpuLike;
  try {
    gpu = await dawnInstance(opts.adapterName);
  } catch (error) {
    if (error instanceof WebGpuUnavailableError) throw error;
    throw new WebGpuUnavailableError(`the npm package "webgpu" (Dawn) could not be loaded: ${errorText(error)}`);
  }
  let adapter: AdapterLike | null;
  try {
    adapter = await gpu.requestAdapter({ powerPreference: "high-performance" });
  } catch (error) {
    throw new WebGpuUnavailableError(`Dawn has no adapter named "${opts.adapterName}" (${errorText(error)})`);
  }
  if (!adapter) {
    throw new WebGpuUnavailableError(
      "Dawn found no WebGPU adapter: no Vulkan driver that Dawn accepts (a GPU's Vulkan driver, or Mesa ≥ 23 llvmpipe for a software one; in a container, NVIDIA_DRIVER_CAPABILITIES must include graphics)",
    );
  }
  const info = adapterInfoOf(adapter);
  if (info.software && !opts.allowSoftware) {
    throw new WebGpuUnavailableError(
      `the only WebGPU adapter is a software one (${info.description || info.architecture}); set TRAINYARD_BACKEND=webgpu to use it anyway`,
    );
  }
  // The same device limits and features as the package's own factory asks for.
  const limits = adapter.limits;
  const requiredFeatures = ["timestamp-query"].filter((feature) => adapter.features.has(feature));
  const device = await adapter.requestDevice({
    requiredFeatures,
    requiredLimits: {
      maxComputeWorkgroupStorageSize: limits.maxComputeWorkgroupStorageSize,
      maxComputeWorkgroupsPerDimension: limits.maxComputeWorkgroupsPerDimension,
      maxStorageBufferBindingSize: limits.maxStorageBufferBindingSize,
      maxBufferSize: limits.maxBufferSize,
      maxComputeWorkgroupSizeX: limits.maxComputeWorkgroupSizeX,
      maxComputeInvocationsPerWorkgroup: limits.maxComputeInvocationsPerWorkgroup,
    },
  });
  device.addEventListener("uncapturederror", (event) => {
    const message = event.error.message;
    firstDeviceError ??= { kind: deviceErrorKind(event.error.constructor.name, message), message };
  });
  void device.lost.then((lost) => {
    if (selected?.device === device) firstDeviceError ??= { kind: "lost", message: `device lost (${lost.reason}): ${lost.message}` };
  });
  // The package registers its kernels for "webgpu" on import, and its own backend factory when
  // navigator.gpu exists then; ours replaces it.
  const { WebGPUBackend } = (await import("@tensorflow/tfjs-backend-webgpu")) as unknown as {
    WebGPUBackend: new (device: DeviceLike, info: unknown) => tf.KernelBackend;
  };
  if (tf.findBackendFactory("webgpu")) tf.removeBackend("webgpu");
  tf.registerBackend("webgpu", () => new WebGPUBackend(device, adapter.info), 0);
  if (!(await tf.setBackend("webgpu"))) throw new WebGpuUnavailableError("tf.setBackend('webgpu') returned false");
  await tf.ready();
  selected = {
    info,
    device,
    limits: { maxStorageBufferBindingSize: limits.maxStorageBufferBindingSize, maxBufferSize: limits.maxBufferSize },
  };
  return info;
}

/**
 * Releases this process's Dawn instance: a process holding it does not exit. For tests and
 * command-line tools that end; a training child simply exits.
 */
export function releaseWebGpu(): void {
  if (tf.findBackendFactory("webgpu")) tf.removeBackend("webgpu");
  selected?.device.destroy();
  selected = null;
  dawn = null;
  const navigator = (globalThis as { navigator?: { gpu?: unknown } }).navigator;
  if (navigator && "gpu" in navigator) delete navigator.gpu;
}
