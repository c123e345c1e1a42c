import * as tf from "@tensorflow/tfjs";
import { describe, expect, it } from "vitest";
import { BackendUnavailableError, gpuSlot, initBackend } from "../src/backend/index.ts";
import { engineKernelNames } from "../src/kernels/index.ts";

async function nativeInstalled(name: string): Promise<boolean> {
  try {
    await import(/* @vite-ignore */ name);
    return true;
  } catch {
    return false;
  }
}

describe("gpuSlot", () => {
  it("reads CUDA_VISIBLE_DEVICES unless told otherwise", () => {
    expect(gpuSlot({ env: {} })).toBeNull();
    expect(gpuSlot({ env: { CUDA_VISIBLE_DEVICES: "" } })).toBeNull();
    expect(gpuSlot({ env: { CUDA_VISIBLE_DEVICES: "-1" } })).toBeNull();
    expect(gpuSlot({ env: { CUDA_VISIBLE_DEVICES: "2" } })).toBe(2);
    expect(gpuSlot({ env: { CUDA_VISIBLE_DEVICES: "3,1" } })).toBe(3);
    expect(gpuSlot({ env: { CUDA_VISIBLE_DEVICES: "2" }, gpu: false })).toBeNull();
    expect(gpuSlot({ env: {}, gpu: 1 })).toBe(1);
    expect(gpuSlot({ env: {}, gpu: true })).toBe(0);
  });
});

