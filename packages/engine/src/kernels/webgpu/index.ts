/**
 * The engine's kernels on TF.js's `webgpu` backend: replacements for the stock kernels that the
 * webgpu kernel table (test/webgpuKernels.test.ts) found to disagree with the stock `cpu` ones.
 * Registered by registerEngineKernels("webgpu") (../index.ts).
 */
import type * as tf from "@tensorflow/tfjs";
import { webgpuMaxPoolGrad, type MaxPoolGradAttrs } from "./maxPoolGrad.ts";

export const WEBGPU_KERNELS: Record<string, tf.KernelFunc> = {
  MaxPoolGrad: ({ inputs, attrs, backend }) =>
    webgpuMaxPoolGrad(
      backend as tf.KernelBackend,
      inputs.dy as tf.TensorInfo,
      inputs.input as tf.TensorInfo,
      attrs as unknown as MaxPoolGradAttrs,
    ),
};
