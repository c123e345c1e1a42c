import * as tf from "@tensorflow/tfjs";
import type { InputScaling, InputShape } from "./types.ts";

/** Name of the frozen layer that maps raw pixels to the network's input range. */
export const PREPROCESS_LAYER = "preprocess_rescale";

/**
 * The model's input, followed by the preprocessing when one is asked for. The per-channel
 * affine map x·scale + offset is a frozen 1×1 depthwise convolution: a stock TF.js layer, so
 * an exported model loads with plain `tf.loadLayersModel`, no custom classes to register.
 */
export function modelInput(inputShape: InputShape, scaling: InputScaling | undefined): { input: tf.SymbolicTensor; features: tf.SymbolicTensor } {
  const input = tf.input({ shape: inputShape, name: "input" });
  if (!scaling) return { input, features: input };
  const channels = inputShape[2];
  const expand = (values: number[]) => (values.length === 1 ? Array<number>(channels).fill(values[0]) : values);
  const scale = expand(scaling.scale);
  const offset = expand(scaling.offset);
  if (scale.length !== channels || offset.length !== channels) {
    throw new Error(`input scaling has ${scale.length} values for ${channels} channels`);
  }
  const features = tf.layers
    .depthwiseConv2d({
      name: PREPROCESS_LAYER,
      kernelSize: 1,
      depthMultiplier: 1,
      useBias: true,
      trainable: false,
      weights: [tf.tensor4d(scale, [1, 1, channels, 1]), tf.tensor1d(offset)],
    })
    .apply(input) as tf.SymbolicTensor;
  return { input, features };
}
