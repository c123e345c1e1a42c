import * as tf from "@tensorflow/tfjs";
import { modelInput } from "./input.ts";
import {
  classifierHead,
  concatenate,
  conv2d,
  globalAvgPool,
  kernelInitializer,
  maxPool2d,
  type KernelInitializer,
  type Tensor,
} from "./layers.ts";
import { registerModelWithOptions } from "./registry.ts";
import type { BuildOptions } from "./types.ts";

/** The notes' Inception(c1, c2, c3, c4): 1×1 | 1×1→3×3 | 1×1→5×5 | 3×3 max pool→1×1 output channels. */
type InceptionSpec = [number, [number, number], [number, number], number];

function inception(x: Tensor, prefix: string, [c1, c2, c3, c4]: InceptionSpec, init: KernelInitializer): Tensor {
  const conv = (input: Tensor, name: string, filters: number, kernelSize: number) =>
    conv2d(input, `${prefix}_${name}`, { filters, kernelSize, padding: (kernelSize - 1) / 2, activation: "relu", init });
  const branch1 = conv(x, "branch1_conv", c1, 1);
  const branch2 = conv(conv(x, "branch2_conv1", c2[0], 1), "branch2_conv2", c2[1], 3);
  const branch3 = conv(conv(x, "branch3_conv1", c3[0], 1), "branch3_conv2", c3[1], 5);
  const branch4 = conv(maxPool2d(x, `${prefix}_branch4_pool`, { poolSize: 3, strides: 1, padding: 1 }), "branch4_conv", c4, 1);
  return concatenate([branch1, branch2, branch3, branch4], `${prefix}_concat`);
}

/** Stages b3–b5 of the notes; each but the last ends in a 3×3/2 max pool. */
const inceptionStages: InceptionSpec[][] = [
  [
    [64, [96, 128], [16, 32], 32],
    [128, [128, 192], [32, 96], 64],
  ],
  [
    [192, [96, 208], [16, 48], 64],
    [160, [112, 224], [24, 64], 64],
    [128, [128, 256], [24, 64], 64],
    [112, [144, 288], [32, 64], 64],
    [256, [160, 320], [32, 128], 128],
  ],
  [
    [256, [160, 320], [32, 128], 128],
    [384, [192, 384], [48, 128], 128],
  ],
];

const optionSpec = {} as const;

function buildGoogLeNet({ inputShape, classes, inputScaling, initializer }: BuildOptions): tf.LayersModel {
  const init = kernelInitializer("relu", initializer);
  const { input, features } = modelInput(inputShape, inputScaling);
  let x = conv2d(features, "stage1_conv", { filters: 64, kernelSize: 7, strides: 2, padding: 3, activation: "relu", init });
  x = maxPool2d(x, "stage1_pool", { poolSize: 3, strides: 2, padding: 1 });
  x = conv2d(x, "stage2_conv1", { filters: 64, kernelSize: 1, activation: "relu", init });
  x = conv2d(x, "stage2_conv2", { filters: 192, kernelSize: 3, padding: 1, activation: "relu", init });
  x = maxPool2d(x, "stage2_pool", { poolSize: 3, strides: 2, padding: 1 });
  inceptionStages.forEach((blocks, stageIndex) => {
    const stage = `stage${stageIndex + 3}`;
    blocks.forEach((spec, blockIndex) => (x = inception(x, `${stage}_block${blockIndex + 1}`, spec, init)));
    if (stageIndex < inceptionStages.length - 1) x = maxPool2d(x, `${stage}_pool`, { poolSize: 3, strides: 2, padding: 1 });
  });
  x = globalAvgPool(x, "global_pool");
  return tf.model({ inputs: input, outputs: classifierHead(x, classes), name: "googlenet" });
}

registerModelWithOptions({
  name: "googlenet",
  family: "googlenet",
  // Szegedy et al., Going Deeper with Convolutions (CVPR 2015)
  paper: "Szegedy et al., Going Deeper with Convolutions (2015)",
  year: 2015,
  description:
    "The notes' GoogLeNet (Inception v1) stages b1–b5: nine Inception blocks, global average pooling, one dense layer; no auxiliary heads.",
  defaultInputShape: [96, 96, 1],
  // All pools are padded, so any size runs; below the total stride of 32 the last stages see mostly padding.
  minInputSize: 32,
  optionSpec,
  build: buildGoogLeNet,
});
