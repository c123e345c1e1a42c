/**
 * Pooling gradients as channel-innermost loops over Float32Arrays (NHWC), matching the stock
 * cpu kernels: max routes each output's gradient to the first maximum of its window (row-major
 * window order, as `maxPoolPositions` does); avg spreads it evenly over the full window
 * (1 / (fh·fw), padding included, as the stock AvgPoolGrad does).
 */
import * as tf from "@tensorflow/tfjs";
import type { KernelContext } from "./context.ts";

type TensorInfo = tf.TensorInfo;
type Pad = tf.backend_util.ExplicitPadding | "valid" | "same" | number;

export interface PoolGradAttrs {
  filterSize: number | [number, number];
  strides: number | [number, number];
  pad: Pad;
  dimRoundingMode?: "floor" | "round" | "ceil";
}

function poolInfo(shape: readonly number[], attrs: PoolGradAttrs) {
  return tf.backend_util.computePool2DInfo(
    shape as [number, number, number, number],
    attrs.filterSize,
    attrs.strides,
    1,
    attrs.pad as "valid" | "same" | number,
    attrs.dimRoundingMode,
  );
}

export function maxPoolGrad(ctx: KernelContext, dy: TensorInfo, input: TensorInfo, attrs: PoolGradAttrs): TensorInfo {
  const info = poolInfo(input.shape, attrs);
  const { batchSize: n, inHeight: h, inWidth: w, inChannels: c, outHeight: oh, outWidth: ow } = info;
  const { strideHeight: sh, strideWidth: sw, filterHeight: fh, filterWidth: fw } = info;
  const { top: pt, left: pl } = info.padInfo;
  const dx = ctx.alloc(input.shape.slice());
  const out = ctx.f32(dx);
  out.fill(0);
  const xv = ctx.f32(input);
  const gv = ctx.f32(dy);
  const disjoint = sh >= fh && sw >= fw;
  if (fh === 2 && fw === 2 && sh === 2 && sw === 2 && pt === 0 && pl === 0 && oh * 2 <= h && ow * 2 <= w) {
    // 2×2/2 windows (LeNet, VGG): four loads per output, first maximum in row-major order.
    const row = w * c;
    for (let b = 0; b < n; b++) {
      for (let y = 0; y < oh; y++) {
        const base = (b * h + 2 * y) * row;
        let g = ((b * oh + y) * ow) * c;
        for (let x = 0; x < ow; x++) {
          const p0 = base + 2 * x * c;
          for (let k = 0; k < c; k++, g++) {
            const a = p0 + k;
            let at = -1;
            let best = -Infinity;
            if (xv[a] > best) {
              best = xv[a];
              at = a;
            }
            if (xv[a + c] > best) {
              best = xv[a + c];
              at = a + c;
            }
            if (xv[a + row] > best) {
              best = xv[a + row];
              at = a + row;
            }
            if (xv[a + row + c] > best) at = a + row + c;
            if (at >= 0) out[at] = gv[g];
          }
        }
      }
    }
    return dx;
  }
  for (let b = 0; b < n; b++) {
    const xb = b * h * w * c;
    for (let y = 0; y < oh; y++) {
      const r0 = Math.max(0, y * sh - pt);
      const r1 = Math.min(h, y * sh - pt + fh);
      for (let x = 0; x < ow; x++) {
        const c0 = Math.max(0, x * sw - pl);
        const c1 = Math.min(w, x * sw - pl + fw);
        if (r0 >= r1 || c0 >= c1) continue;
        const g = ((b * oh + y) * ow + x) * c;
        for (let k = 0; k < c; k++) {
          let bestAt = -1;
          let best = -Infinity;
          for (let r = r0; r < r1; r++) {
            let p = xb + (r * w + c0) * c + k;
            for (let q = c0; q < c1; q++, p += c) {
              const v = xv[p];
              if (v > best) {
                best = v;
                bestAt = p;
              }
            }
          }
          // No value above -Infinity (or all NaN): like the stock kernel, the gradient is dropped.
          if (bestAt < 0) continue;
          if (disjoint) out[bestAt] = gv[g + k];
          else out[bestAt] += gv[g + k];
        }
      }
    }
  }
  return dx;
}

export function avgPoolGrad(ctx: KernelContext, dy: TensorInfo, input: TensorInfo, attrs: PoolGradAttrs): TensorInfo {
  const info = poolInfo(input.shape, attrs);
  const { batchSize: n, inHeight: h, inWidth: w, inChannels: c, outHeight: oh, outWidth: ow } = info;
  const { strideHeight: sh, strideWidth: sw, filterHeight: fh, filterWidth: fw } = info;
  const { top: pt, left: pl } = info.padInfo;
  const scale = 1 / (fh * fw);
  const dx = ctx.alloc(input.shape.slice());
  const out = ctx.f32(dx);
  const gv = ctx.f32(dy);
  if (sh === fh && sw === fw && pt === 0 && pl === 0 && oh * sh === h && ow * sw === w) {
    // Windows tile the input exactly (LeNet's 2×2/2): every dx element is one dy element, scaled.
    for (let b = 0, o = 0; b < n; b++) {
      for (let y = 0; y < oh; y++) {
        for (let i = 0; i < fh; i++) {
          const g0 = (b * oh + y) * ow * c;
          for (let x = 0; x < ow; x++) {
            const g = g0 + x * c;
            for (let j = 0; j < fw; j++) for (let k = 0; k < c; k++) out[o++] = gv[g + k] * scale;
          }
        }
      }
    }
    return dx;
  }
  out.fill(0);
  for (let b = 0; b < n; b++) {
    const xb = b * h * w * c;
    for (let y = 0; y < oh; y++) {
      const r0 = Math.max(0, y * sh - pt);
      const r1 = Math.min(h, y * sh - pt + fh);
      for (let x = 0; x < ow; x++) {
        const c0 = Math.max(0, x * sw - pl);
        const c1 = Math.min(w, x * sw - pl + fw);
        const g = ((b * oh + y) * ow + x) * c;
        for (let r = r0; r < r1; r++) {
          for (let q = c0; q < c1; q++) {
            const p = xb + (r * w + q) * c;
            for (let k = 0; k < c; k++) out[p + k] += gv[g + k] * scale;
          }
        }
      }
    }
  }
  return dx;
}
