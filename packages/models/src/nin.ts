import * as tf from "@tensorflow/tfjs";
import { modelInput } from "./input.ts";
import { conv2d, dropout, globalAvgPool, kernelInitializer, maxPool2d, softmax, type KernelInitializer, type Tensor } from "./layers.ts";
import type { ParsedOptions } from "./options.ts";
import { registerModelWithOptions } from "./registry.ts";
import { HEAD_PREFIX, type BuildOptions } from "./types.ts";

const optionSpec = {
  dropout: { kind: "number", default: 0.5, min: 0, max: 0.95 },
} as const;

interface NinBlockSpec {
  filters: number;
  kernelSize: number;
  strides: number;
  padding: number;
}

/** One spatial conv followed by two 1×1 convs (the "micro network"), all ReLU. */
function ninBlock(x: Tensor, prefix: string, { filters, kernelSize, strides, padding }: NinBlockSpec, init: KernelInitializer): Tensor {
  x = conv2d(x, `${prefix}_conv1`, { filters, kernelSize, strides, padding, activation: "relu", init });
  x = conv2d(x, `${prefix}_conv2`, { filters, kernelSize: 1, activation: "relu", init });
  return conv2d(x, `${prefix}_conv3`, { filters, kernelSize: 1, activation: "relu", init });
}

const backbone: NinBlockSpec[] = [
  { filters: 96, kernelSize: 11, strides: 4, padding: 0 },
  { filters: 256, kernelSize: 5, strides: 1, padding: 2 },
  { filters: 384, kernelSize: 3, strides: 1, padding: 1 },
];

function buildNin(
  { inputShape, classes, inputScaling, initializer }: BuildOptions,
  config: ParsedOptions<typeof optionSpec>,
): tf.LayersModel {
  const init = kernelInitializer("relu", initializer);
  const { input, features } = modelInput(inputShape, inputScaling);
  let x = features;
  backbone.forEach((spec, index) => {
    x = ninBlock(x, `block${index + 1}`, spec, init);
    x = maxPool2d(x, `block${index + 1}_pool`, { poolSize: 3, strides: 2 });
  });
  // No dense layer: the last NiN block emits one channel per class, averaged over space, so it is the head.
  x = dropout(x, `${HEAD_PREFIX}_dropout`, config.dropout);
  x = ninBlock(x, HEAD_PREFIX, { filters: classes, kernelSize: 3, strides: 1, padding: 1 }, init);
  x = globalAvgPool(x, `${HEAD_PREFIX}_pool`);
  return tf.model({ inputs: input, outputs: softmax(x), name: "nin" });
}

registerModelWithOptions({
  name: "nin",
  family: "nin",
  // Lin, Chen & Yan, Network In Network (ICLR 2014)
  paper: "Lin et al., Network In Network (2014)",
  year: 2014,
  description:
    "The notes' NiN: three NiN blocks with 3×3/2 max pools, dropout, a class-wide NiN block and global average pooling; option dropout.",
  defaultInputShape: [224, 224, 1],
  // Three valid 3×3/2 max pools after the 11×11/4 conv: 67 is the smallest input that leaves 1×1.
  minInputSize: 67,
  optionSpec,
  build: buildNin,
});
