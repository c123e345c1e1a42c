/**
 * Filter taps that only ever meet padding. On small feature maps (a 3×3 "same" convolution on
 * a 1×1 map, ResNet's last stage at 32×32 input) most taps multiply zeros; cropping them off the
 * filter, with the padding adjusted, gives the same result for a fraction of the work.
 */
import * as tf from "@tensorflow/tfjs";

export interface CropPlan {
  /** First kept filter row/column. */
  top: number;
  left: number;
  /** Kept filter height/width. */
  height: number;
  width: number;
  /** Explicit NHWC padding for the cropped filter that keeps the output size. */
  pad: tf.backend_util.ExplicitPadding;
}

/** Range [lo, hi] of taps along one axis that hit a real input position for some output. */
function usedRange(outSize: number, stride: number, dilation: number, padBefore: number, inSize: number, filterSize: number): [number, number] {
  let lo = filterSize;
  let hi = -1;
  for (let i = 0; i < filterSize; i++) {
    // Is there y in [0, outSize) with 0 <= y*stride + i*dilation - padBefore < inSize?
    const offset = i * dilation - padBefore;
    const yMin = Math.max(0, Math.ceil(-offset / stride));
    if (yMin < outSize && yMin * stride + offset < inSize) {
      lo = Math.min(lo, i);
      hi = Math.max(hi, i);
    }
  }
  return [lo, hi];
}

/** A crop of the filter when some taps never meet the input, or null. NHWC geometry only. */
export function cropPlan(info: tf.backend_util.Conv2DInfo): CropPlan | null {
  const { inHeight: h, inWidth: w, outHeight: oh, outWidth: ow, strideHeight: sh, strideWidth: sw } = info;
  const { dilationHeight: dh, dilationWidth: dw, filterHeight: fh, filterWidth: fw } = info;
  const { top: pt, left: pl } = info.padInfo;
  const [r0, r1] = usedRange(oh, sh, dh, pt, h, fh);
  const [c0, c1] = usedRange(ow, sw, dw, pl, w, fw);
  if (r1 < r0 || c1 < c0) return null; // output sees no input at all: leave it to the stock path
  if (r0 === 0 && r1 === fh - 1 && c0 === 0 && c1 === fw - 1) return null;
  const height = r1 - r0 + 1;
  const width = c1 - c0 + 1;
  const top = pt - r0 * dh;
  const left = pl - c0 * dw;
  const bottom = (oh - 1) * sh + (height - 1) * dh + 1 - h - top;
  const right = (ow - 1) * sw + (width - 1) * dw + 1 - w - left;
  if (top < 0 || left < 0 || bottom < 0 || right < 0) return null;
  return {
    top: r0,
    left: c0,
    height,
    width,
    pad: [
      [0, 0],
      [top, bottom],
      [left, right],
      [0, 0],
    ],
  };
}

/** dst [height, width, ci, co] = src[top.., left.., :, :] of a [fh, fw, ci, co] filter. */
export function cropFilter(dst: Float32Array, src: Float32Array, fw: number, inner: number, plan: CropPlan): void {
  for (let i = 0; i < plan.height; i++) {
    for (let j = 0; j < plan.width; j++) {
      const s = ((plan.top + i) * fw + plan.left + j) * inner;
      dst.set(src.subarray(s, s + inner), (i * plan.width + j) * inner);
    }
  }
}

/** Writes a cropped [height, width, ci, co] gradient into a zeroed full [fh, fw, ci, co] one. */
export function uncropFilter(dst: Float32Array, src: Float32Array, fw: number, inner: number, plan: CropPlan): void {
  for (let i = 0; i < plan.height; i++) {
    for (let j = 0; j < plan.width; j++) {
      const s = (i * plan.width + j) * inner;
      dst.set(src.subarray(s, s + inner), ((plan.top + i) * fw + plan.left + j) * inner);
    }
  }
}
