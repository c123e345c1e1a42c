import * as tf from "@tensorflow/tfjs";
import { convolutionalBlockAttention, squeezeExcite } from "./attention.ts";
import { modelInput } from "./input.ts";
import {
  channelCount,
  activation,
  add,
  batchNorm,
  classifierHead,
  conv2d,
  convBnAct,
  globalAvgPool,
  kernelInitializer,
  maxPool2d,
  type KernelInitializer,
  type Tensor,
} from "./layers.ts";
import type { ParsedOptions } from "./options.ts";
import { registerModelWithOptions } from "./registry.ts";
import type { BuildOptions, InputShape } from "./types.ts";

type BlockKind = "basic" | "bottleneck";

interface ResNetConfig {
  block: BlockKind;
  blocksPerStage: [number, number, number, number];
  /**
   * "notes": the notes' d2l code — every conv has a bias and a projection shortcut is a bare 1×1 conv.
   * "paper": bias-free convs and batch norm after each projection, as in the papers' released models (torchvision).
   */
  convention: "notes" | "paper";
  attention?: "se" | "cbam";
}

interface BlockContext {
  init: KernelInitializer;
  useBias: boolean;
  preActivation: boolean;
  projectionBatchNorm: boolean;
  attention: ResNetConfig["attention"];
}

const optionSpec = {
  /** He et al. 2016b: BN and ReLU before each conv, nothing after the addition, one BN-ReLU after the last stage. */
  preActivation: { kind: "boolean", default: false },
  /** Scales every width (64·[1, 2, 4, 8] in the paper); not in the paper, but the knob of Wide ResNets, here mostly to shrink. */
  widthMultiplier: { kind: "number", default: 1, min: 0.05, max: 4 },
} as const;

const stageWidths = [64, 128, 256, 512];
const reduction = 16;

/** conv, then (BN, ReLU, conv) for each further conv; post-activation blocks close with a BN. */
function residualBranch(x: Tensor, prefix: string, convs: Array<[number, number, number]>, context: BlockContext): Tensor {
  convs.forEach(([kernelSize, filters, strides], index) => {
    if (index > 0) {
      x = batchNorm(x, `${prefix}_conv${index}_bn`);
      x = activation(x, `${prefix}_conv${index}_relu`, "relu");
    }
    const padding = (kernelSize - 1) / 2;
    x = conv2d(x, `${prefix}_conv${index + 1}`, { filters, kernelSize, strides, padding, useBias: context.useBias, init: context.init });
  });
  return context.preActivation ? x : batchNorm(x, `${prefix}_conv${convs.length}_bn`);
}

function residualBlock(x: Tensor, prefix: string, kind: BlockKind, width: number, strides: number, context: BlockContext): Tensor {
  const inChannels = channelCount(x);
  const outChannels = kind === "bottleneck" ? 4 * width : width;
  // The stride sits on the 3×3 conv of a bottleneck ("ResNet v1.5"); parameter counts do not depend on it.
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
  const input = context.preActivation ? activation(batchNorm(x, `${prefix}_preact_bn`), `${prefix}_preact_relu`, "relu") : x;
  let branch = residualBranch(input, prefix, convs, context);
  if (context.attention === "se")
    branch = squeezeExcite(branch, `${prefix}_se`, {
      squeezeChannels: Math.max(1, Math.floor(outChannels / reduction)),
      init: context.init,
    });
  if (context.attention === "cbam") branch = convolutionalBlockAttention(branch, `${prefix}_cbam`, { reduction, init: context.init });
  let shortcut = x;
  if (strides !== 1 || inChannels !== outChannels) {
    shortcut = conv2d(input, `${prefix}_shortcut`, {
      filters: outChannels,
      kernelSize: 1,
      strides,
      useBias: context.useBias,
      init: context.init,
    });
    if (context.projectionBatchNorm) shortcut = batchNorm(shortcut, `${prefix}_shortcut_bn`);
  }
  const sum = add([branch, shortcut], `${prefix}_add`);
  return context.preActivation ? sum : activation(sum, `${prefix}_out`, "relu");
}

