/**
 * Training-time augmentation with torchvision semantics, per image but vectorized over a float32
 * [N,H,W,C] batch of 0–255 pixels that is already at the model's input size.
 *
 * Order, as in the usual torchvision pipeline: RandomResizedCrop (resized back to H×W) →
 * RandomHorizontalFlip → RandomVerticalFlip → ColorJitter, whose adjustments run in a random order
 * per image as in torchvision (see augmentColor.ts). All randomness comes from `random`, drawn
 * image by image on the JavaScript side (planAugmentation), so a seed fixes the output.
 *
 * Crop, resize and flips are one tf.image.cropAndResize (flips are reversed boxes). Its boxes put
 * the samples where torch's bilinear interpolate (align_corners=False) puts them; a crop is only
 * ever enlarged, so antialiasing is moot. One difference: torch clamps samples to the crop, while
 * here the first and last output row/column of an enlarged crop mix in up to (1 − h/H)/2 of the
 * pixel just outside it (at the image border that is the edge pixel again: the image is
 * edge-padded by one pixel, so no zeros come in). Without crops, whole-image boxes sample at
 * integer positions and flips are exact copies.
 */
import * as tf from "@tensorflow/tfjs";
import type { JobSpec } from "@trainyard/shared";
import { colorJitter, type JitterFactors, type JitterOp } from "./augmentColor.ts";

export type AugmentationSpec = JobSpec["augmentation"];
export type { JitterFactors, JitterOp };

/** Salt of the per-epoch augmentation seed: mixSeed(mixSeed(seed, epoch), AUGMENT_SALT). */
export const AUGMENT_SALT = 0x61756721;

/** Pixel rows top..top+height-1 and columns left..left+width-1. */
export interface CropBox {
  top: number;
  left: number;
  height: number;
  width: number;
}

export interface ImagePlan {
  crop: CropBox;
  flipHorizontal: boolean;
  flipVertical: boolean;
  /** Enabled colour adjustments in the order they apply, and their factors (hue: shift in turns). */
  jitterOrder: JitterOp[];
  jitterFactors: JitterFactors;
}

export function hasAugmentation(spec: AugmentationSpec): boolean {
  const jitter = spec.colorJitter;
  const jitters = jitter !== null && (jitter.brightness > 0 || jitter.contrast > 0 || jitter.saturation > 0 || jitter.hue > 0);
  return spec.horizontalFlip || spec.verticalFlip || spec.randomResizedCrop !== null || jitters;
}

const uniform = (random: () => number, low: number, high: number) => low + (high - low) * random();

/** Python's round(): halves go to the even neighbour. */
function roundHalfEven(value: number): number {
  const rounded = Math.round(value);
  return Math.abs(value % 1) === 0.5 && rounded % 2 !== 0 ? rounded - 1 : rounded;
}

/** torchvision RandomResizedCrop.get_params: 10 tries at area ∈ scale, log-uniform aspect ∈ ratio, then a centre crop. */
export function sampleCropBox(
  height: number,
  width: number,
  scale: readonly [number, number],
  ratio: readonly [number, number],
  random: () => number,
): CropBox {
  const area = height * width;
  for (let attempt = 0; attempt < 10; attempt += 1) {
    const targetArea = area * uniform(random, scale[0], scale[1]);
    const aspect = Math.exp(uniform(random, Math.log(ratio[0]), Math.log(ratio[1])));
    const w = roundHalfEven(Math.sqrt(targetArea * aspect));
    const h = roundHalfEven(Math.sqrt(targetArea / aspect));
    if (w > 0 && w <= width && h > 0 && h <= height) {
      const top = Math.floor(random() * (height - h + 1));
      return { top, left: Math.floor(random() * (width - w + 1)), height: h, width: w };
    }
  }
  const inRatio = width / height;
  let [w, h] = [width, height];
  if (inRatio < ratio[0]) h = roundHalfEven(w / ratio[0]);
  else if (inRatio > ratio[1]) w = roundHalfEven(h * ratio[1]);
  return { top: Math.floor((height - h) / 2), left: Math.floor((width - w) / 2), height: h, width: w };
}

