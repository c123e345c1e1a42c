import * as tf from "@tensorflow/tfjs";
import { ModelOptionError } from "../errors.ts";
import { modelInput } from "../input.ts";
import { apply, type Tensor } from "../layers.ts";
import { HEAD_PREFIX, type InputShape, type InputScaling } from "../types.ts";

/** The variant name in `architectureOptions.variant`. */
export const TORCHVISION = "torchvision";

/** torchvision's ImageNet normalization of pixels/255 (mean 0.485/0.456/0.406, std 0.229/0.224/0.225) as a map of raw 0–255 pixels. */
const imagenetMean = [0.485, 0.456, 0.406];
const imagenetStd = [0.229, 0.224, 0.225];
export const IMAGENET_SCALING: InputScaling = {
  scale: imagenetStd.map((std) => 1 / (255 * std)),
  offset: imagenetMean.map((mean, channel) => -mean / imagenetStd[channel]),
};

/** The model's input followed by the ImageNet normalization, whatever scaling the caller asked for: the weights expect it. */
export function imagenetInput(inputShape: InputShape): { input: tf.SymbolicTensor; features: Tensor } {
  if (inputShape[2] !== 3)
    throw new ModelOptionError(`torchvision's networks take RGB input (3 channels), got ${inputShape[2]}`, "inputShape");
  return modelInput(inputShape, IMAGENET_SCALING);
}

/**
 * The TF.js layer that holds a torchvision module's parameters: its module path with `.` → `_`
 * (`layer1.0.conv1` → `layer1_0_conv1`), except the final linear layer, which is the zoo's `head_fc`.
 */
export function layerNameOf(modulePath: string, headModule: string): string {
  return modulePath === headModule ? `${HEAD_PREFIX}_fc` : modulePath.replaceAll(".", "_");
}

/**
 * torchvision's AdaptiveAvgPool2d to `size`×`size` with stock layers: the identity when the map already has that size,
 * an average pool when the map is a multiple of it, nearest upsampling when it divides it (each output cell's bin is
 * then one input cell). Any other size has bins of unequal width, which no stock layer computes.
 */
export function adaptiveAvgPool(x: Tensor, name: string, size: number): Tensor {
  const [height, width] = x.shape.slice(1, 3) as number[];
  if (height === size && width === size) return x;
  if (height === width && height % size === 0) {
    const poolSize = height / size;
    return apply(tf.layers.averagePooling2d({ poolSize, strides: poolSize, padding: "valid", name }), x);
  }
  if (height === width && size % height === 0) return apply(tf.layers.upSampling2d({ size: [size / height, size / height], name }), x);
  throw new ModelOptionError(
    `torchvision's adaptive pooling to ${size}×${size} is reproduced only when the last feature map (here ${height}×${width}) ` +
      `is square and a multiple or a divisor of ${size}; 224×224 input gives ${size}×${size}`,
    "inputShape",
  );
}

/** torchvision flattens channels-first (NCHW): channels to the front first, so the first linear layer's weights keep their order. */
export function flattenChannelsFirst(x: Tensor, name: string): Tensor {
  const channelsFirst = apply(tf.layers.permute({ dims: [3, 1, 2], name: `${name}_nchw` }), x);
  return apply(tf.layers.flatten({ name }), channelsFirst);
}

/** Output size of a conv or pool along one side, as PyTorch computes it (floor mode). */
export function convOutputSize(size: number, kernelSize: number, strides: number, padding: number): number {
  return Math.floor((size + 2 * padding - kernelSize) / strides) + 1;
}

/** The check `adaptiveAvgPool` makes, on sizes alone (before building). */
export function checkAdaptivePool(side: number, size: number, height: number, width: number): void {
  const fits = side === size || side % size === 0 || size % side === 0;
  if (height !== width || side < 1 || !fits) {
    throw new ModelOptionError(
      `torchvision's adaptive pooling to ${size}×${size} is reproduced only when the last feature map is square and a multiple or ` +
        `a divisor of ${size}; ${height}×${width} input gives ${side < 1 ? "nothing" : `${side}×${side}`} (224×224 gives ${size}×${size})`,
      "inputShape",
    );
  }
}
