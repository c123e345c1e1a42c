import * as tf from "@tensorflow/tfjs";
import { modelInput } from "./input.ts";
import {
  channelCount,
  activation,
  avgPool2d,
  batchNorm,
  classifierHead,
  concatenate,
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
import type { BuildOptions } from "./types.ts";

interface DenseNetConfig {
  layersPerBlock: number[];
  growthRate: number;
  /** DenseNet-B: a 1×1 conv to 4·growthRate channels before each 3×3 conv. */
  bottleneck: boolean;
  /** The notes keep PyTorch's default conv biases; the paper's convs have none. */
  convBias: boolean;
}

interface LayerContext {
  init: KernelInitializer;
  useBias: boolean;
}

/** BN → ReLU → conv: DenseNet normalizes before each convolution. */
function bnReluConv(x: Tensor, prefix: string, index: number, filters: number, kernelSize: number, context: LayerContext): Tensor {
  x = activation(batchNorm(x, `${prefix}_bn${index}`), `${prefix}_relu${index}`, "relu");
  return conv2d(x, `${prefix}_conv${index}`, {
    filters,
    kernelSize,
    padding: (kernelSize - 1) / 2,
    useBias: context.useBias,
    init: context.init,
  });
}

/** Each layer's output is concatenated to its input, so the block grows by growthRate channels per layer. */
function denseBlock(x: Tensor, stage: number, config: DenseNetConfig, context: LayerContext): Tensor {
  for (let layer = 1; layer <= config.layersPerBlock[stage - 1]; layer++) {
    const prefix = `stage${stage}_layer${layer}`;
    let y = config.bottleneck ? bnReluConv(x, prefix, 1, 4 * config.growthRate, 1, context) : x;
    y = bnReluConv(y, prefix, config.bottleneck ? 2 : 1, config.growthRate, 3, context);
    x = concatenate([x, y], `${prefix}_concat`);
  }
  return x;
}

/** Halves the channels (compression 0.5) and the resolution. */
function transition(x: Tensor, index: number, context: LayerContext): Tensor {
  const prefix = `transition${index}`;
  const channels = channelCount(x);
  x = activation(batchNorm(x, `${prefix}_bn`), `${prefix}_relu`, "relu");
  x = conv2d(x, `${prefix}_conv`, { filters: Math.floor(channels / 2), kernelSize: 1, useBias: context.useBias, init: context.init });
  return avgPool2d(x, `${prefix}_pool`, { poolSize: 2, strides: 2 });
}

function optionSpec(growthRate: number) {
  return { growthRate: { kind: "number", default: growthRate, integer: true, min: 1 } } as const;
}

function buildDenseNet(
  name: string,
  defaults: DenseNetConfig,
  { inputShape, classes, inputScaling, initializer }: BuildOptions,
  { growthRate }: ParsedOptions<ReturnType<typeof optionSpec>>,
): tf.LayersModel {
  const config = { ...defaults, growthRate };
  const context: LayerContext = { init: kernelInitializer("relu", initializer), useBias: config.convBias };
  const { input, features } = modelInput(inputShape, inputScaling);
  // The stem has twice the growth rate (64 for k = 32), as in the paper's ImageNet models.
  let x = convBnAct(
    features,
    "stem_conv",
    { filters: 2 * config.growthRate, kernelSize: 7, strides: 2, padding: 3, useBias: context.useBias, init: context.init },
    "relu",
  );
  x = maxPool2d(x, "stem_pool", { poolSize: 3, strides: 2, padding: 1 });
  for (let stage = 1; stage <= config.layersPerBlock.length; stage++) {
    x = denseBlock(x, stage, config, context);
    if (stage < config.layersPerBlock.length) x = transition(x, stage, context);
  }
  x = activation(batchNorm(x, "final_bn"), "final_relu", "relu");
  x = globalAvgPool(x, "global_pool");
  return tf.model({ inputs: input, outputs: classifierHead(x, classes), name });
}

function variant(name: string, description: string, config: DenseNetConfig): void {
  registerModelWithOptions({
    name,
    family: "densenet",
    paper: "Huang et al., Densely Connected Convolutional Networks (2017)",
    year: 2017,
    description: `${description}; option growthRate.`,
    defaultInputShape: [96, 96, 1],
    // Three valid 2×2 average pools after the padded stem (stride 4): 29 is the smallest input that leaves 1×1.
    minInputSize: 29,
    optionSpec: optionSpec(config.growthRate),
    build: (options, parsed) => buildDenseNet(name, config, options, parsed),
  });
}

// Huang et al., Densely Connected Convolutional Networks (CVPR 2017)
variant("densenet", "The notes' DenseNet: four dense blocks of four BN-ReLU-3×3 layers, growth rate 32, halving transitions", {
  layersPerBlock: [4, 4, 4, 4],
  growthRate: 32,
  bottleneck: false,
  convBias: true,
});
variant("densenet121", "DenseNet-121 (DenseNet-BC): dense blocks [6, 12, 24, 16] with 1×1 bottlenecks, growth rate 32, compression 0.5", {
  layersPerBlock: [6, 12, 24, 16],
  growthRate: 32,
  bottleneck: true,
  convBias: false,
});
