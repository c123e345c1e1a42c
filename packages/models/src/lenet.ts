import * as tf from "@tensorflow/tfjs";
import { ModelOptionError } from "./errors.ts";
import { modelInput } from "./input.ts";
import { registerModel } from "./registry.ts";
import { HEAD_PREFIX, type BuildOptions } from "./types.ts";

type Activation = "sigmoid" | "relu" | "tanh";
type Pooling = "avg" | "max";

interface LeNetOptions {
  activation: Activation;
  pooling: Pooling;
  batchNorm: boolean;
  /** Output channels of the two convolutions (the notes' tuning log widens them). */
  channels: [number, number];
  /** Units of the two hidden dense layers. */
  hiddenUnits: [number, number];
}

function parseOptions(raw: Record<string, unknown> = {}, batchNormDefault: boolean): LeNetOptions {
  const activation = (raw.activation ?? "sigmoid") as Activation;
  if (!["sigmoid", "relu", "tanh"].includes(activation)) {
    throw new ModelOptionError(`activation must be sigmoid, relu or tanh, got ${String(activation)}`, "architectureOptions.activation");
  }
  const pooling = (raw.pooling ?? "avg") as Pooling;
  if (!["avg", "max"].includes(pooling)) {
    throw new ModelOptionError(`pooling must be avg or max, got ${String(pooling)}`, "architectureOptions.pooling");
  }
  const channels = (raw.channels ?? [6, 16]) as [number, number];
  const hiddenUnits = (raw.hiddenUnits ?? [120, 84]) as [number, number];
  for (const [path, pair] of [["channels", channels], ["hiddenUnits", hiddenUnits]] as const) {
    if (!Array.isArray(pair) || pair.length !== 2 || !pair.every((v) => Number.isInteger(v) && v > 0)) {
      throw new ModelOptionError(`${path} must be two positive integers`, `architectureOptions.${path}`);
    }
  }
  return { activation, pooling, batchNorm: Boolean(raw.batchNorm ?? batchNormDefault), channels, hiddenUnits };
}

/** He for ReLU, Glorot (Xavier) for saturating activations: the notes' initialization advice. */
function kernelInitializer(activation: Activation, initializer: BuildOptions["initializer"]): string {
  if (initializer === "glorot") return "glorotUniform";
  if (initializer === "he") return "heNormal";
  return activation === "relu" ? "heNormal" : "glorotUniform";
}

function buildLeNet({ inputShape, classes, inputScaling, initializer, options }: BuildOptions, batchNormDefault: boolean): tf.LayersModel {
  const config = parseOptions(options, batchNormDefault);
  const init = kernelInitializer(config.activation, initializer);
  const { input, features } = modelInput(inputShape, inputScaling);
  const pool = (name: string) =>
    config.pooling === "max"
      ? tf.layers.maxPooling2d({ poolSize: 2, strides: 2, name })
      : tf.layers.averagePooling2d({ poolSize: 2, strides: 2, name });
  const activate = (x: tf.SymbolicTensor, name: string, bn: boolean) => {
    const normalized = bn ? (tf.layers.batchNormalization({ name: `${name}_bn`, epsilon: 1e-5, momentum: 0.9 }).apply(x) as tf.SymbolicTensor) : x;
    return tf.layers.activation({ activation: config.activation, name: `${name}_${config.activation}` }).apply(normalized) as tf.SymbolicTensor;
  };
  // PyTorch's padding=2 on a 5×5 kernel keeps 28×28: explicit symmetric zero-padding, then a valid conv.
  let x = tf.layers.zeroPadding2d({ padding: 2, name: "features_conv1_pad" }).apply(features) as tf.SymbolicTensor;
  x = tf.layers.conv2d({ filters: config.channels[0], kernelSize: 5, useBias: !config.batchNorm, kernelInitializer: init, name: "features_conv1" }).apply(x) as tf.SymbolicTensor;
  x = activate(x, "features_conv1", config.batchNorm);
  x = pool("features_pool1").apply(x) as tf.SymbolicTensor;
  x = tf.layers.conv2d({ filters: config.channels[1], kernelSize: 5, useBias: !config.batchNorm, kernelInitializer: init, name: "features_conv2" }).apply(x) as tf.SymbolicTensor;
  x = activate(x, "features_conv2", config.batchNorm);
  x = pool("features_pool2").apply(x) as tf.SymbolicTensor;
  x = tf.layers.flatten({ name: "features_flatten" }).apply(x) as tf.SymbolicTensor;
  x = tf.layers.dense({ units: config.hiddenUnits[0], useBias: !config.batchNorm, kernelInitializer: init, name: "classifier_fc1" }).apply(x) as tf.SymbolicTensor;
  x = activate(x, "classifier_fc1", config.batchNorm);
  x = tf.layers.dense({ units: config.hiddenUnits[1], useBias: !config.batchNorm, kernelInitializer: init, name: "classifier_fc2" }).apply(x) as tf.SymbolicTensor;
  x = activate(x, "classifier_fc2", config.batchNorm);
  const logits = tf.layers.dense({ units: classes, kernelInitializer: "glorotUniform", name: `${HEAD_PREFIX}_fc` }).apply(x) as tf.SymbolicTensor;
  const probabilities = tf.layers.activation({ activation: "softmax", name: `${HEAD_PREFIX}_softmax` }).apply(logits) as tf.SymbolicTensor;
  return tf.model({ inputs: input, outputs: probabilities, name: batchNormDefault ? "lenet-bn" : "lenet" });
}

const lenetInfo = {
  family: "lenet",
  paper: "LeCun et al., Gradient-Based Learning Applied to Document Recognition (1998)",
  year: 1998,
  defaultInputShape: [28, 28, 1] as [number, number, number],
  // Two 5×5 convs (the first padded) and two 2×2 pools: 4×4 input → 1×1 after the second pool.
  minInputSize: 8,
};

registerModel({
  ...lenetInfo,
  name: "lenet",
  description: "The book's LeNet-5: sigmoid, average pooling; options activation, pooling, channels, hiddenUnits, batchNorm.",
  build: (options) => buildLeNet(options, false),
});

registerModel({
  ...lenetInfo,
  name: "lenet-bn",
  description: "LeNet with batch normalization after every conv and hidden dense layer (the book's concise version).",
  paper: "Ioffe & Szegedy, Batch Normalization (2015)",
  year: 2015,
  build: (options) => buildLeNet(options, true),
});
