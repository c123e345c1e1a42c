import * as tf from "@tensorflow/tfjs";
import { squeezeExcite } from "./attention.ts";
import { StochasticDepth } from "./customLayers.ts";
import { roundChannels } from "./divisible.ts";
import { modelInput } from "./input.ts";
import {
  channelCount,
  add,
  apply,
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

/** [expansion, kernel, first stride, output channels, repeats] of the B0 baseline (Table 1 of the paper). */
const baseline: Array<[number, number, number, number, number]> = [
  [1, 3, 1, 16, 1],
  [6, 3, 2, 24, 2],
  [6, 5, 2, 40, 2],
  [6, 3, 2, 80, 3],
  [6, 5, 1, 112, 3],
  [6, 5, 2, 192, 4],
  [6, 3, 1, 320, 1],
];

const optionSpec = {
  /** Compound-scaling coefficients: B0 is 1 / 1, B1 is 1.0 / 1.1, …, B7 is 2.0 / 3.1. */
  widthMultiplier: { kind: "number", default: 1, min: 0.05, max: 4 },
  depthMultiplier: { kind: "number", default: 1, min: 0.1, max: 4 },
  dropout: { kind: "number", default: 0.2, min: 0, max: 0.95 },
  /** Drop rate of the last block's residual branch; earlier blocks get proportionally less (0 for the first). */
  stochasticDepth: { kind: "number", default: 0.2, min: 0, max: 0.95 },
} as const;

interface BlockSpec {
  expansion: number;
  kernelSize: number;
  strides: number;
  filters: number;
  dropRate: number;
}

/** MBConv: 1×1 expansion → k×k depthwise → squeeze-excite (¼ of the block's input) → linear 1×1 projection. */
function mbConv(
  x: Tensor,
  prefix: string,
  { expansion, kernelSize, strides, filters, dropRate }: BlockSpec,
  init: KernelInitializer,
): Tensor {
  const inChannels = channelCount(x);
  let y =
    expansion === 1 ? x : convBnAct(x, `${prefix}_expand`, { filters: roundChannels(inChannels, expansion), kernelSize: 1, init }, "swish");
  y = depthwiseBnAct(y, `${prefix}_dw`, { kernelSize, strides, init }, "swish");
  y = squeezeExcite(y, `${prefix}_se`, { squeezeChannels: Math.max(1, Math.floor(inChannels / 4)), activation: "swish", init });
  y = convBnAct(y, `${prefix}_project`, { filters, kernelSize: 1, init }, null);
  if (strides !== 1 || inChannels !== filters) return y;
  return add([x, apply(new StochasticDepth({ rate: dropRate, name: `${prefix}_drop` }), y)], `${prefix}_add`);
}

function buildEfficientNet(
  { inputShape, classes, inputScaling, initializer }: BuildOptions,
  { widthMultiplier, depthMultiplier, dropout, stochasticDepth }: ParsedOptions<typeof optionSpec>,
): tf.LayersModel {
  const repeats = baseline.map((stage) => Math.ceil(stage[4] * depthMultiplier));
  const totalBlocks = repeats.reduce((sum, count) => sum + count, 0);
  let blockIndex = 0;
  const init = kernelInitializer("swish", initializer);
  const { input, features } = modelInput(inputShape, inputScaling);
  let x = convBnAct(
    features,
    "stem_conv",
    { filters: roundChannels(32, widthMultiplier), kernelSize: 3, strides: 2, padding: 1, init },
    "swish",
  );
  baseline.forEach(([expansion, kernelSize, firstStride, channels], stageIndex) => {
    const filters = roundChannels(channels, widthMultiplier);
    for (let block = 0; block < repeats[stageIndex]; block++) {
      const spec = {
        expansion,
        kernelSize,
        strides: block === 0 ? firstStride : 1,
        filters,
        dropRate: (stochasticDepth * blockIndex++) / totalBlocks,
      };
      x = mbConv(x, `stage${stageIndex + 1}_block${block + 1}`, spec, init);
    }
  });
  x = convBnAct(x, "final_conv", { filters: 4 * channelCount(x), kernelSize: 1, init }, "swish");
  x = globalAvgPool(x, "global_pool");
  return tf.model({ inputs: input, outputs: classifierHead(x, classes, dropout), name: "efficientnet-b0" });
}

registerModelWithOptions({
  name: "efficientnet-b0",
  family: "efficientnet",
  // Tan & Le, EfficientNet: Rethinking Model Scaling for Convolutional Neural Networks (ICML 2019)
  paper: "Tan & Le, EfficientNet: Rethinking Model Scaling for Convolutional Neural Networks (2019)",
  year: 2019,
  description:
    "EfficientNet-B0: 16 MBConv blocks with squeeze-excite, swish and stochastic depth, a 1280-channel 1×1 conv, dropout 0.2; options widthMultiplier, depthMultiplier, dropout, stochasticDepth.",
  defaultInputShape: [96, 96, 1],
  // Five stride-2 layers, all padded: 32 is the total stride.
  minInputSize: 32,
  optionSpec,
  build: buildEfficientNet,
});
