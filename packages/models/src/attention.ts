import * as tf from "@tensorflow/tfjs";
import { ChannelPool } from "./customLayers.ts";
import {
  activation,
  add,
  apply,
  channelCount,
  conv2d,
  dense,
  globalAvgPool,
  multiply,
  type Activation,
  type KernelInitializer,
  type Tensor,
} from "./layers.ts";

/** Channel re-weighting blocks that a family applies to a residual branch before the addition. */

function scaleChannels(x: Tensor, weights: Tensor, prefix: string): Tensor {
  const channels = channelCount(x);
  const broadcastable = apply(tf.layers.reshape({ targetShape: [1, 1, channels], name: `${prefix}_reshape` }), weights);
  return multiply([x, broadcastable], `${prefix}_scale`);
}

/** Squeeze-and-excitation: global average → bottleneck → sigmoid gate per channel. */
export function squeezeExcite(
  x: Tensor,
  prefix: string,
  { squeezeChannels, activation = "relu", init }: { squeezeChannels: number; activation?: Activation; init: KernelInitializer },
): Tensor {
  let weights = globalAvgPool(x, `${prefix}_pool`);
  weights = dense(weights, `${prefix}_fc1`, { units: squeezeChannels, activation, init });
  weights = dense(weights, `${prefix}_fc2`, { units: channelCount(x), activation: "sigmoid", init: "glorotUniform" });
  return scaleChannels(x, weights, prefix);
}

/** CBAM: a channel gate fed by average and max pooling through one shared MLP, then a 7×7 spatial gate. */
export function convolutionalBlockAttention(
  x: Tensor,
  prefix: string,
  { reduction, init }: { reduction: number; init: KernelInitializer },
): Tensor {
  const channels = channelCount(x);
  const hidden = tf.layers.dense({
    units: Math.max(1, Math.floor(channels / reduction)),
    activation: "relu",
    kernelInitializer: init,
    name: `${prefix}_fc1`,
  });
  const output = tf.layers.dense({ units: channels, kernelInitializer: "glorotUniform", name: `${prefix}_fc2` });
  const mlp = (pooled: Tensor) => apply(output, apply(hidden, pooled));
  const averaged = mlp(globalAvgPool(x, `${prefix}_avgpool`));
  const maximal = mlp(apply(tf.layers.globalMaxPooling2d({ name: `${prefix}_maxpool` }), x));
  const channelGate = activation(add([averaged, maximal], `${prefix}_sum`), `${prefix}_sigmoid`, "sigmoid");
  const refined = scaleChannels(x, channelGate, `${prefix}_channel`);
  const descriptor = apply(new ChannelPool({ name: `${prefix}_spatial_pool` }), refined);
  const spatialGate = conv2d(descriptor, `${prefix}_spatial_conv`, {
    filters: 1,
    kernelSize: 7,
    padding: 3,
    useBias: false,
    activation: "sigmoid",
    init: "glorotUniform",
  });
  return multiply([refined, spatialGate], `${prefix}_spatial_scale`);
}
