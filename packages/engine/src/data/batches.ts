import * as tf from "@tensorflow/tfjs";
import type { IndexedSplit } from "./splits.ts";

export interface BatchShape {
  /** The data set's stored image shape. */
  imageShape: [number, number, number];
  /** The model's input shape: images are resized and converted to its channel count. */
  inputShape: [number, number, number];
  classes: number;
}

/**
 * Assembles one batch as float32 pixels in 0–255 (the model scales them itself) and one-hot labels.
 * Images are copied whole with `set` (memcpy), and the uint8→float32 conversion is one typed-array
 * construction: no per-pixel JavaScript on the hot path.
 */
export function assembleBatch(
  split: IndexedSplit,
  positions: Uint32Array,
  shape: BatchShape,
): { x: tf.Tensor4D; y: tf.Tensor2D; labels: Int32Array } {
  const [height, width, channels] = shape.imageShape;
  const imageBytes = height * width * channels;
  const pixels = new Uint8Array(positions.length * imageBytes);
  const labels = new Int32Array(positions.length);
  for (let i = 0; i < positions.length; i += 1) {
    const index = split.indices[positions[i]];
    pixels.set(split.source.images.subarray(index * imageBytes, (index + 1) * imageBytes), i * imageBytes);
    labels[i] = split.source.labels[index];
  }
  return tf.tidy(() => {
    let x = tf.tensor4d(new Float32Array(pixels), [positions.length, height, width, channels]);
    x = fitToInput(x, shape.inputShape);
    const y = tf.oneHot(tf.tensor1d(labels, "int32"), shape.classes).toFloat() as tf.Tensor2D;
    return { x, y, labels };
  });
}

/** Resizes (bilinear) and converts channels (grey ↔ RGB) to the model's input shape. */
export function fitToInput(x: tf.Tensor4D, [height, width, channels]: [number, number, number]): tf.Tensor4D {
  let out = x;
  if (out.shape[1] !== height || out.shape[2] !== width) {
    out = tf.image.resizeBilinear(out, [height, width]);
  }
  const have = out.shape[3];
  if (have !== channels) {
    if (have === 1) out = tf.tile(out, [1, 1, 1, channels]);
    else if (channels === 1) out = tf.mean(out.slice([0, 0, 0, 0], [-1, -1, -1, Math.min(3, have)]), 3, true);
    else out = out.slice([0, 0, 0, 0], [-1, -1, -1, channels]);
  }
  return out;
}

/** Positions 0..count-1 in batches of `batchSize` (last batch may be smaller). */
export function* batchRanges(order: Uint32Array, batchSize: number): Generator<Uint32Array> {
  for (let start = 0; start < order.length; start += batchSize) {
    yield order.subarray(start, Math.min(order.length, start + batchSize));
  }
}
