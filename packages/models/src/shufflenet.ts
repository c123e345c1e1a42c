import * as tf from "@tensorflow/tfjs";
import { ChannelShuffle, ChannelSlice } from "./customLayers.ts";
import { modelInput } from "./input.ts";
import {
  apply,
  classifierHead,
  concatenate,
  convBnAct,
  depthwiseBnAct,
  globalAvgPool,
  kernelInitializer,
  maxPool2d,
  type KernelInitializer,
  type Tensor,
} from "./layers.ts";
import type { ParsedOptions } from "./options.ts";
import { registerModelWithOptions } from "./registry.ts";
import type { BuildOptions } from "./types.ts";

/** Output channels of stages 2–4 and of conv5 for each width in Table 5 of the paper. */
const widths: Record<string, [number, number, number, number]> = {
  "0.5": [48, 96, 192, 1024],
  "1": [116, 232, 464, 1024],
  "1.5": [176, 352, 704, 1024],
  "2": [244, 488, 976, 2048],
};
const repeats = [4, 8, 4];

const optionSpec = {
  widthMultiplier: { kind: "number", default: 1, oneOf: [0.5, 1, 1.5, 2] },
} as const;

/** 1×1 → depthwise 3×3 → 1×1 on half the channels. */
function mainBranch(x: Tensor, prefix: string, channels: number, strides: number, init: KernelInitializer): Tensor {
  x = convBnAct(x, `${prefix}_pw1`, { filters: channels, kernelSize: 1, init }, "relu");
  // No ReLU after the depthwise conv: the paper keeps depthwise outputs linear.
  x = depthwiseBnAct(x, `${prefix}_dw`, { kernelSize: 3, strides, init }, null);
  return convBnAct(x, `${prefix}_pw2`, { filters: channels, kernelSize: 1, init }, "relu");
}

/**
 * Stride 1: split the channels, transform one half, concatenate, shuffle.
 * Stride 2: both halves see the whole input (one through a strided depthwise + 1×1), doubling channels.
 */
function shuffleUnit(x: Tensor, prefix: string, outChannels: number, strides: number, init: KernelInitializer): Tensor {
  const half = outChannels / 2;
  let left: Tensor;
  let right: Tensor;
  if (strides === 1) {
    left = apply(new ChannelSlice({ start: 0, size: half, name: `${prefix}_split_left` }), x);
    right = apply(new ChannelSlice({ start: half, size: half, name: `${prefix}_split_right` }), x);
    right = mainBranch(right, `${prefix}_branch2`, half, 1, init);
  } else {
    left = depthwiseBnAct(x, `${prefix}_branch1_dw`, { kernelSize: 3, strides, init }, null);
    left = convBnAct(left, `${prefix}_branch1_pw`, { filters: half, kernelSize: 1, init }, "relu");
    right = mainBranch(x, `${prefix}_branch2`, half, strides, init);
  }
  const joined = concatenate([left, right], `${prefix}_concat`);
  return apply(new ChannelShuffle({ groups: 2, name: `${prefix}_shuffle` }), joined);
}

function buildShuffleNetV2(
  { inputShape, classes, inputScaling, initializer }: BuildOptions,
  { widthMultiplier }: ParsedOptions<typeof optionSpec>,
): tf.LayersModel {
  const [stage2, stage3, stage4, finalChannels] = widths[String(widthMultiplier)];
  const init = kernelInitializer("relu", initializer);
  const { input, features } = modelInput(inputShape, inputScaling);
  let x = convBnAct(features, "stem_conv", { filters: 24, kernelSize: 3, strides: 2, padding: 1, init }, "relu");
  x = maxPool2d(x, "stem_pool", { poolSize: 3, strides: 2, padding: 1 });
  [stage2, stage3, stage4].forEach((channels, stageIndex) => {
    for (let block = 0; block < repeats[stageIndex]; block++) {
      x = shuffleUnit(x, `stage${stageIndex + 1}_block${block + 1}`, channels, block === 0 ? 2 : 1, init);
    }
  });
  x = convBnAct(x, "final_conv", { filters: finalChannels, kernelSize: 1, init }, "relu");
  x = globalAvgPool(x, "global_pool");
  return tf.model({ inputs: input, outputs: classifierHead(x, classes), name: "shufflenet-v2" });
}

registerModelWithOptions({
  name: "shufflenet-v2",
  family: "shufflenet",
  // Ma et al., ShuffleNet V2: Practical Guidelines for Efficient CNN Architecture Design (ECCV 2018)
  paper: "Ma et al., ShuffleNet V2: Practical Guidelines for Efficient CNN Architecture Design (2018)",
  year: 2018,
  description:
    "ShuffleNet v2: channel split, depthwise 3×3 and channel shuffle in units of stages [4, 8, 4], a 1×1 conv5; option widthMultiplier (0.5, 1, 1.5, 2).",
  defaultInputShape: [96, 96, 1],
  // Five stride-2 layers, all padded: 32 is the total stride.
  minInputSize: 32,
  optionSpec,
  build: buildShuffleNetV2,
});
