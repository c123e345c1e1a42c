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

const optionSpec = {
  /** Width of the two hidden dense layers: 4096 in the paper; far fewer suit 10-class data. */
  hiddenUnits: { kind: "number", default: 4096, integer: true, min: 1 },
  dropout: { kind: "number", default: 0.5, min: 0, max: 0.95 },
} as const;

/** [filters, kernel, stride, padding, followed by a 3×3/2 max pool] of the five convolutions. */
const convolutions: Array<[number, number, number, number, boolean]> = [
  [96, 11, 4, 2, true],
  [256, 5, 1, 2, true],
  [384, 3, 1, 1, false],
  [384, 3, 1, 1, false],
  [256, 3, 1, 1, true],
];

function features(x: Tensor, init: KernelInitializer): Tensor {
  let pools = 0;
  convolutions.forEach(([filters, kernelSize, strides, padding, pooled], index) => {
    x = conv2d(x, `features_conv${index + 1}`, { filters, kernelSize, strides, padding, activation: "relu", init });
    if (pooled) x = maxPool2d(x, `features_pool${++pools}`, { poolSize: 3, strides: 2 });
  });
  return flatten(x, "features_flatten");
}

function buildAlexNet(
  { inputShape, classes, inputScaling, initializer }: BuildOptions,
  config: ParsedOptions<typeof optionSpec>,
): tf.LayersModel {
  const init = kernelInitializer("relu", initializer);
  const { input, features: pixels } = modelInput(inputShape, inputScaling);
  const x = hiddenDenseLayers(features(pixels, init), { units: config.hiddenUnits, rate: config.dropout, init });
  // The notes also put a ReLU on the 1000 outputs; on logits it only clips, so the head is the plain softmax.
  return tf.model({ inputs: input, outputs: classifierHead(x, classes), name: "alexnet" });
}

registerModelWithOptions({
  name: "alexnet",
  family: "alexnet",
  // Krizhevsky, Sutskever & Hinton, ImageNet Classification with Deep Convolutional Neural Networks (NeurIPS 2012)
  paper: "Krizhevsky et al., ImageNet Classification with Deep Convolutional Neural Networks (2012)",
  year: 2012,
  description:
    "The notes' single-tower AlexNet: 11×11/4 stem with padding 2, five ReLU convs, two dropout-0.5 dense layers; options hiddenUnits, dropout.",
  defaultInputShape: [224, 224, 1],
  // Three valid 3×3/2 max pools after the 11×11/4 conv: 63 is the smallest input that leaves 1×1.
  minInputSize: 63,
  optionSpec,
  build: buildAlexNet,
});
