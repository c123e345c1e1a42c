/**
 * The engine's TF.js kernels. `registerEngineKernels(backendName)` replaces or adds kernels
 * on the `wasm` and `cpu` backends (tf.registerKernel, so fused ops that call kernels
 * directly use them too), and on `webgpu` the few stock kernels found wrong (./webgpu). Idempotent.
 */
import * as tf from "@tensorflow/tfjs";
import { KernelContext, captureStock, type EngineBackendName } from "./context.ts";
import { conv2dBackpropFilter, conv2dBackpropInput, conv2dForward, type BackpropFilterAttrs, type BackpropInputAttrs } from "./conv.ts";
import { depthwiseBackpropFilter, depthwiseBackpropInput } from "./depthwise.ts";
import { deferred } from "./lazy.ts";
import { cpuConv2D, cpuMatMul } from "./gemm.ts";
import { matMulUntransposed } from "./matmul.ts";
import { runSplit } from "./threads/index.ts";
import { cropAndResize, mirrorPad, type CropAndResizeAttrs, type MirrorPadAttrs } from "./image.ts";
import { avgPoolGrad, maxPoolGrad, type PoolGradAttrs } from "./pool.ts";
import { BATCH_NORM_GRAD, batchNormGrad, registerEngineGradients } from "./batchnorm.ts";
import { meanLeading, padV2, sumLeading, tile } from "./reduce.ts";
import { WEBGPU_KERNELS } from "./webgpu/index.ts";

type TensorInfo = tf.TensorInfo;
type Impl = (ctx: KernelContext, inputs: Record<string, TensorInfo>, attrs: Record<string, unknown>) => TensorInfo;

/** A kernel with a JS implementation on cpu and an XNNPACK-based one on wasm, both taking the kernel's name. */
type NamedImpl<Name extends string> = (
  ctx: KernelContext,
  name: Name,
  inputs: Record<string, TensorInfo>,
  attrs: Record<string, unknown>,
) => TensorInfo;
function byBackend<Name extends string>(name: Name, onCpu: NamedImpl<Name>, onWasm: NamedImpl<Name>): Impl {
  return (ctx, inputs, attrs) => (ctx.name === "cpu" ? onCpu : onWasm)(ctx, name, inputs, attrs);
}

/** Every engine kernel once: its name, the backends that get it, and what it computes. */
const KERNELS: readonly { name: string; backends: readonly EngineBackendName[]; impl: Impl }[] = [
  {
    name: "Conv2DBackpropFilter",
    backends: ["wasm", "cpu"],
    impl: (ctx, { x, dy }, attrs) => conv2dBackpropFilter(ctx, x, dy, attrs as unknown as BackpropFilterAttrs),
  },
  {
    name: "Conv2DBackpropInput",
    backends: ["wasm", "cpu"],
    impl: (ctx, { dy, filter }, attrs) => conv2dBackpropInput(ctx, dy, filter, attrs as unknown as BackpropInputAttrs),
  },
  {
    name: "DepthwiseConv2dNativeBackpropFilter",
    backends: ["wasm"],
    impl: (ctx, { x, dy }, attrs) => depthwiseBackpropFilter(ctx, x, dy, attrs as unknown as Parameters<typeof depthwiseBackpropFilter>[3]),
  },
  {
    name: "DepthwiseConv2dNativeBackpropInput",
    backends: ["wasm"],
    impl: (ctx, { dy, filter }, attrs) =>
      depthwiseBackpropInput(ctx, dy, filter, attrs as unknown as Parameters<typeof depthwiseBackpropInput>[3]),
  },
  { name: "Conv2D", backends: ["wasm", "cpu"], impl: byBackend("Conv2D", cpuConv2D, conv2dForward) },
  { name: "FusedConv2D", backends: ["wasm", "cpu"], impl: byBackend("FusedConv2D", cpuConv2D, conv2dForward) },
  // Stock kernels, registered so that they can be split across kernel worker threads.
  { name: "DepthwiseConv2dNative", backends: ["wasm"], impl: (ctx, inputs, attrs) => ctx.run("DepthwiseConv2dNative", inputs, attrs) },
  { name: "FusedDepthwiseConv2D", backends: ["wasm"], impl: (ctx, inputs, attrs) => ctx.run("FusedDepthwiseConv2D", inputs, attrs) },
  { name: "BatchMatMul", backends: ["wasm", "cpu"], impl: byBackend("BatchMatMul", cpuMatMul, matMulUntransposed) },
  { name: "_FusedMatMul", backends: ["wasm", "cpu"], impl: byBackend("_FusedMatMul", cpuMatMul, matMulUntransposed) },
  {
    name: "MaxPoolGrad",
    backends: ["wasm", "cpu"],
    impl: (ctx, { dy, input }, attrs) => maxPoolGrad(ctx, dy, input, attrs as unknown as PoolGradAttrs),
  },
  {
    name: "Sum",
    backends: ["wasm", "cpu"],
    impl: (ctx, { x }, attrs) => sumLeading(ctx, x, attrs as unknown as Parameters<typeof sumLeading>[2]),
  },
  {
    name: "Mean",
    backends: ["wasm", "cpu"],
    impl: (ctx, { x }, attrs) => meanLeading(ctx, x, attrs as unknown as Parameters<typeof meanLeading>[2]),
  },
  { name: "Tile", backends: ["wasm", "cpu"], impl: (ctx, { x }, attrs) => tile(ctx, x, attrs as unknown as Parameters<typeof tile>[2]) },
  { name: "PadV2", backends: ["wasm", "cpu"], impl: (ctx, { x }, attrs) => padV2(ctx, x, attrs as unknown as Parameters<typeof padV2>[2]) },
  {
    name: "AvgPoolGrad",
    backends: ["wasm", "cpu"],
    impl: (ctx, { dy, input }, attrs) => avgPoolGrad(ctx, dy, input, attrs as unknown as PoolGradAttrs),
  },
  // Shares the input's memory, as Reshape does (and the cpu backend's Identity), instead of copying
  // it: tfjs-core clones every tensor its gradient tape saves, ~550 a ResNet-18 step.
  {
    name: "Identity",
    backends: ["wasm"],
    impl: (ctx, inputs) => (inputs.x.dtype === "string" ? ctx.run("Identity", inputs) : ctx.shared(inputs.x)),
  },
  {
    name: "MirrorPad",
    backends: ["wasm"],
    impl: (ctx, inputs, attrs) => mirrorPad(ctx, inputs.x, attrs as unknown as MirrorPadAttrs) ?? ctx.run("MirrorPad", inputs, attrs),
  },
  {
    name: "CropAndResize",
    backends: ["wasm"],
    impl: (ctx, inputs, attrs) =>
      cropAndResize(ctx, inputs.image, inputs.boxes, inputs.boxInd, attrs as unknown as CropAndResizeAttrs) ??
      ctx.run("CropAndResize", inputs, attrs),
  },
];