/** Draws every random number for a batch, image by image: crop, horizontal flip, vertical flip, jitter. */
export function planAugmentation(shape: readonly number[], spec: AugmentationSpec, random: () => number): ImagePlan[] {
  const [count, height, width, channels] = shape;
  const { randomResizedCrop: rrc, colorJitter: cj } = spec;
  // Saturation and hue are no-ops unless the images are RGB (torchvision returns 1-channel images as they are).
  const ops = (["brightness", "contrast", "saturation", "hue"] as const).filter(
    (op) => cj !== null && cj[op] > 0 && (channels === 3 || op === "brightness" || op === "contrast"),
  );
  const plans: ImagePlan[] = [];
  for (let i = 0; i < count; i += 1) {
    const crop = rrc ? sampleCropBox(height, width, rrc.scale, rrc.ratio, random) : { top: 0, left: 0, height, width };
    const flipHorizontal = spec.horizontalFlip && random() < 0.5;
    const flipVertical = spec.verticalFlip && random() < 0.5;
    const jitterOrder = [...ops];
    for (let j = jitterOrder.length - 1; j > 0; j -= 1) {
      const k = Math.floor(random() * (j + 1));
      [jitterOrder[j], jitterOrder[k]] = [jitterOrder[k], jitterOrder[j]];
    }
    const jitterFactors: JitterFactors = {};
    for (const op of ops) {
      const v = cj![op];
      jitterFactors[op] = op === "hue" ? uniform(random, -v, v) : uniform(random, Math.max(0, 1 - v), 1 + v);
    }
    plans.push({ crop, flipHorizontal, flipVertical, jitterOrder, jitterFactors });
  }
  return plans;
}

/**
 * Normalized [start, end] of one axis of a box sampling where torch's interpolate samples a
 * [start, start+size) crop resized to `length`, in the image edge-padded by one pixel.
 */
function boxAxis(start: number, size: number, length: number, flip: boolean): [number, number] {
  const scale = size / length;
  const first = (1 + start + 0.5 * scale - 0.5) / (length + 1);
  const last = first + (scale * (length - 1)) / (length + 1);
  return flip ? [last, first] : [first, last];
}

/** One pixel of edge replication around every image ("symmetric" mirroring repeats the edge). */
const EDGE_PAD: [number, number][] = [0, 1, 1, 0].map((p) => [p, p]);

/** Crops, resizes back and flips every image in one cropAndResize. */
function resample(x: tf.Tensor4D, plans: ImagePlan[], cropping: boolean): tf.Tensor4D {
  const [count, height, width] = x.shape;
  const boxes = new Float32Array(count * 4);
  const whole = (flip: boolean) => (flip ? [1, 0] : [0, 1]);
  plans.forEach(({ crop, flipVertical, flipHorizontal }, n) => {
    const [y1, y2] = cropping ? boxAxis(crop.top, crop.height, height, flipVertical) : whole(flipVertical);
    const [x1, x2] = cropping ? boxAxis(crop.left, crop.width, width, flipHorizontal) : whole(flipHorizontal);
    boxes.set([y1, x1, y2, x2], n * 4);
  });
  const source = cropping ? tf.mirrorPad(x, EDGE_PAD, "symmetric") : x;
  const images = tf.range(0, count, 1, "int32") as tf.Tensor1D;
  return tf.image.cropAndResize(source, tf.tensor2d(boxes, [count, 4]), images, [height, width]);
}

/** Applies a plan from planAugmentation. Returns a new tensor; `x` is not disposed. */
export function applyAugmentation(x: tf.Tensor4D, plans: ImagePlan[]): tf.Tensor4D {
  const [, height, width] = x.shape;
  return tf.tidy(() => {
    let out = x;
    const cropping = plans.some(({ crop }) => crop.top !== 0 || crop.left !== 0 || crop.height !== height || crop.width !== width);
    if (cropping || plans.some((p) => p.flipHorizontal || p.flipVertical)) out = resample(out, plans, cropping);
    if (plans.length > 0 && plans[0].jitterOrder.length > 0) {
      out = colorJitter(
        out,
        plans.map((p) => p.jitterOrder),
        plans.map((p) => p.jitterFactors),
      );
    }
    return out === x ? x.clone() : out;
  });
}

/** Augments a training batch: float32 [N,H,W,C] pixels in 0–255 in, a new tensor of the same shape and range out. */
export function augmentBatch(x: tf.Tensor4D, augmentation: AugmentationSpec, random: () => number): tf.Tensor4D {
  return applyAugmentation(x, planAugmentation(x.shape, augmentation, random));
}
