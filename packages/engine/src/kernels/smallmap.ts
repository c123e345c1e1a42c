/**
 * Convolutions on tiny feature maps as one dense matrix product (wasm).
 *
 * On a 2×2 map a 3×3 "same" convolution reads each input pixel through at most 4 of its 9 taps:
 * XNNPACK's im2col-style convolution (and the gradients built from it) multiplies ~56% padding
 * zeros, at a GEMM shape (few output positions) it runs slowly. Written as a matrix over the
 * whole map, out[n, (y,x,o)] = Σ x[n, (r,q,c)] · M[(r,q,c), (y,x,o)] with
 * M = W[r − y·sh + pt, q − x·sw + pl, c, o] (0 outside the filter), the convolution is a single
 * fully-connected product of exactly the useful size when H·W < fh·fw. The input gradient is
 * dy · Mᵀ, the filter gradient xᵀ · dy folded back onto the taps.
 */
import * as tf from "@tensorflow/tfjs";
import { KernelContext } from "./context.ts";
import { transposeInto } from "./strides.ts";
import { cropPlan } from "./crop.ts";
import { applyActivation, product } from "./matmul.ts";

type TensorInfo = tf.TensorInfo;

/** Largest dense matrix built (floats). */
const MAX_MATRIX = 4 * 1024 * 1024;

/**
 * Whether the dense form pays: NHWC, no dilation, a map of no more pixels than the (cropped)
 * filter has taps (so the dense product does no more multiply-adds than the convolution, and
 * unlike the convolution it can leave the filter-sized operand unpacked: see denseProduct),
 * and a bounded matrix. Covers 1×1 maps (a cropped 1×1 convolution as one product).
 */
export function smallMapApplies(info: tf.backend_util.Conv2DInfo, channelsLast: boolean): boolean {
  if (!channelsLast || info.dilationHeight !== 1 || info.dilationWidth !== 1) return false;
  const { inHeight: h, inWidth: w, inChannels: ci, outChannels: co, outHeight: oh, outWidth: ow, filterHeight: fh, filterWidth: fw } = info;
  if (oh <= 0 || ow <= 0) return false;
  // Taps left after cropping those that only meet padding (a 1×1 map: the centre tap only).
  const plan = cropPlan(info);
  const taps = plan ? plan.height * plan.width : fh * fw;
  if (h * w > taps) return false;
  return h * w * ci * oh * ow * co <= MAX_MATRIX;
}

/** For each tap (i·fw + j) of the filter, the (input pixel, output pixel) pairs it joins. */
function tapPairs(info: tf.backend_util.Conv2DInfo): [number, number][][] {
  const {
    inHeight: h,
    inWidth: w,
    outHeight: oh,
    outWidth: ow,
    filterHeight: fh,
    filterWidth: fw,
    strideHeight: sh,
    strideWidth: sw,
  } = info;
  const { top: pt, left: pl } = info.padInfo;
  const pairs: [number, number][][] = Array.from({ length: fh * fw }, () => []);
  for (let y = 0; y < oh; y++) {
    for (let i = 0; i < fh; i++) {
      const r = y * sh + i - pt;
      if (r < 0 || r >= h) continue;
      for (let x = 0; x < ow; x++) {
        for (let j = 0; j < fw; j++) {
          const q = x * sw + j - pl;
          if (q < 0 || q >= w) continue;
          pairs[i * fw + j].push([r * w + q, y * ow + x]);
        }
      }
    }
  }
  return pairs;
}

/** M [H·W·ci, oh·ow·co] (transposed: false) or Mᵀ [oh·ow·co, H·W·ci] (transposed: true). */
function denseMatrix(ctx: KernelContext, filter: TensorInfo, info: tf.backend_util.Conv2DInfo, transposed: boolean): TensorInfo {
  const { inHeight: h, inWidth: w, inChannels: ci, outChannels: co, outHeight: oh, outWidth: ow, filterHeight: fh, filterWidth: fw } = info;
  const rows = h * w * ci;
  const cols = oh * ow * co;
  const pairs = tapPairs(info);
  let source = filter;
  if (transposed) {
    // W per tap as [co, ci], so that Mᵀ's rows are copied in contiguous runs of ci.
    source = ctx.alloc([fh * fw, co, ci]);
    const src = ctx.f32(filter);
    const dst = ctx.f32(source);
    pairs.forEach((joined, t) => {
      if (joined.length > 0) transposeInto(dst, t * ci * co, ci, src, t * ci * co, co, ci, co);
    });
  }
  const m = transposed ? ctx.alloc([1, cols, rows]) : ctx.alloc([1, rows, cols]);
  const mv = ctx.f32(m);
  const wv = ctx.f32(source);
  mv.fill(0);
  // Block (inPixel, outPixel) is W[tap] ([ci, co]) or its transpose ([co, ci]).
  const [a, b] = transposed ? [co, ci] : [ci, co];
  const stride = transposed ? rows : cols;
  pairs.forEach((joined, tap) => {
    const src = tap * ci * co;
    for (const [inPixel, outPixel] of joined) {
      const [rowBlock, colBlock] = transposed ? [outPixel, inPixel] : [inPixel, outPixel];
      let dst = rowBlock * a * stride + colBlock * b;
      for (let k = 0; k < a; k++, dst += stride) mv.set(wv.subarray(src + k * b, src + (k + 1) * b), dst);
    }
  });
  if (source !== filter) ctx.free(source);
  return m;
}

