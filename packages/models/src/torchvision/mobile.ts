import * as tf from "@tensorflow/tfjs";
import { squeezeExcite } from "../attention.ts";
import { StochasticDepth } from "../customLayers.ts";
import { roundChannels } from "../divisible.ts";
import {
  activation,
  add,
  apply,
  batchNorm,
  channelCount,
  classifierHead,
  conv2d,
  depthwiseConv2d,
  globalAvgPool,
  kernelInitializer,
  type Activation,
  type KernelInitializer,
  type Tensor,
} from "../layers.ts";
import { registerVariant } from "../registry.ts";
import type { BuildOptions } from "../types.ts";
import { imagenetInput, TORCHVISION } from "./common.ts";

/**
 * torchvision's MobileNetV2 and EfficientNet-B0. A Conv2dNormActivation at module path `p` is the layers `p_0`
 * (conv, bias-free) and `p_1` (batch norm); blocks keep their Sequential indices; `classifier.1` is `head_fc`.
 */

interface ConvNormSpec {
  filters: number;
  kernelSize: number;
  strides?: number;
  depthwise?: boolean;
}

function convNormActivation(x: Tensor, path: string, spec: ConvNormSpec, kind: Activation | null, init: KernelInitializer): Tensor {
  const { filters, kernelSize, strides = 1, depthwise = false } = spec;
  const conv = depthwise
    ? depthwiseConv2d(x, `${path}_0`, { kernelSize, strides, init })
    : conv2d(x, `${path}_0`, { filters, kernelSize, strides, padding: (kernelSize - 1) / 2, useBias: false, init });
  const normalized = batchNorm(conv, `${path}_1`);
  return kind ? activation(normalized, `${path}_${kind}`, kind) : normalized;
}

/** [expansion t, output channels c, repeats n, first stride s]: torchvision's inverted_residual_setting. */
const mobilenetV2Stages: Array<[number, number, number, number]> = [
  [1, 16, 1, 1],
  [6, 24, 2, 2],
  [6, 32, 3, 2],
  [6, 64, 4, 2],
  [6, 96, 3, 1],
  [6, 160, 3, 2],
  [6, 320, 1, 1],
];

function invertedResidual(x: Tensor, path: string, expansion: number, filters: number, strides: number, init: KernelInitializer): Tensor {
  const inChannels = channelCount(x);
  const hidden = Math.round(inChannels * expansion);
  let index = 0;
  let y = x;
  if (expansion !== 1) y = convNormActivation(y, `${path}_conv_${index++}`, { filters: hidden, kernelSize: 1 }, "relu6", init);
  y = convNormActivation(y, `${path}_conv_${index++}`, { filters: hidden, kernelSize: 3, strides, depthwise: true }, "relu6", init);
  y = conv2d(y, `${path}_conv_${index++}`, { filters, kernelSize: 1, useBias: false, init });
  y = batchNorm(y, `${path}_conv_${index}`);
  return strides === 1 && inChannels === filters ? add([x, y], `${path}_add`) : y;
}

function buildMobileNetV2({ inputShape, classes, initializer }: BuildOptions): tf.LayersModel {
  const init = kernelInitializer("relu", initializer);
  const { input, features } = imagenetInput(inputShape);
  let x = convNormActivation(features, "features_0", { filters: 32, kernelSize: 3, strides: 2 }, "relu6", init);
  let feature = 1;
  for (const [expansion, channels, repeats, firstStride] of mobilenetV2Stages) {
    for (let block = 0; block < repeats; block++) {
      x = invertedResidual(x, `features_${feature++}`, expansion, roundChannels(channels, 1), block === 0 ? firstStride : 1, init);
    }
  }
  x = convNormActivation(x, `features_${feature}`, { filters: 1280, kernelSize: 1 }, "relu6", init);
  x = globalAvgPool(x, "avgpool");
  return tf.model({ inputs: input, outputs: classifierHead(x, classes, 0.2), name: "mobilenet_v2_torchvision" });
}

// Sandler et al., MobileNetV2: Inverted Residuals and Linear Bottlenecks (CVPR 2018), as torchvision.models.mobilenet_v2
registerVariant("mobilenet-v2", TORCHVISION, { optionSpec: {}, build: buildMobileNetV2 });

/** [expansion, kernel, first stride, output channels, repeats]: torchvision's B0 MBConvConfig list. */
const efficientNetB0Stages: Array<[number, number, number, number, number]> = [
  [1, 3, 1, 16, 1],
  [6, 3, 2, 24, 2],
  [6, 5, 2, 40, 2],
  [6, 3, 2, 80, 3],
  [6, 5, 1, 112, 3],
  [6, 5, 2, 192, 4],
  [6, 3, 1, 320, 1],
];

interface MbConvSpec {
  expansion: number;
  kernelSize: number;
  strides: number;
  filters: number;
  dropRate: number;
}

function mbConv(
  x: Tensor,
  path: string,
  { expansion, kernelSize, strides, filters, dropRate }: MbConvSpec,
  init: KernelInitializer,
): Tensor {
  const inChannels = channelCount(x);
  const expanded = roundChannels(inChannels, expansion);
  let index = 0;
  let y = x;
  if (expanded !== inChannels) y = convNormActivation(y, `${path}_block_${index++}`, { filters: expanded, kernelSize: 1 }, "swish", init);
  y = convNormActivation(y, `${path}_block_${index++}`, { filters: expanded, kernelSize, strides, depthwise: true }, "swish", init);
  y = squeezeExcite(y, `${path}_block_${index++}`, { squeezeChannels: Math.max(1, Math.floor(inChannels / 4)), activation: "swish", init });
  y = convNormActivation(y, `${path}_block_${index}`, { filters, kernelSize: 1 }, null, init);
  if (strides !== 1 || inChannels !== filters) return y;
  return add([x, apply(new StochasticDepth({ rate: dropRate, name: `${path}_stochastic_depth` }), y)], `${path}_add`);
}

function buildEfficientNetB0({ inputShape, classes, initializer }: BuildOptions): tf.LayersModel {
  const init = kernelInitializer("swish", initializer);
  const { input, features } = imagenetInput(inputShape);
  let x = convNormActivation(features, "features_0", { filters: 32, kernelSize: 3, strides: 2 }, "swish", init);
  const totalBlocks = efficientNetB0Stages.reduce((sum, stage) => sum + stage[4], 0);
  let blockIndex = 0;
  efficientNetB0Stages.forEach(([expansion, kernelSize, firstStride, filters, repeats], stage) => {
    for (let block = 0; block < repeats; block++) {
      // torchvision's stochastic depth: 0.2 × (blocks before this one) / (all blocks).
      const spec = { expansion, kernelSize, strides: block === 0 ? firstStride : 1, filters, dropRate: (0.2 * blockIndex++) / totalBlocks };
      x = mbConv(x, `features_${stage + 1}_${block}`, spec, init);
    }
  });
  x = convNormActivation(x, "features_8", { filters: 4 * channelCount(x), kernelSize: 1 }, "swish", init);
  x = globalAvgPool(x, "avgpool");
  return tf.model({ inputs: input, outputs: classifierHead(x, classes, 0.2), name: "efficientnet_b0_torchvision" });
}

// Tan & Le, EfficientNet: Rethinking Model Scaling for Convolutional Neural Networks (ICML 2019), as torchvision.models.efficientnet_b0
registerVariant("efficientnet-b0", TORCHVISION, { optionSpec: {}, build: buildEfficientNetB0 });
