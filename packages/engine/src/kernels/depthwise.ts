/**
 * Depthwise convolution gradients (missing from stock wasm), as channel-innermost loops over
 * Float32Arrays. A depthwise 3×3 costs 9 multiply-adds per output element, so plain loops keep
 * up with the pointwise convolutions around them. NHWC only, like the stock kernels.
 */
import * as tf from "@tensorflow/tfjs";
import type { KernelContext } from "./context.ts";
import { conv2dInfo, type Pad } from "./strides.ts";

type TensorInfo = tf.TensorInfo;

interface DepthwiseAttrs {
  strides: number | [number, number];
  dilations?: number | [number, number];
  pad: Pad;
  dimRoundingMode?: "floor" | "round" | "ceil";
}

export function depthwiseBackpropFilter(
  ctx: KernelContext,
  x: TensorInfo,
  dy: TensorInfo,
  attrs: DepthwiseAttrs & { filterShape: [number, number, number, number] },
): TensorInfo {
  const info = conv2dInfo(x.shape, attrs.filterShape, attrs, true);
  const { batchSize: n, inHeight: h, inWidth: w, inChannels: ci, outChannels: co, outHeight: oh, outWidth: ow } = info;
  const { strideHeight: sh, strideWidth: sw, dilationHeight: dh, dilationWidth: dw, filterHeight: fh, filterWidth: fw } = info;
  const { top: pt, left: pl } = info.padInfo;
  const mult = co / ci;
  const dW = ctx.alloc([fh, fw, ci, mult]);
  const out = ctx.f32(dW);
  out.fill(0);
  const xv = ctx.f32(x);
  const gv = ctx.f32(dy);
  for (let b = 0; b < n; b++) {
    for (let y = 0; y < oh; y++) {
      for (let xo = 0; xo < ow; xo++) {
        const g = ((b * oh + y) * ow + xo) * co;
        for (let i = 0; i < fh; i++) {
          const r = y * sh + i * dh - pt;
          if (r < 0 || r >= h) continue;
          for (let j = 0; j < fw; j++) {
            const q = xo * sw + j * dw - pl;
            if (q < 0 || q >= w) continue;
            const p = ((b * h + r) * w + q) * ci;
            const o = (i * fw + j) * co;
            if (mult === 1) {
              for (let c = 0; c < ci; c++) out[o + c] += xv[p + c] * gv[g + c];
            } else {
              for (let c = 0; c < ci; c++) {
                const xval = xv[p + c];
                const base = c * mult;
                for (let m = 0; m < mult; m++) out[o + base + m] += xval * gv[g + base + m];
              }
            }
          }
        }
      }
    }
  }
  return dW;
}

export function depthwiseBackpropInput(
  ctx: KernelContext,
  dy: TensorInfo,
  filter: TensorInfo,
  attrs: DepthwiseAttrs & { inputShape: [number, number, number, number] },
): TensorInfo {
  const info = conv2dInfo(attrs.inputShape, filter.shape, attrs, true);
  const { batchSize: n, inHeight: h, inWidth: w, inChannels: ci, outChannels: co, outHeight: oh, outWidth: ow } = info;
  const { strideHeight: sh, strideWidth: sw, dilationHeight: dh, dilationWidth: dw, filterHeight: fh, filterWidth: fw } = info;
  const { top: pt, left: pl } = info.padInfo;
  const mult = co / ci;
  const dx = ctx.alloc([n, h, w, ci]);
  const out = ctx.f32(dx);
  out.fill(0);
  const fv = ctx.f32(filter);
  const gv = ctx.f32(dy);
  for (let b = 0; b < n; b++) {
    for (let y = 0; y < oh; y++) {
      for (let xo = 0; xo < ow; xo++) {
        const g = ((b * oh + y) * ow + xo) * co;
        for (let i = 0; i < fh; i++) {
          const r = y * sh + i * dh - pt;
          if (r < 0 || r >= h) continue;
          for (let j = 0; j < fw; j++) {
            const q = xo * sw + j * dw - pl;
            if (q < 0 || q >= w) continue;
            const p = ((b * h + r) * w + q) * ci;
            const o = (i * fw + j) * co;
            if (mult === 1) {
              for (let c = 0; c < ci; c++) out[p + c] += fv[o + c] * gv[g + c];
            } else {
              for (let c = 0; c < ci; c++) {
                const base = c * mult;
                let s = 0;
                for (let m = 0; m < mult; m++) s += fv[o + base + m] * gv[g + base + m];
                out[p + c] += s;
              }
            }
          }
        }
      }
    }
  }
  return dx;
}
