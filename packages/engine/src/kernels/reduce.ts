/**
 * Small layout-bound kernels where wasm's generic C++ loops are slow: the per-channel Sum of
 * bias gradients and Mean of batch norm's moments (wasm transposes before reducing leading
 * axes), zero padding, tiling.
 */
import * as tf from "@tensorflow/tfjs";
import type { KernelContext } from "./context.ts";

type TensorInfo = tf.TensorInfo;

/** Sum over every axis but the last (bias gradients); otherwise the stock kernel. */
export function sumLeading(ctx: KernelContext, x: TensorInfo, attrs: { axis: number | number[]; keepDims?: boolean }): TensorInfo {
  return reduceLeading(ctx, "Sum", x, attrs);
}

/** Mean over every axis but the last (batch norm's moments in training); otherwise the stock kernel. */
export function meanLeading(ctx: KernelContext, x: TensorInfo, attrs: { axis: number | number[]; keepDims?: boolean }): TensorInfo {
  return reduceLeading(ctx, "Mean", x, attrs);
}

function reduceLeading(
  ctx: KernelContext,
  kernelName: "Sum" | "Mean",
  x: TensorInfo,
  attrs: { axis: number | number[]; keepDims?: boolean },
): TensorInfo {
  const rank = x.shape.length;
  const axes = tf.util.parseAxisParam(attrs.axis, x.shape).sort((a, b) => a - b);
  const leading = rank >= 2 && axes.length === rank - 1 && axes.every((a, i) => a === i);
  if (!leading || x.dtype !== "float32") return ctx.run(kernelName, { x }, attrs);
  const c = x.shape[rank - 1];
  const rows = tf.util.sizeFromShape(x.shape) / c;
  if (kernelName === "Mean" && rows === 0) return ctx.run(kernelName, { x }, attrs);
  const outShape = attrs.keepDims ? [...Array(rank - 1).fill(1), c] : [c];
  const out = ctx.alloc(outShape);
  const acc = new Float64Array(c);
  const xv = ctx.f32(x);
  // Eight (then four) channels at a time in local accumulators (registers), one strided pass each.
  const n = rows * c;
  let k = 0;
  for (; k + 8 <= c; k += 8) {
    let s0 = 0,
      s1 = 0,
      s2 = 0,
      s3 = 0,
      s4 = 0,
      s5 = 0,
      s6 = 0,
      s7 = 0;
    for (let p = k; p < n; p += c) {
      s0 += xv[p];
      s1 += xv[p + 1];
      s2 += xv[p + 2];
      s3 += xv[p + 3];
      s4 += xv[p + 4];
      s5 += xv[p + 5];
      s6 += xv[p + 6];
      s7 += xv[p + 7];
    }
    acc[k] = s0;
    acc[k + 1] = s1;
    acc[k + 2] = s2;
    acc[k + 3] = s3;
    acc[k + 4] = s4;
    acc[k + 5] = s5;
    acc[k + 6] = s6;
    acc[k + 7] = s7;
  }
  for (; k + 4 <= c; k += 4) {
    let s0 = 0,
      s1 = 0,
      s2 = 0,
      s3 = 0;
    for (let p = k; p < n; p += c) {
      s0 += xv[p];
      s1 += xv[p + 1];
      s2 += xv[p + 2];
      s3 += xv[p + 3];
    }
    acc[k] = s0;
    acc[k + 1] = s1;
    acc[k + 2] = s2;
    acc[k + 3] = s3;
  }
  for (; k < c; k++) {
    let s = 0;
    for (let p = k; p < n; p += c) s += xv[p];
    acc[k] = s;
  }
  if (kernelName === "Mean") for (let i = 0; i < c; i++) acc[i] /= rows;
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

/**
 * Tile (batch norm's gradient tiles per-channel factors to the activation's full shape; wasm's
 * generic C++ loop is slow at it). Copies whole innermost rows; float32 only.
 */
export function tile(ctx: KernelContext, x: TensorInfo, attrs: { reps: number[] }): TensorInfo {
  if (x.dtype !== "float32" || x.shape.length === 0) return ctx.run("Tile", { x }, attrs);
  const shape = x.shape;
  const reps = attrs.reps;
  const rank = shape.length;
  const outShape = shape.map((d, i) => d * reps[i]);
  const out = ctx.alloc(outShape);
  const ov = ctx.f32(out);
  const xv = ctx.f32(x);
  const inner = shape[rank - 1];
  const innerReps = reps[rank - 1];
  const outInner = inner * innerReps;
  const rows = ov.length / outInner;
  // Source row of output row r: mixed-radix digits of r over outShape[0..rank-2], each mod shape[d].
  const index = new Array<number>(rank - 1).fill(0);
  const srcStrides = new Array<number>(rank - 1);
  for (let d = rank - 2, s = 1; d >= 0; d--) {
    srcStrides[d] = s;
    s *= shape[d];
  }
  for (let r = 0, o = 0; r < rows; r++) {
    let srcRow = 0;
    for (let d = 0; d < rank - 1; d++) srcRow += (index[d] % shape[d]) * srcStrides[d];
    const p = srcRow * inner;
    for (let k = 0; k < innerReps; k++) {
      if (inner >= 64) {
        ov.set(xv.subarray(p, p + inner), o);
        o += inner;
      } else for (let i = 0; i < inner; i++) ov[o++] = xv[p + i];
    }
    for (let d = rank - 2; d >= 0; d--) {
      if (++index[d] < outShape[d]) break;
      index[d] = 0;
    }
  }
  return out;
}
