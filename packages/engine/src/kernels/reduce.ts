/**
 * Small layout-bound kernels where wasm's generic C++ loops are slow: the per-channel Sum of
 * bias gradients (wasm transposes before reducing leading axes) and zero padding.
 */
import * as tf from "@tensorflow/tfjs";
import type { KernelContext } from "./context.ts";

type TensorInfo = tf.TensorInfo;

/** Sum over every axis but the last (bias gradients); otherwise the stock kernel. */
export function sumLeading(ctx: KernelContext, x: TensorInfo, attrs: { axis: number | number[]; keepDims?: boolean }): TensorInfo {
  const rank = x.shape.length;
  const axes = tf.util.parseAxisParam(attrs.axis, x.shape).sort((a, b) => a - b);
  const leading = rank >= 2 && axes.length === rank - 1 && axes.every((a, i) => a === i);
  if (!leading || x.dtype !== "float32") return ctx.run("Sum", { x }, attrs);
  const c = x.shape[rank - 1];
  const rows = tf.util.sizeFromShape(x.shape) / c;
  const outShape = attrs.keepDims ? [...Array(rank - 1).fill(1), c] : [c];
  const out = ctx.alloc(outShape);
  const acc = new Float64Array(c);
  const xv = ctx.f32(x);
  if (c === 1) {
    let s = 0;
    for (let i = 0; i < rows; i++) s += xv[i];
    acc[0] = s;
  } else {
    for (let r = 0, p = 0; r < rows; r++) for (let k = 0; k < c; k++, p++) acc[k] += xv[p];
  }
  ctx.f32(out).set(acc);
  return out;
}

/** Constant padding of a float32 tensor of rank ≤ 4; otherwise the stock kernel. */
export function padV2(ctx: KernelContext, x: TensorInfo, attrs: { paddings: [number, number][]; constantValue: number }): TensorInfo {
  const rank = x.shape.length;
  if (rank > 4 || rank === 0 || x.dtype !== "float32") return ctx.run("PadV2", { x }, attrs);
  const lift = 4 - rank;
  const shape = [...Array(lift).fill(1), ...x.shape];
  const pads: [number, number][] = [...Array(lift).fill([0, 0]), ...attrs.paddings];
  const outShape = shape.map((d, i) => d + pads[i][0] + pads[i][1]);
  const out = ctx.alloc(outShape.slice(lift));
  const ov = ctx.f32(out);
  const xv = ctx.f32(x);
  ov.fill(attrs.constantValue ?? 0);
  const [d0, d1, d2, d3] = shape;
  const [o1, o2, o3] = [outShape[1], outShape[2], outShape[3]];
  for (let a = 0; a < d0; a++) {
    for (let b = 0; b < d1; b++) {
      for (let c = 0; c < d2; c++) {
        const src = ((a * d1 + b) * d2 + c) * d3;
        const dst = (((a + pads[0][0]) * o1 + b + pads[1][0]) * o2 + c + pads[2][0]) * o3 + pads[3][0];
        if (d3 >= 64) ov.set(xv.subarray(src, src + d3), dst);
        else for (let k = 0; k < d3; k++) ov[dst + k] = xv[src + k];
      }
    }
  }
  return out;
}