describe("initBackend", () => {
  it("explicit tensorflow without the native package throws a clear error", async () => {
    if (await nativeInstalled("@tensorflow/tfjs-node")) return; // a machine with libtensorflow
    const error = await initBackend("tensorflow", { env: {} }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(BackendUnavailableError);
    expect((error as Error).message).toMatch(/@tensorflow\/tfjs-node/);
    expect((error as Error).message).toMatch(/TRAINYARD_BACKEND=wasm or auto/);
  });

  it("on a GPU slot it asks for tfjs-node-gpu", async () => {
    if (await nativeInstalled("@tensorflow/tfjs-node-gpu")) return;
    const error = await initBackend("tensorflow", { env: { CUDA_VISIBLE_DEVICES: "0" } }).catch((e: unknown) => e);
    expect((error as Error).message).toMatch(/@tensorflow\/tfjs-node-gpu/);
  });

  it("auto falls back to wasm and registers the engine kernels", async () => {
    const info = await initBackend("auto", { env: {} });
    if (info.backend === "tensorflow") return;
    expect(info).toMatchObject({ backend: "wasm", device: "cpu:0" });
    expect(info.skipped?.[0]).toMatch(/^tensorflow: /);
    expect(tf.getBackend()).toBe("wasm");
    expect(engineKernelNames("wasm")).toEqual(expect.arrayContaining(["Conv2DBackpropFilter", "DepthwiseConv2dNativeBackpropInput"]));
    // The gradient wasm lacks is there now.
    const x = tf.ones([1, 5, 5, 1]);
    const g = tf.grad((f: tf.Tensor) => tf.conv2d(x as tf.Tensor4D, f as tf.Tensor4D, 1, "valid").sum())(tf.ones([3, 3, 1, 2]));
    expect(Array.from(g.dataSync())).toEqual(Array(18).fill(9));
  });

  it("cpu and wasm can be chosen explicitly", async () => {
    expect(await initBackend("cpu")).toEqual({ backend: "cpu", device: "cpu:0" });
    expect(tf.getBackend()).toBe("cpu");
    expect(engineKernelNames("cpu")).toContain("Conv2DBackpropFilter");
    expect(await initBackend("wasm", { kernelThreads: 1 })).toEqual({ backend: "wasm", device: "cpu:0", threads: 1 });
    expect(tf.getBackend()).toBe("wasm");
  });

  // CI installs Mesa's software Vulkan (llvmpipe), so Dawn has exactly one, software, adapter here.
  it("auto never takes a software WebGPU adapter", async () => {
    const info = await initBackend("auto", { env: {} });
    if (info.backend === "tensorflow") return;
    expect(info.backend).not.toBe("webgpu");
    expect(info.skipped?.find((line) => line.startsWith("webgpu: "))).toMatch(/software one \(llvmpipe/);
  });

  it("webgpu, asked for by name, runs on the software adapter and reports it", async () => {
    const info = await initBackend("webgpu", { env: {} });
    expect(info).toMatchObject({ backend: "webgpu", device: "gpu:0" });
    expect(info.adapter).toMatch(/llvmpipe/);
    expect(tf.getBackend()).toBe("webgpu");
    const x = tf.ones([1, 5, 5, 1]);
    const g = tf.grad((f: tf.Tensor) => tf.conv2d(x as tf.Tensor4D, f as tf.Tensor4D, 1, "valid").sum())(tf.ones([3, 3, 1, 2]));
    expect(Array.from(await g.data())).toEqual(Array(18).fill(9));
    tf.dispose([x, g]);
    // A GPU slot's device, from CUDA_VISIBLE_DEVICES as for tensorflow.
    expect((await initBackend("webgpu", { env: { CUDA_VISIBLE_DEVICES: "1" } })).device).toBe("gpu:1");
    await initBackend("wasm", { kernelThreads: 1 });
    expect(tf.getBackend()).toBe("wasm");
  });

  it("webgpu on an adapter Dawn does not have is a clear error", async () => {
    const { releaseWebGpu } = await import("../src/backend/webgpu.ts");
    releaseWebGpu();
    const error = await initBackend("webgpu", { env: { TRAINYARD_WEBGPU_ADAPTER: "No Such GPU 9000" } }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(BackendUnavailableError);
    expect((error as Error).message).toMatch(/no adapter named "No Such GPU 9000"/);
    releaseWebGpu();
  });

  it("rejects an unknown preference", async () => {
    await expect(initBackend("gpu" as never)).rejects.toBeInstanceOf(BackendUnavailableError);
  });
});

describe("kernelThreadsFor", () => {
  it("is off unless TRAINYARD_KERNEL_THREADS asks; auto shares cores between CPU slots", async () => {
    const { kernelThreadsFor } = await import("../src/backend/index.ts");
    const { availableParallelism } = await import("node:os");
    const cores = Math.min(4, availableParallelism());
    expect(kernelThreadsFor(3)).toBe(3);
    expect(kernelThreadsFor(undefined)).toBe(1);
    expect(kernelThreadsFor("auto")).toBe(cores);
    expect(kernelThreadsFor("auto", 2)).toBe(Math.max(1, Math.floor(cores / 2)));
    expect(kernelThreadsFor("auto", 64)).toBe(1);
  });
});

describe("replicasFor", () => {
  it("splits the cores between CPU slots and kernel threads on wasm/cpu, and is 1 on native TensorFlow", async () => {
    const { replicasFor } = await import("../src/backend/index.ts");
    const { availableParallelism } = await import("node:os");
    const cores = Math.min(4, availableParallelism());
    const wasm = { backend: "wasm", device: "cpu:0", threads: 1 };
    expect(replicasFor(wasm, {})).toBe(cores);
    expect(replicasFor(wasm, { replicas: "auto" })).toBe(cores);
    expect(replicasFor(wasm, { cpuSlots: 2 })).toBe(Math.max(1, Math.floor(cores / 2)));
    expect(replicasFor({ ...wasm, threads: 2 }, {})).toBe(Math.max(1, Math.floor(cores / 2)));
    expect(replicasFor(wasm, { replicas: 3 })).toBe(3);
    expect(replicasFor({ backend: "cpu", device: "cpu:0" }, { replicas: 2 })).toBe(2);
    expect(replicasFor({ backend: "tensorflow", device: "gpu:0" }, { replicas: 4 })).toBe(1);
  });
});
