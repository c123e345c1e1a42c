import * as tf from "@tensorflow/tfjs";
import { HEAD_PREFIX, type Initializer } from "./types.ts";

/** Building blocks shared by the families: thin wrappers that name layers and reproduce PyTorch's padding. */

export type Tensor = tf.SymbolicTensor;
export type Activation = "relu" | "relu6" | "sigmoid" | "tanh" | "swish";
export type KernelInitializer = NonNullable<Parameters<typeof tf.layers.conv2d>[0]["kernelInitializer"]>;

/** He for ReLU-like activations, Glorot (Xavier) for saturating ones, unless the caller picks. */
export function kernelInitializer(activation: Activation, initializer: Initializer | undefined): KernelInitializer {
  if (initializer === "glorot") return "glorotUniform";
  if (initializer === "he") return "heNormal";
  return activation === "sigmoid" || activation === "tanh" ? "glorotUniform" : "heNormal";
}

/** Channels of a channels-last tensor. */
export function channelCount(x: Tensor): number {
  return x.shape[x.shape.length - 1] as number;
}

export function apply(layer: tf.layers.Layer, x: Tensor | Tensor[]): Tensor {
  return layer.apply(x) as Tensor;
}

/**
 * PyTorch pads every side by `padding`. TF's 'same' agrees only for stride 1 with padding (k-1)/2; with
 * stride 2 it pads bottom/right only. Elsewhere pad explicitly and go 'valid', so shapes and values match.
 */
function torchPadding(x: Tensor, name: string, kernelSize: number, strides: number, padding: number): [Tensor, "same" | "valid"] {
  if (padding === 0) return [x, "valid"];
  if (strides === 1 && 2 * padding === kernelSize - 1) return [x, "same"];
  return [apply(tf.layers.zeroPadding2d({ padding, name: `${name}_pad` }), x), "valid"];
}

export interface ConvSpec {
  filters: number;
  kernelSize: number;
  strides?: number;
  /** PyTorch's `padding`: zeros added on every side. */
  padding?: number;
  useBias?: boolean;
  /** Fused into the conv layer (for the families without batch norm). */
  activation?: Activation;
  init: KernelInitializer;
}

export function conv2d(
  x: Tensor,
  name: string,
  { filters, kernelSize, strides = 1, padding = 0, useBias = true, activation, init }: ConvSpec,
): Tensor {
  const [padded, mode] = torchPadding(x, name, kernelSize, strides, padding);
  return apply(
    tf.layers.conv2d({ filters, kernelSize, strides, padding: mode, useBias, activation, kernelInitializer: init, name }),
    padded,
  );
}

/** Bias-free depthwise conv: every depthwise conv in the zoo is followed by batch norm. */
export function depthwiseConv2d(x: Tensor, name: string, spec: { kernelSize: number; strides: number; init: KernelInitializer }): Tensor {
  const [padded, mode] = torchPadding(x, name, spec.kernelSize, spec.strides, (spec.kernelSize - 1) / 2);
  return apply(
    tf.layers.depthwiseConv2d({
      kernelSize: spec.kernelSize,
      strides: spec.strides,
      padding: mode,
      useBias: false,
      depthwiseInitializer: spec.init,
      name,
    }),
    padded,
  );
}

/** PyTorch's defaults: eps 1e-5, running-average momentum 0.1 (Keras counts it the other way: 0.9). */
export function batchNorm(x: Tensor, name: string): Tensor {
  return apply(tf.layers.batchNormalization({ epsilon: 1e-5, momentum: 0.9, name }), x);
}

export function activation(x: Tensor, name: string, kind: Activation): Tensor {
  return apply(tf.layers.activation({ activation: kind, name }), x);
}

/** conv (bias-free unless asked) → batch norm → activation, named `name`, `name_bn`, `name_<activation>`. */
export function convBnAct(x: Tensor, name: string, spec: Omit<ConvSpec, "activation">, kind: Activation | null): Tensor {
  const normalized = batchNorm(conv2d(x, name, { useBias: false, ...spec }), `${name}_bn`);
  return kind ? activation(normalized, `${name}_${kind}`, kind) : normalized;
}

/** Depthwise conv → batch norm → activation, named `name`, `name_bn`, `name_<activation>`; `null` keeps it linear. */
export function depthwiseBnAct(
  x: Tensor,
  name: string,
  spec: { kernelSize: number; strides: number; init: KernelInitializer },
  kind: Activation | null,
): Tensor {
  const normalized = batchNorm(depthwiseConv2d(x, name, spec), `${name}_bn`);
  return kind ? activation(normalized, `${name}_${kind}`, kind) : normalized;
}

/**
 * PyTorch pads max pooling with -inf. Zero padding equals that on non-negative input only, and every padded
 * max pool here follows a ReLU. With stride 1 TF's 'same' skips the padded cells, which is exactly -inf.
 */
export function maxPool2d(
  x: Tensor,
  name: string,
  { poolSize, strides, padding = 0 }: { poolSize: number; strides: number; padding?: number },
): Tensor {
  const [padded, mode] = torchPadding(x, name, poolSize, strides, padding);
  return apply(tf.layers.maxPooling2d({ poolSize, strides, padding: mode, name }), padded);
}

export function avgPool2d(x: Tensor, name: string, { poolSize, strides }: { poolSize: number; strides: number }): Tensor {
  return apply(tf.layers.averagePooling2d({ poolSize, strides, padding: "valid", name }), x);
}

export function globalAvgPool(x: Tensor, name: string): Tensor {
  return apply(tf.layers.globalAveragePooling2d({ name }), x);
}

export function concatenate(xs: Tensor[], name: string): Tensor {
  return apply(tf.layers.concatenate({ axis: -1, name }), xs);
}

export function add(xs: Tensor[], name: string): Tensor {
  return apply(tf.layers.add({ name }), xs);
}

export function multiply(xs: Tensor[], name: string): Tensor {
  return apply(tf.layers.multiply({ name }), xs);
}

export function dropout(x: Tensor, name: string, rate: number): Tensor {
  return apply(tf.layers.dropout({ rate, name }), x);
}

export function flatten(x: Tensor, name: string): Tensor {
  return apply(tf.layers.flatten({ name }), x);
}

export function dense(
  x: Tensor,
  name: string,
  spec: { units: number; activation?: Activation; useBias?: boolean; init: KernelInitializer },
): Tensor {
  const { units, activation: kind, useBias = true, init } = spec;
  return apply(tf.layers.dense({ units, activation: kind, useBias, kernelInitializer: init, name }), x);
}

/** AlexNet's and VGG's two hidden dense layers, each ReLU then dropout: `classifier_fc1`, `classifier_dropout1`, … */
export function hiddenDenseLayers(x: Tensor, { units, rate, init }: { units: number; rate: number; init: KernelInitializer }): Tensor {
  for (const index of [1, 2]) {
    x = dense(x, `classifier_fc${index}`, { units, activation: "relu", init });
    x = dropout(x, `classifier_dropout${index}`, rate);
  }
  return x;
}

/** The replaceable classifier: optional dropout, `head_fc`, `head_softmax`. */
export function classifierHead(x: Tensor, classes: number, dropoutRate = 0): Tensor {
  const features = dropoutRate > 0 ? dropout(x, `${HEAD_PREFIX}_dropout`, dropoutRate) : x;
  const logits = dense(features, `${HEAD_PREFIX}_fc`, { units: classes, init: "glorotUniform" });
  return softmax(logits);
}

export function softmax(logits: Tensor): Tensor {
  return apply(tf.layers.activation({ activation: "softmax", name: `${HEAD_PREFIX}_softmax` }), logits);
}