function buildResNet(
  name: string,
  config: ResNetConfig,
  { inputShape, classes, inputScaling, initializer }: BuildOptions,
  { preActivation, widthMultiplier }: ParsedOptions<typeof optionSpec>,
): tf.LayersModel {
  const width = (channels: number) => Math.max(1, Math.round(channels * widthMultiplier));
  const useBias = config.convention === "notes";
  const context: BlockContext = {
    init: kernelInitializer("relu", initializer),
    useBias,
    preActivation,
    projectionBatchNorm: config.convention === "paper" && !preActivation,
    attention: config.attention,
  };
  const { input, features } = modelInput(inputShape, inputScaling);
  let x = convBnAct(
    features,
    "stem_conv",
    { filters: width(64), kernelSize: 7, strides: 2, padding: 3, useBias, init: context.init },
    "relu",
  );
  x = maxPool2d(x, "stem_pool", { poolSize: 3, strides: 2, padding: 1 });
  config.blocksPerStage.forEach((blocks, stageIndex) => {
    for (let block = 0; block < blocks; block++) {
      const strides = stageIndex > 0 && block === 0 ? 2 : 1;
      x = residualBlock(x, `stage${stageIndex + 1}_block${block + 1}`, config.block, width(stageWidths[stageIndex]), strides, context);
    }
  });
  if (preActivation) x = activation(batchNorm(x, "final_bn"), "final_relu", "relu");
  x = globalAvgPool(x, "global_pool");
  return tf.model({ inputs: input, outputs: classifierHead(x, classes), name });
}

const defaultInputShape: InputShape = [96, 96, 1];

function variant(name: string, paper: string, year: number, description: string, config: ResNetConfig): void {
  registerModelWithOptions({
    name,
    family: "resnet",
    paper,
    year,
    description: `${description}; options preActivation, widthMultiplier.`,
    defaultInputShape,
    // All pools are padded, so any size runs; below the total stride of 32 the last stages see mostly padding.
    minInputSize: 32,
    optionSpec,
    build: (options, parsed) => buildResNet(name, config, options, parsed),
  });
}

const resnetPaper = "He et al., Deep Residual Learning for Image Recognition (2016)";
// He et al., Deep Residual Learning for Image Recognition (CVPR 2016) — resnet18 exactly as the notes' code
variant("resnet18", resnetPaper, 2016, "The notes' ResNet-18: basic blocks [2, 2, 2, 2], biased convs, bare 1×1 projections", {
  block: "basic",
  blocksPerStage: [2, 2, 2, 2],
  convention: "notes",
});
variant("resnet34", resnetPaper, 2016, "ResNet-34: basic blocks [3, 4, 6, 3], projection shortcuts with batch norm", {
  block: "basic",
  blocksPerStage: [3, 4, 6, 3],
  convention: "paper",
});
variant("resnet50", resnetPaper, 2016, "ResNet-50: bottleneck blocks [3, 4, 6, 3] (stride on the 3×3 conv)", {
  block: "bottleneck",
  blocksPerStage: [3, 4, 6, 3],
  convention: "paper",
});
// Hu et al., Squeeze-and-Excitation Networks (CVPR 2018)
variant(
  "se-resnet18",
  "Hu et al., Squeeze-and-Excitation Networks (2018)",
  2018,
  "ResNet-18 with a squeeze-and-excitation gate (reduction 16) on every residual branch",
  { block: "basic", blocksPerStage: [2, 2, 2, 2], convention: "paper", attention: "se" },
);
// Woo et al., CBAM: Convolutional Block Attention Module (ECCV 2018)
variant(
  "resnet18-cbam",
  "Woo et al., CBAM: Convolutional Block Attention Module (2018)",
  2018,
  "ResNet-18 with CBAM channel and spatial attention (reduction 16, 7×7) on every residual branch",
  { block: "basic", blocksPerStage: [2, 2, 2, 2], convention: "paper", attention: "cbam" },
);
