import * as tf from "@tensorflow/tfjs";
import { modelInput } from "./input.ts";
import {
  classifierHead,
  convBnAct,
  depthwiseBnAct,
  globalAvgPool,
  kernelInitializer,
  type KernelInitializer,
  type Tensor,
} from "./layers.ts";
import type { ParsedOptions } from "./options.ts";
import { registerModelWithOptions } from "./registry.ts";
import type { BuildOptions } from "./types.ts";

const optionSpec = {
  /** The paper's width multiplier α (1, 0.75, 0.5, 0.25 in its tables): every layer gets ⌊α·channels⌋. */
  widthMultiplier: { kind: "number", default: 1, min: 0.05, max: 4 },
} as const;

/** [pointwise output channels, depthwise stride] of the 13 depthwise-separable layers (Table 1 of the paper). */
const separableLayers: Array<[number, number]> = [
  [64, 1],
  [128, 2],
  [128, 1],
  [256, 2],
  [256, 1],
  [512, 2],
  [512, 1],
  [512, 1],
  [512, 1],
  [512, 1],
  [512, 1],
  [1024, 2],
  [1024, 1],
];

/** 3×3 depthwise conv → BN → ReLU, then 1×1 pointwise conv → BN → ReLU. */
function separable(x: Tensor, prefix: string, filters: number, strides: number, init: KernelInitializer): Tensor {
  x = depthwiseBnAct(x, `${prefix}_dw`, { kernelSize: 3, strides, init }, "relu");
  return convBnAct(x, `${prefix}_pw`, { filters, kernelSize: 1, init }, "relu");
}

function buildMobileNet(
  { inputShape, classes, inputScaling, initializer }: BuildOptions,
  { widthMultiplier }: ParsedOptions<typeof optionSpec>,
): tf.LayersModel {
  const width = (channels: number) => Math.max(1, Math.floor(channels * widthMultiplier));
  const init = kernelInitializer("relu", initializer);
  const { input, features } = modelInput(inputShape, inputScaling);
  let x = convBnAct(features, "stem_conv", { filters: width(32), kernelSize: 3, strides: 2, padding: 1, init }, "relu");
  separableLayers.forEach(([filters, strides], index) => (x = separable(x, `block${index + 1}`, width(filters), strides, init)));
  x = globalAvgPool(x, "global_pool");
  return tf.model({ inputs: input, outputs: classifierHead(x, classes), name: "mobilenet-v1" });
}

registerModelWithOptions({
  name: "mobilenet-v1",
  family: "mobilenet",
  // Howard et al., MobileNets: Efficient Convolutional Neural Networks for Mobile Vision Applications (2017)
  paper: "Howard et al., MobileNets: Efficient Convolutional Neural Networks for Mobile Vision Applications (2017)",
  year: 2017,
  description:
    "MobileNet v1: a strided 3×3 conv and 13 depthwise-separable layers with BN-ReLU, global average pooling; option widthMultiplier.",
  defaultInputShape: [96, 96, 1],
  // Five stride-2 layers, all padded: 32 is the total stride.
  minInputSize: 32,
  optionSpec,
  build: buildMobileNet,
});
