/**
 * Out of GPU memory as a clear failure. WebGPU never throws for a failed allocation or a tensor
 * over the device's buffer limits: the command is dropped and TF.js reads zeros. So a job on
 * `webgpu` is checked before its first step (the largest activation of a device's part of the
 * batch against the device's binding limit) and after every step (the errors the device
 * reported), and ends with GPU_OUT_OF_MEMORY — not retried, since the same batch size would
 * fail again — naming the batch size and the memory estimate.
 */
import * as tf from "@tensorflow/tfjs";
import { formatBytes, layerOutputFloats, memoryEstimate } from "@trainyard/models";
import type { JobSpec } from "@trainyard/shared";
import { takeDeviceError, webgpuAdapter, webgpuLimits, type DeviceError } from "./backend/webgpu.ts";
import { TrainingError } from "./errors.ts";

const BYTES_PER_FLOAT = 4;

/** Bytes the current backend holds in device memory, where it reports them (webgpu, webgl); null elsewhere. */
export function deviceMemoryBytes(): number | null {
  const info: tf.MemoryInfo & { numBytesInGPU?: number } = tf.memory();
  return typeof info.numBytesInGPU === "number" ? info.numBytesInGPU : null;
}

/** Bytes of the largest single layer output for one sample: TF.js binds each tensor as one buffer. */
function largestActivationBytes(model: tf.LayersModel): number {
  return Math.max(...layerOutputFloats(model)) * BYTES_PER_FLOAT;
}

export class GpuMemoryGuard {
  private constructor(
    private readonly model: tf.LayersModel,
    private readonly spec: JobSpec,
    /** Samples one device computes per step (the batch, or a replica's part of it). */
    private readonly perDevice: number,
    private readonly limits: { maxStorageBufferBindingSize: number },
  ) {}

  /** A guard for a job on the current backend, or null where there is nothing to guard (not webgpu). */
  static forBackend(model: tf.LayersModel, spec: JobSpec, perDevice = spec.training.batchSize): GpuMemoryGuard | null {
    const limits = tf.getBackend() === "webgpu" ? webgpuLimits() : null;
    if (!limits) return null;
    takeDeviceError(); // errors of an earlier job in this process are not this job's
    return new GpuMemoryGuard(model, spec, perDevice, limits);
  }

  /** The largest batch per device whose largest activation fits one of the device's buffers. */
  maxBatchPerDevice(): number {
    return Math.floor(this.limits.maxStorageBufferBindingSize / largestActivationBytes(this.model));
  }

  /** Before the first step: a batch whose largest activation cannot be one buffer fails now, not after shader compilation. */
  checkBatchFits(): void {
    const bytes = largestActivationBytes(this.model) * this.perDevice;
    if (bytes > this.limits.maxStorageBufferBindingSize) {
      throw this.failure(
        `its largest activation at ${this.perDevice} samples per device is ${formatBytes(bytes)}, over the device's ` +
          `${formatBytes(this.limits.maxStorageBufferBindingSize)} storage-buffer limit`,
      );
    }
  }

  /** After a step: what the device reported since the last check becomes the job's failure. */
  checkDevice(): void {
    const error = takeDeviceError();
    if (error) throw this.fromDeviceError(error);
  }

  private fromDeviceError(error: DeviceError): TrainingError {
    const first = error.message.split("\n")[0];
    if (error.kind === "out-of-memory") return this.failure(`the device reported: ${first}`);
    return new TrainingError("INTERNAL", `WebGPU device error (${error.kind}) on ${this.adapterName()}: ${first}`);
  }

  private failure(cause: string): TrainingError {
    const { batchSize, optimizer } = this.spec.training;
    const estimate = memoryEstimate(this.model, this.perDevice, optimizer.type);
    return new TrainingError(
      "GPU_OUT_OF_MEMORY",
      `out of GPU memory on ${this.adapterName()} at batch size ${batchSize}` +
        (this.perDevice !== batchSize ? ` (${this.perDevice} per device)` : "") +
        `: ${cause}. Estimated training memory per device: ${formatBytes(estimate.totalBytes)} ` +
        `(${formatBytes(estimate.parameterBytes)} parameters, gradients and optimizer state; ` +
        `${formatBytes(estimate.activationBytes)} activations, ${formatBytes(estimate.activationBytesPerSample)} a sample). ` +
        `Lower training.batchSize (at most ${this.maxBatchPerDevice()} per device fits this device's buffer limit), ` +
        `or use training.devices to split the batch.`,
    );
  }

  private adapterName(): string {
    const adapter = webgpuAdapter();
    return adapter ? adapter.description || adapter.device || "the WebGPU adapter" : "the WebGPU adapter";
  }
}
