import * as tf from "@tensorflow/tfjs";
import { activation, batchNorm, classifierHead, conv2d, dense, dropout, kernelInitializer, maxPool2d } from "../layers.ts";
import type { ParsedOptions } from "../options.ts";
import { registerVariant } from "../registry.ts";
import type { BuildOptions, InputShape } from "../types.ts";
import { adaptiveAvgPool, checkAdaptivePool, convOutputSize, flattenChannelsFirst, imagenetInput, TORCHVISION } from "./common.ts";

/**
 * torchvision's VGG and AlexNet: `features.<i>` and `classifier.<i>` keep their Sequential indices (`features.3` →
 * `features_3`), the last linear layer is `head_fc`. Both flatten channels-first after an adaptive average pool.
 */

const vggOptions = {
  /** torchvision's `vgg11_bn`, `vgg16_bn`: batch norm after every conv. */
  batchNorm: { kind: "boolean", default: false },
} as const;

/** Output channels of each 3×3 conv, "M" for a 2×2/2 max pool: torchvision's `cfgs`. */
type VggConfig = ReadonlyArray<number | "M">;

function buildVgg(
  name: string,
  config: VggConfig,
  { inputShape, classes, initializer }: BuildOptions,
  withBatchNorm: boolean,
): tf.LayersModel {
  const init = kernelInitializer("relu", initializer);
  const { input, features } = imagenetInput(inputShape);
  let x = features;
  let index = 0;
  for (const entry of config) {
    if (entry === "M") {
      x = maxPool2d(x, `features_${index++}`, { poolSize: 2, strides: 2 });
      continue;
    }
    x = conv2d(x, `features_${index++}`, { filters: entry, kernelSize: 3, padding: 1, init });
    if (withBatchNorm) x = batchNorm(x, `features_${index++}`);
    x = activation(x, `features_${index++}`, "relu");
  }
  x = flattenChannelsFirst(adaptiveAvgPool(x, "avgpool", 7), "flatten");
  x = dense(x, "classifier_0", { units: 4096, activation: "relu", init });
  x = dropout(x, "classifier_2", 0.5);
  x = dense(x, "classifier_3", { units: 4096, activation: "relu", init });
  // classifier.5 (dropout) and classifier.6 (the last linear layer) are the head.
  return tf.model({ inputs: input, outputs: classifierHead(x, classes, 0.5), name: `${name}${withBatchNorm ? "_bn" : ""}_torchvision` });
}

const vggFeatureSide = (inputShape: InputShape) => Math.floor(Math.min(inputShape[0], inputShape[1]) / 32);

function vgg(name: string, config: VggConfig): void {
  registerVariant(name, TORCHVISION, {
    optionSpec: vggOptions,
    checkInput: ([height, width]) => checkAdaptivePool(vggFeatureSide([height, width, 3]), 7, height, width),
    build: (options, parsed: ParsedOptions<typeof vggOptions>) => buildVgg(name, config, options, parsed.batchNorm),
  });
}

// Simonyan & Zisserman, Very Deep Convolutional Networks for Large-Scale Image Recognition (ICLR 2015), configurations A and D
vgg("vgg11", [64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"]);
vgg("vgg16", [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"]);

/** [index in `features`, filters, kernel, stride, padding, index of the 3×3/2 max pool that follows or null]. */
const alexnetConvs: Array<[number, number, number, number, number, number | null]> = [
  [0, 64, 11, 4, 2, 2],
  [3, 192, 5, 1, 2, 5],
  [6, 384, 3, 1, 1, null],
  [8, 256, 3, 1, 1, null],
  [10, 256, 3, 1, 1, 12],
];

function alexnetFeatureSide(side: number): number {
  for (const [, , kernelSize, strides, padding, pool] of alexnetConvs) {
    side = convOutputSize(side, kernelSize, strides, padding);
    if (pool !== null) side = convOutputSize(side, 3, 2, 0);
  }
  return side;
}

function buildAlexNet({ inputShape, classes, initializer }: BuildOptions): tf.LayersModel {
  const init = kernelInitializer("relu", initializer);
  const { input, features } = imagenetInput(inputShape);
  let x = features;
  for (const [index, filters, kernelSize, strides, padding, pool] of alexnetConvs) {
    x = conv2d(x, `features_${index}`, { filters, kernelSize, strides, padding, init });
    x = activation(x, `features_${index + 1}`, "relu");
    if (pool !== null) x = maxPool2d(x, `features_${pool}`, { poolSize: 3, strides: 2 });
  }
  x = flattenChannelsFirst(adaptiveAvgPool(x, "avgpool", 6), "flatten");
  x = dropout(x, "classifier_0", 0.5);
  x = dense(x, "classifier_1", { units: 4096, activation: "relu", init });
  x = dropout(x, "classifier_3", 0.5);
  x = dense(x, "classifier_4", { units: 4096, activation: "relu", init });
  return tf.model({ inputs: input, outputs: classifierHead(x, classes), name: "alexnet_torchvision" });
}

// Krizhevsky, One weird trick for parallelizing convolutional neural networks (2014): torchvision's 64-192-384-256-256 AlexNet
registerVariant("alexnet", TORCHVISION, {
  optionSpec: {},
  checkInput: ([height, width]) => checkAdaptivePool(alexnetFeatureSide(Math.min(height, width)), 6, height, width),
  build: buildAlexNet,
});
