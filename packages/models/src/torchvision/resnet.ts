import * as tf from "@tensorflow/tfjs";
import {
  activation,
  add,
  batchNorm,
  channelCount,
  classifierHead,
  conv2d,
  globalAvgPool,
  kernelInitializer,
  maxPool2d,
  type KernelInitializer,
  type Tensor,
} from "../layers.ts";
import { registerVariant } from "../registry.ts";
import type { BuildOptions } from "../types.ts";
import { imagenetInput, TORCHVISION } from "./common.ts";

/** torchvision's ResNet: layers named after its modules (`layer2.0.downsample.0` → `layer2_0_downsample_0`), `fc` → `head_fc`. */

type BlockKind = "basic" | "bottleneck";

function convBn(
  x: Tensor,
  prefix: string,
  index: number,
  spec: { filters: number; kernelSize: number; strides: number },
  init: KernelInitializer,
) {
  const padding = (spec.kernelSize - 1) / 2;
  const conv = conv2d(x, `${prefix}_conv${index}`, { ...spec, padding, useBias: false, init });
  return batchNorm(conv, `${prefix}_bn${index}`);
}

/** BasicBlock (two 3×3) or Bottleneck (1×1, 3×3 with the stride — "v1.5" — and 1×1 to 4× the width). */
function block(x: Tensor, prefix: string, kind: BlockKind, width: number, strides: number, init: KernelInitializer): Tensor {
  const outChannels = kind === "bottleneck" ? 4 * width : width;
  const convs: Array<[number, number, number]> =
    kind === "basic"
      ? [
          [3, width, strides],
          [3, width, 1],
        ]
      : [
          [1, width, 1],
          [3, width, strides],
          [1, outChannels, 1],
        ];
  let branch = x;
  convs.forEach(([kernelSize, filters, convStrides], index) => {
    if (index > 0) branch = activation(branch, `${prefix}_relu${index}`, "relu");
    branch = convBn(branch, prefix, index + 1, { filters, kernelSize, strides: convStrides }, init);
  });
  let shortcut = x;
  if (strides !== 1 || channelCount(x) !== outChannels) {
    shortcut = conv2d(x, `${prefix}_downsample_0`, { filters: outChannels, kernelSize: 1, strides, useBias: false, init });
    shortcut = batchNorm(shortcut, `${prefix}_downsample_1`);
  }
  return activation(add([branch, shortcut], `${prefix}_add`), `${prefix}_out`, "relu");
}

function buildResNet(
  name: string,
  kind: BlockKind,
  blocksPerStage: number[],
  { inputShape, classes, initializer }: BuildOptions,
): tf.LayersModel {
  const init = kernelInitializer("relu", initializer);
  const { input, features } = imagenetInput(inputShape);
  let x = conv2d(features, "conv1", { filters: 64, kernelSize: 7, strides: 2, padding: 3, useBias: false, init });
  x = activation(batchNorm(x, "bn1"), "relu", "relu");
  x = maxPool2d(x, "maxpool", { poolSize: 3, strides: 2, padding: 1 });
  blocksPerStage.forEach((blocks, stage) => {
    for (let index = 0; index < blocks; index++) {
      const strides = stage > 0 && index === 0 ? 2 : 1;
      x = block(x, `layer${stage + 1}_${index}`, kind, 64 * 2 ** stage, strides, init);
    }
  });
  x = globalAvgPool(x, "avgpool");
  return tf.model({ inputs: input, outputs: classifierHead(x, classes), name: `${name}_torchvision` });
}

function variant(name: string, kind: BlockKind, blocksPerStage: number[]): void {
  registerVariant(name, TORCHVISION, { optionSpec: {}, build: (options) => buildResNet(name, kind, blocksPerStage, options) });
}

// He et al., Deep Residual Learning for Image Recognition (CVPR 2016), as torchvision.models builds them
variant("resnet18", "basic", [2, 2, 2, 2]);
variant("resnet34", "basic", [3, 4, 6, 3]);
variant("resnet50", "bottleneck", [3, 4, 6, 3]);
