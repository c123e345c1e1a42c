import * as tf from "@tensorflow/tfjs";
import { modelInput } from "./input.ts";
import {
  classifierHead,
  conv2d,
  hiddenDenseLayers,
  flatten,
  kernelInitializer,
  maxPool2d,
  type KernelInitializer,
  type Tensor,
} from "./layers.ts";
import type { ParsedOptions } from "./options.ts";
import { registerModelWithOptions } from "./registry.ts";
import type { BuildOptions } from "./types.ts";

/** The notes' conv_arch: one (number of 3×3 convs, output channels) pair per VGG block. */
type ConvArch = ReadonlyArray<readonly [number, number]>;

const optionSpec = {
  /** Divides every conv's channels: the book trains VGG-11 on Fashion-MNIST with channels ÷ 4. */
  widthDivisor: { kind: "number", default: 1, integer: true, min: 1, max: 64 },
  hiddenUnits: { kind: "number", default: 4096, integer: true, min: 1 },
  dropout: { kind: "number", default: 0.5, min: 0, max: 0.95 },
} as const;

function vggBlock(x: Tensor, index: number, convs: number, filters: number, init: KernelInitializer): Tensor {
  for (let conv = 1; conv <= convs; conv++) {
    x = conv2d(x, `block${index}_conv${conv}`, { filters, kernelSize: 3, padding: 1, activation: "relu", init });
  }
  return maxPool2d(x, `block${index}_pool`, { poolSize: 2, strides: 2 });
}

function buildVgg(
  name: string,
  convArch: ConvArch,
  { inputShape, classes, inputScaling, initializer }: BuildOptions,
  config: ParsedOptions<typeof optionSpec>,
): tf.LayersModel {
  const init = kernelInitializer("relu", initializer);
  const { input, features } = modelInput(inputShape, inputScaling);
  let x = features;
  convArch.forEach(([convs, channels], index) => {
    x = vggBlock(x, index + 1, convs, Math.max(1, Math.floor(channels / config.widthDivisor)), init);
  });
  x = flatten(x, "features_flatten");
  x = hiddenDenseLayers(x, { units: config.hiddenUnits, rate: config.dropout, init });
  return tf.model({ inputs: input, outputs: classifierHead(x, classes), name });
}

function variant(name: string, convArch: ConvArch): void {
  const depth = convArch.reduce((sum, [convs]) => sum + convs, 0) + 3;
  registerModelWithOptions({
    name,
    family: "vgg",
    paper: "Simonyan & Zisserman, Very Deep Convolutional Networks for Large-Scale Image Recognition (2015)",
    year: 2015,
    description: `VGG-${depth}: five blocks of 3×3 convs each closed by a 2×2 max pool, then two 4096-unit dense layers; options widthDivisor, hiddenUnits, dropout.`,
    defaultInputShape: [224, 224, 1],
    // Five 2×2/2 max pools.
    minInputSize: 32,
    optionSpec,
    build: (options, config) => buildVgg(name, convArch, options, config),
  });
}

// Simonyan & Zisserman, Very Deep Convolutional Networks for Large-Scale Image Recognition (ICLR 2015), configurations A, B, D, E
variant("vgg11", [
  [1, 64],
  [1, 128],
  [2, 256],
  [2, 512],
  [2, 512],
]);
variant("vgg13", [
  [2, 64],
  [2, 128],
  [2, 256],
  [2, 512],
  [2, 512],
]);
variant("vgg16", [
  [2, 64],
  [2, 128],
  [3, 256],
  [3, 512],
  [3, 512],
]);
variant("vgg19", [
  [2, 64],
  [2, 128],
  [4, 256],
  [4, 512],
  [4, 512],
]);
