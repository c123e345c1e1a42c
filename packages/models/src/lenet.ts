import * as tf from "@tensorflow/tfjs";
import { modelInput } from "./input.ts";
import {
  activation,
  avgPool2d,
  batchNorm,
  classifierHead,
  conv2d,
  dense,
  flatten,
  kernelInitializer,
  maxPool2d,
  type Activation,
  type Tensor,
} from "./layers.ts";
import type { ParsedOptions } from "./options.ts";
import { registerModelWithOptions } from "./registry.ts";
import type { BuildOptions } from "./types.ts";

function optionSpec(batchNormDefault: boolean) {
  return {
    activation: { kind: "choice", default: "sigmoid", oneOf: ["sigmoid", "relu", "tanh"] },
    pooling: { kind: "choice", default: "avg", oneOf: ["avg", "max"] },
    batchNorm: { kind: "boolean", default: batchNormDefault },
    /** Output channels of the two convolutions (the notes' tuning log widens them). */
    channels: { kind: "integers", default: [6, 16], length: 2 },
    /** Units of the two hidden dense layers. */
    hiddenUnits: { kind: "integers", default: [120, 84], length: 2 },
  } as const;
}

interface LeNetVariant {
  name: string;
  batchNorm: boolean;
  /** The plain LeNet pads its first conv by 2 (28×28 in, 28×28 out); the notes' batch-norm LeNet does not. */
  firstPadding: number;
}

function buildLeNet(
  variant: LeNetVariant,
  { inputShape, classes, inputScaling, initializer }: BuildOptions,
  config: ParsedOptions<ReturnType<typeof optionSpec>>,
): tf.LayersModel {
  const kind: Activation = config.activation;
  const init = kernelInitializer(kind, initializer);
  const { input, features } = modelInput(inputShape, inputScaling);
  // The notes keep PyTorch's default biases even in front of batch norm, where they are redundant.
  const activate = (x: Tensor, name: string) => activation(config.batchNorm ? batchNorm(x, `${name}_bn`) : x, `${name}_${kind}`, kind);
  const pool = (x: Tensor, name: string) =>
    config.pooling === "max" ? maxPool2d(x, name, { poolSize: 2, strides: 2 }) : avgPool2d(x, name, { poolSize: 2, strides: 2 });
  let x = conv2d(features, "features_conv1", { filters: config.channels[0], kernelSize: 5, padding: variant.firstPadding, init });
  x = pool(activate(x, "features_conv1"), "features_pool1");
  x = conv2d(x, "features_conv2", { filters: config.channels[1], kernelSize: 5, init });
  x = pool(activate(x, "features_conv2"), "features_pool2");
  x = flatten(x, "features_flatten");
  config.hiddenUnits.forEach((units, index) => {
    x = activate(dense(x, `classifier_fc${index + 1}`, { units, init }), `classifier_fc${index + 1}`);
  });
  return tf.model({ inputs: input, outputs: classifierHead(x, classes), name: variant.name });
}

const lenetInfo = {
  family: "lenet",
  defaultInputShape: [28, 28, 1] as [number, number, number],
};

registerModelWithOptions({
  ...lenetInfo,
  name: "lenet",
  // LeCun et al., Gradient-Based Learning Applied to Document Recognition (Proc. IEEE 1998)
  paper: "LeCun et al., Gradient-Based Learning Applied to Document Recognition (1998)",
  year: 1998,
  description: "The book's LeNet-5: sigmoid, average pooling; options activation, pooling, channels, hiddenUnits, batchNorm.",
  // Padded 5×5 conv, 2×2 pool, valid 5×5 conv, 2×2 pool: 12×12 → 6×6 → 2×2 → 1×1.
  minInputSize: 12,
  optionSpec: optionSpec(false),
  build: (options, config) => buildLeNet({ name: "lenet", batchNorm: false, firstPadding: 2 }, options, config),
});

registerModelWithOptions({
  ...lenetInfo,
  name: "lenet-bn",
  // Ioffe & Szegedy, Batch Normalization: Accelerating Deep Network Training by Reducing Internal Covariate Shift (ICML 2015)
  paper: "Ioffe & Szegedy, Batch Normalization (2015)",
  year: 2015,
  description: "The notes' concise batch-norm LeNet: unpadded first conv, batch norm before every sigmoid; same options as lenet.",
  // Two valid 5×5 convs, each followed by a 2×2 pool: 16×16 → 12×12 → 6×6 → 2×2 → 1×1.
  minInputSize: 16,
  optionSpec: optionSpec(true),
  build: (options, config) => buildLeNet({ name: "lenet-bn", batchNorm: true, firstPadding: 0 }, options, config),
});
