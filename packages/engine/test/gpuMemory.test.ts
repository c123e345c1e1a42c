/**
 * Out of GPU memory on webgpu (Mesa's llvmpipe here: a 128 MiB storage-buffer limit) is a clear
 * GPU_OUT_OF_MEMORY failure, never a silent run on zeros.
 */
import * as tf from "@tensorflow/tfjs";
import { getModel } from "@trainyard/models";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { deviceErrorKind, releaseWebGpu, takeDeviceError } from "../src/backend/webgpu.ts";
import { GpuMemoryGuard } from "../src/gpuMemory.ts";
import { initBackend, train, TrainingError } from "../src/index.ts";
import { loadBuiltinDataset } from "@trainyard/datasets";
import { testJobSpec } from "./support/jobSpec.ts";

beforeAll(async () => {
  await initBackend("webgpu", { env: {} });
});
afterAll(() => releaseWebGpu());

const hooks = { onProgress: () => undefined, onEpoch: async () => undefined, stopRequested: () => null };

describe("GPU out of memory", () => {
  it("a batch whose largest activation cannot be one buffer fails before the first step, naming the batch size and the estimate", async () => {
    // LeNet at 56×56: its first convolution's output is 56·56·6 floats = 75 kB a sample; 2,000 samples are 150 MB.
    const spec = testJobSpec({ training: { epochs: 1, batchSize: 2000, maxTrainSamples: 2000 } }, { inputShape: [56, 56, 1] });
    const error = await train(spec, loadBuiltinDataset("synthetic-shapes"), hooks).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TrainingError);
    expect((error as TrainingError).code).toBe("GPU_OUT_OF_MEMORY");
    const message = (error as TrainingError).message;
    expect(message).toMatch(/at batch size 2000/);
    expect(message).toMatch(/llvmpipe/);
    expect(message).toMatch(/Estimated training memory per device: [\d.]+ [kMG]B \(/);
    // 134,217,728 / (75,264 bytes a sample) = 1,783 samples fit one buffer.
    expect(message).toMatch(/at most 1783 per device/);
  });

  it("an allocation the device refuses after the check becomes GPU_OUT_OF_MEMORY, not zeros", async () => {
    const spec = testJobSpec({ training: { batchSize: 64 } });
    const model = getModel("lenet", { inputShape: [28, 28, 1], classes: 4 });
    const guard = GpuMemoryGuard.forBackend(model, spec)!;
    expect(guard).not.toBeNull();
    guard.checkBatchFits();
    guard.checkDevice(); // nothing reported yet
    // 160 MB in one tensor: over the binding limit, so WebGPU drops the command and TF.js reads 0.
    const big = tf.ones([40_000_000]);
    const sum = big.sum();
    expect((await sum.data())[0]).toBe(0);
    tf.dispose([big, sum]);
    await new Promise((resolve) => setTimeout(resolve, 50));
    const error = (() => {
      try {
        guard.checkDevice();
      } catch (e) {
        return e;
      }
    })();
    expect(error).toBeInstanceOf(TrainingError);
    expect((error as TrainingError).code).toBe("GPU_OUT_OF_MEMORY");
    expect((error as Error).message).toMatch(/larger than the maximum storage buffer binding size/);
    expect(takeDeviceError()).toBeNull(); // taken once
    model.dispose();
  });

  it("classifies the device's errors", () => {
    expect(deviceErrorKind("GPUOutOfMemoryError", "Allocation failed")).toBe("out-of-memory");
    expect(
      deviceErrorKind(
        "GPUValidationError",
        "Binding size (154140672) of [Buffer] is larger than the maximum storage buffer binding size (134217728).",
      ),
    ).toBe("out-of-memory");
    expect(deviceErrorKind("GPUValidationError", "[Invalid BindGroup] is invalid due to a previous error.")).toBe("validation");
    expect(deviceErrorKind("GPUInternalError", "shader compilation failed")).toBe("internal");
  });
});