/** Which engine kernels each backend gets. */
export const ENGINE_KERNELS: Record<EngineBackendName, readonly string[]> = {
  wasm: KERNELS.filter((k) => k.backends.includes("wasm")).map((k) => k.name),
  cpu: KERNELS.filter((k) => k.backends.includes("cpu")).map((k) => k.name),
};
const impls = new Map(KERNELS.map((k) => [k.name, k.impl]));

const registered = new Set<string>();

/** One KernelContext per backend instance, shared by every engine kernel on it. */
const contexts = new WeakMap<object, KernelContext>();

function contextFor(backend: object, backendName: EngineBackendName): KernelContext {
  let ctx = contexts.get(backend);
  if (!ctx) {
    ctx = new KernelContext(backend as tf.KernelBackend, backendName);
    contexts.set(backend, ctx);
  }
  return ctx;
}

/** Kernels the engine registered for a backend (empty before registerEngineKernels). */
export function engineKernelNames(backendName: string): string[] {
  return [...registered].filter((k) => k.startsWith(`${backendName}/`)).map((k) => k.slice(backendName.length + 1));
}

/** webgpu: the stock kernels replaced where they disagree with the cpu ones (./webgpu). */
function registerWebGpuKernels(): string[] {
  for (const [kernelName, kernelFunc] of Object.entries(WEBGPU_KERNELS)) {
    const key = `webgpu/${kernelName}`;
    if (registered.has(key)) continue;
    captureStock(kernelName, "webgpu");
    if (tf.getKernel(kernelName, "webgpu")) tf.unregisterKernel(kernelName, "webgpu");
    tf.registerKernel({ kernelName, backendName: "webgpu", kernelFunc });
    registered.add(key);
  }
  return engineKernelNames("webgpu");
}

export function registerEngineKernels(backendName: string): string[] {
  if (backendName === "webgpu") return registerWebGpuKernels();
  if (backendName !== "wasm" && backendName !== "cpu") return [];
  for (const kernelName of ENGINE_KERNELS[backendName]) {
    const key = `${backendName}/${kernelName}`;
    if (registered.has(key)) continue;
    captureStock(kernelName, backendName);
    if (tf.getKernel(kernelName, backendName)) tf.unregisterKernel(kernelName, backendName);
    const impl = impls.get(kernelName)!;
    tf.registerKernel({
      kernelName,
      backendName,
      kernelFunc: ({ inputs, attrs, backend }) => {
        const ins = inputs as Record<string, TensorInfo>;
        const at = attrs as Record<string, unknown>;
        const c = contextFor(backend, backendName);
        const run = () => runSplit(c, kernelName, ins, at, (i, a) => impl(c, i, a)) ?? impl(c, ins, at);
        // Input gradients are often dropped unread (the first layer's): compute them on demand.
        if (kernelName === "Conv2DBackpropInput") {
          return deferred(c, (at.inputShape as number[]).slice(), Object.values(ins), run);
        }
        return run();
      },
    });
    registered.add(key);
  }
  const gradKey = `${backendName}/${BATCH_NORM_GRAD}`;
  if (!registered.has(gradKey)) {
    tf.registerKernel({
      kernelName: BATCH_NORM_GRAD,
      backendName,
      kernelFunc: ({ inputs, attrs, backend }) =>
        batchNormGrad(
          contextFor(backend, backendName),
          inputs as unknown as Parameters<typeof batchNormGrad>[1],
          attrs as unknown as { varianceEpsilon: number },
        ),
    });
    registered.add(gradKey);
  }
  registerEngineGradients();
  return engineKernelNames(backendName);
}

/** Puts the stock kernels back (tests and benchmarks compare against them). */
export function unregisterEngineKernels(backendName: string): void {
  for (const key of [...registered]) {
    if (!key.startsWith(`${backendName}/`)) continue;
    const kernelName = key.slice(backendName.length + 1);
    tf.unregisterKernel(kernelName, backendName);
    const stock = captureStock(kernelName, backendName);
    if (stock) tf.registerKernel(stock);
    registered.delete(key);
  }
}

export { KernelContext } from "./context.ts";
export { kernelThreads, startKernelWorkers, stopKernelWorkers } from "./threads/index.ts";