/**
 * v [n, len] · M (transposed: false) or v · Mᵀ (transposed: true). The matrix is built in the
 * orientation the product can stream — handed over as a transposed second operand — so that
 * `product` does not pack it when it is big (see matmul.ts).
 */
function denseProduct(
  ctx: KernelContext,
  v: TensorInfo,
  filter: TensorInfo,
  info: tf.backend_util.Conv2DInfo,
  transposed: boolean,
): TensorInfo {
  const m = denseMatrix(ctx, filter, info, !transposed);
  const out = product(ctx, v, m, false, true);
  ctx.free(m);
  return out;
}

/** Conv2D / FusedConv2D (NHWC, float32) as x · M, bias and activation applied after. Null: not handled. */
export function smallMapForward(
  ctx: KernelContext,
  inputs: Record<string, TensorInfo>,
  attrs: Record<string, unknown>,
  info: tf.backend_util.Conv2DInfo,
): TensorInfo | null {
  const { x, filter, bias, preluActivationWeights } = inputs;
  const activation = String(attrs.activation ?? "linear");
  if (preluActivationWeights || activation === "prelu") return null;
  const { batchSize: n, inHeight: h, inWidth: w, inChannels: ci, outChannels: co, outHeight: oh, outWidth: ow } = info;
  const biasSize = bias ? tf.util.sizeFromShape(bias.shape) : 0;
  if (bias && ((biasSize !== 1 && biasSize !== co) || bias.dtype !== "float32")) return null;
  const out = denseProduct(ctx, KernelContext.reshaped(x, [1, n, h * w * ci]), filter, info, false);
  const values = ctx.f32(out);
  if (bias) {
    const bv = ctx.f32(bias);
    if (biasSize === 1) for (let i = 0; i < values.length; i++) values[i] += bv[0];
    else for (let i = 0; i < values.length; i += co) for (let o = 0; o < co; o++) values[i + o] += bv[o];
  }
  applyActivation(values, activation, undefined, co, Number(attrs.leakyreluAlpha ?? 0.2));
  return KernelContext.reshaped(out, [n, oh, ow, co]);
}

/** Conv2DBackpropInput (NHWC) as dy · Mᵀ. */
export function smallMapBackpropInput(
  ctx: KernelContext,
  dy: TensorInfo,
  filter: TensorInfo,
  info: tf.backend_util.Conv2DInfo,
): TensorInfo {
  const { batchSize: n, inHeight: h, inWidth: w, inChannels: ci, outChannels: co, outHeight: oh, outWidth: ow } = info;
  const out = denseProduct(ctx, KernelContext.reshaped(dy, [1, n, oh * ow * co]), filter, info, true);
  return KernelContext.reshaped(out, [n, h, w, ci]);
}

/**
 * Conv2DBackpropFilter (NHWC): dW[tap] = Σ over the (input pixel, output pixel) pairs the tap
 * joins of x[:, in]ᵀ · dy[:, out] — one product per tap, the pairs stacked along the batch:
 * A = [x[:, in₁] | x[:, in₂] | …]ᵀ ([ci, pairs·n]) times B = [dy[:, out₁]; dy[:, out₂]; …]
 * ([pairs·n, co]). Summing inside the product, not over a whole xᵀ·dy afterwards in JS.
 */
export function smallMapBackpropFilter(ctx: KernelContext, x: TensorInfo, dy: TensorInfo, info: tf.backend_util.Conv2DInfo): TensorInfo {
  const {
    batchSize: n,
    inHeight: h,
    inWidth: w,
    inChannels: ci,
    outChannels: co,
    outHeight: oh,
    outWidth: ow,
    filterHeight: fh,
    filterWidth: fw,
  } = info;
  const pairs = tapPairs(info);
  const dW = ctx.alloc([fh, fw, ci, co]);
  for (let tap = 0; tap < pairs.length; tap++) {
    const joined = pairs[tap];
    if (joined.length === 0) {
      ctx.f32(dW).fill(0, tap * ci * co, (tap + 1) * ci * co);
      continue;
    }
    const k = joined.length * n;
    const a = ctx.alloc([1, ci, k]);
    const b = ctx.alloc([1, k, co]);
    const [av, bv, xv, dyv] = [ctx.f32(a), ctx.f32(b), ctx.f32(x), ctx.f32(dy)];
    joined.forEach(([inPixel, outPixel], p) => {
      transposeInto(av, p * n, k, xv, inPixel * ci, h * w * ci, n, ci);
      for (let bi = 0; bi < n; bi++) {
        const from = (bi * oh * ow + outPixel) * co;
        bv.set(dyv.subarray(from, from + co), (p * n + bi) * co);
      }
    });
    const g = ctx.run("BatchMatMul", { a, b }, { transposeA: false, transposeB: false });
    ctx.f32(dW).set(ctx.f32(g), tap * ci * co);
    ctx.free(a, b, g);
  }
  return dW;
}
