import * as tf from "@tensorflow/tfjs";
import { roundChannels } from "./divisible.ts";
import { modelInput } from "./input.ts";
import {
  channelCount,
  add,
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
  /** The paper's width multiplier (0.35–1.4 in its tables); channels are rounded to multiples of 8. */
  widthMultiplier: { kind: "number", default: 1, min: 0.05, max: 4 },
  dropout: { kind: "number", default: 0.2, min: 0, max: 0.95 },
} as const;

/** [expansion t, output channels c, repeats n, first stride s] of Table 2 of the paper. */
const stages: Array<[number, number, number, number]> = [
  [1, 16, 1, 1],
  [6, 24, 2, 2],
  [6, 32, 3, 2],
  [6, 64, 4, 2],
  [6, 96, 3, 1],
  [6, 160, 3, 2],
  [6, 320, 1, 1],
];

/** 1×1 expansion → 3×3 depthwise → linear 1×1 projection, with an identity shortcut when shapes agree. */
function invertedResidual(x: Tensor, prefix: string, expansion: number, filters: number, strides: number, init: KernelInitializer): Tensor {
  const inChannels = channelCount(x);
  let y = expansion === 1 ? x : convBnAct(x, `${prefix}_expand`, { filters: inChannels * expansion, kernelSize: 1, init }, "relu6");
  y = depthwiseBnAct(y, `${prefix}_dw`, { kernelSize: 3, strides, init }, "relu6");
  y = convBnAct(y, `${prefix}_project`, { filters, kernelSize: 1, init }, null);
  return strides === 1 && inChannels === filters ? add([x, y], `${prefix}_add`) : y;
}

function buildMobileNetV2(
  { inputShape, classes, inputScaling, initializer }: BuildOptions,
  { widthMultiplier, dropout }: ParsedOptions<typeof optionSpec>,
): tf.LayersModel {
  const init = kernelInitializer("relu", initializer);
  const { input, features } = modelInput(inputShape, inputScaling);
  let x = convBnAct(
    features,
    "stem_conv",
    { filters: roundChannels(32, widthMultiplier), kernelSize: 3, strides: 2, padding: 1, init },
    "relu6",
  );
  stages.forEach(([expansion, channels, repeats, firstStride], stageIndex) => {
    for (let block = 0; block < repeats; block++) {
      const prefix = `stage${stageIndex + 1}_block${block + 1}`;
      x = invertedResidual(x, prefix, expansion, roundChannels(channels, widthMultiplier), block === 0 ? firstStride : 1, init);
    }
  });
  // The last conv never shrinks below 1280 channels: narrow models keep a wide feature vector.
  x = convBnAct(x, "final_conv", { filters: roundChannels(1280, Math.max(1, widthMultiplier)), kernelSize: 1, init }, "relu6");
  x = globalAvgPool(x, "global_pool");
  return tf.model({ inputs: input, outputs: classifierHead(x, classes, dropout), name: "mobilenet-v2" });
}

registerModelWithOptions({
  name: "mobilenet-v2",
  family: "mobilenet",
  // Sandler et al., MobileNetV2: Inverted Residuals and Linear Bottlenecks (CVPR 2018)
  paper: "Sandler et al., MobileNetV2: Inverted Residuals and Linear Bottlenecks (2018)",
  year: 2018,
  description:
    "MobileNet v2: 17 inverted residual blocks with linear bottlenecks and ReLU6, a 1280-channel 1×1 conv, dropout; options widthMultiplier, dropout.",
  defaultInputShape: [96, 96, 1],
  // Five stride-2 layers, all padded: 32 is the total stride.
  minInputSize: 32,
  optionSpec,
  build: buildMobileNetV2,
});
