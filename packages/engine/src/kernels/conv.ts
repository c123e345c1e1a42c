/**
 * The gradients of a 2-D convolution, computed as forward convolutions so that the backend's
 * fast forward kernel (XNNPACK on wasm) does the arithmetic.
 *
 * Filter gradient: dW[i,j,c,o] = Σ_{n,y,x} xpad[n, y·s+i, x·s+j, c] · dy[n,y,x,o]. Read x as a
 * batch of C images [C, H, W, N] (N as channels) and dy as a filter [outH, outW, N, O]: this is
 * a forward convolution with dilation = the stride, giving [C, fh, fw, O].
 *
 * Input gradient: dx = dy (zero-inserted by the stride, padded by fh-1-top) convolved with the
 * filter rotated 180° and its channels swapped.
 */
import * as tf from "@tensorflow/tfjs";
import { KernelContext } from "./context.ts";
import { product } from "./matmul.ts";
import { cropFilter, cropPlan, uncropFilter } from "./crop.ts";
import { smallMapApplies, smallMapBackpropFilter, smallMapBackpropInput, smallMapForward } from "./smallmap.ts";
import { activationStrides, conv2dInfo, flipFilter, gather4, scatterDilated, type ConvGeometryAttrs, type Pad } from "./strides.ts";

type TensorInfo = tf.TensorInfo;

function explicitPad(top: number, bottom: number, left: number, right: number): tf.backend_util.ExplicitPadding {
  return [
    [0, 0],
    [top, bottom],
    [left, right],
    [0, 0],
  ];
}

export interface BackpropFilterAttrs {
  strides: number | [number, number];
  pad: Pad;
  dataFormat?: "NHWC" | "NCHW";
  dimRoundingMode?: "floor" | "round" | "ceil";
  filterShape: [number, number, number, number];
  dilations?: number | [number, number];
}

/** Filter gradient of a (possibly dilated) 2-D convolution; x and dy in `dataFormat`. */
export function conv2dBackpropFilter(ctx: KernelContext, x: TensorInfo, dy: TensorInfo, attrs: BackpropFilterAttrs): TensorInfo {
  const channelsLast = (attrs.dataFormat ?? "NHWC") === "NHWC";
  const info = conv2dInfo(x.shape, attrs.filterShape, attrs);
  const { batchSize: n, inHeight: h, inWidth: w, inChannels: ci, outChannels: co, outHeight: oh, outWidth: ow } = info;
  const { strideHeight: sh, strideWidth: sw, dilationHeight: dh, dilationWidth: dw, filterHeight: fh, filterWidth: fw } = info;
  const { top: pt, left: pl } = info.padInfo;
  if (dh !== 1 || dw !== 1) return dilatedBackpropFilter(ctx, x, dy, info, channelsLast);
  if (ctx.name === "wasm" && smallMapApplies(info, channelsLast)) return smallMapBackpropFilter(ctx, x, dy, info);
  // A first layer (few input channels, many filters): one product over a transposed im2col.
  if (ctx.name === "wasm" && channelsLast && ci <= 3 && co >= 16) return backpropFilterFewChannels(ctx, x, dy, info);
  const plan = channelsLast ? cropPlan(info) : null;
  if (plan) {
    // Taps that never meet the input get a zero gradient; compute the others only.
    const part = conv2dBackpropFilter(ctx, x, dy, {
      strides: [sh, sw],
      pad: plan.pad,
      dataFormat: "NHWC",
      filterShape: [plan.height, plan.width, ci, co],
    });
    const full = ctx.zeros([fh, fw, ci, co]);
    uncropFilter(ctx.f32(full), ctx.f32(part), fw, ci * co, plan);
    ctx.free(part);
    return full;
  }

  // Rows/columns of the padded input the convolution reads; the rest is cropped.
  const needH = (oh - 1) * sh + fh;
  const needW = (ow - 1) * sw + fw;
  const hUsed = Math.max(0, Math.min(h, needH - pt));
  const wUsed = Math.max(0, Math.min(w, needW - pl));
  const pb = needH - pt - hUsed;
  const pr = needW - pl - wUsed;

  const xT = ctx.alloc([ci, hUsed, wUsed, n]);
  const dyT = ctx.alloc([oh, ow, n, co]);
  {
    const xs = activationStrides(x.shape, channelsLast); // [N, H, W, C] order
    gather4(ctx.f32(xT), [ci, hUsed, wUsed, n], ctx.f32(x), [xs[3], xs[1], xs[2], xs[0]]);
    const ys = activationStrides(dy.shape, channelsLast);
    gather4(ctx.f32(dyT), [oh, ow, n, co], ctx.f32(dy), [ys[1], ys[2], ys[0], ys[3]]);
  }
  const out = ctx.run(
    "Conv2D",
    { x: xT, filter: dyT },
    {
      strides: [1, 1],
      pad: explicitPad(pt, pb, pl, pr),
      dataFormat: "NHWC",
      dilations: [sh, sw],
    },
  );
  ctx.free(xT, dyT);
  // out: [ci, fh, fw, co] → [fh, fw, ci, co]
  if (ci === 1) return KernelContext.reshaped(out, [fh, fw, ci, co]);
  const dW = ctx.alloc([fh, fw, ci, co]);
  gather4(ctx.f32(dW), [fh, fw, ci, co], ctx.f32(out), [fw * co, co, fh * fw * co, 1]);
  ctx.free(out);
  return dW;
}

/**
 * Filter gradient for 1–3 input channels (a first layer on image data): as a forward
 * convolution it would have 1–3 "images" of one huge filter, a GEMM shape XNNPACK runs at a
 * fraction of its speed. Instead build the transposed im2col A[(i,j,c), (b,y,x)] =
 * xpad[b, y·sh+i, x·sw+j, c] and take one product A · dy[(b,y,x), o] = dW[(i,j,c), o].
 */
export function backpropFilterFewChannels(ctx: KernelContext, x: TensorInfo, dy: TensorInfo, info: tf.backend_util.Conv2DInfo): TensorInfo {
  const { batchSize: n, inHeight: h, inWidth: w, inChannels: ci, outChannels: co, outHeight: oh, outWidth: ow } = info;
  const { strideHeight: sh, strideWidth: sw, filterHeight: fh, filterWidth: fw } = info;
  const { top: pt, left: pl } = info.padInfo;
  const positions = n * oh * ow;
  const a = ctx.alloc([1, fh * fw * ci, positions]);
  const av = ctx.f32(a);
  const xv = ctx.f32(x);
  let o = 0;
  for (let i = 0; i < fh; i++) {
    for (let j = 0; j < fw; j++) {
      // Output columns whose input column is inside the image: [x0, x1).
      const x0 = Math.max(0, Math.ceil((pl - j) / sw));
      const x1 = Math.max(x0, Math.min(ow, Math.floor((w - 1 + pl - j) / sw) + 1));
      for (let c = 0; c < ci; c++) {
        for (let b = 0; b < n; b++) {
          for (let y = 0; y < oh; y++) {
            const r = y * sh + i - pt;
            if (r < 0 || r >= h) {
              av.fill(0, o, o + ow);
              o += ow;
              continue;
            }
            const rowBase = (b * h + r) * w * ci + c;
            let xo = 0;
            for (; xo < x0; xo++) av[o++] = 0;
            for (let p = rowBase + (xo * sw + j - pl) * ci; xo < x1; xo++, p += sw * ci) av[o++] = xv[p];
            for (; xo < ow; xo++) av[o++] = 0;
          }
        }
      }
    }
  }
  const out = ctx.run("BatchMatMul", { a, b: KernelContext.reshaped(dy, [1, positions, co]) }, { transposeA: false, transposeB: false });
  ctx.free(a);
  return KernelContext.reshaped(out, [fh, fw, ci, co]);
}

/** Dilated filters (not produced by TF.js's own gradients, kept for completeness): direct loops. */
function dilatedBackpropFilter(
  ctx: KernelContext,
  x: TensorInfo,
  dy: TensorInfo,
  info: tf.backend_util.Conv2DInfo,
  channelsLast: boolean,
): TensorInfo {
  const { batchSize: n, inHeight: h, inWidth: w, inChannels: ci, outChannels: co, outHeight: oh, outWidth: ow } = info;
  const { strideHeight: sh, strideWidth: sw, dilationHeight: dh, dilationWidth: dw, filterHeight: fh, filterWidth: fw } = info;
  const { top: pt, left: pl } = info.padInfo;
  const dW = ctx.zeros([fh, fw, ci, co]);
  const xs = activationStrides(x.shape, channelsLast);
  const ys = activationStrides(dy.shape, channelsLast);
  const xv = ctx.f32(x);
  const yv = ctx.f32(dy);
  const out = ctx.f32(dW);
  for (let b = 0; b < n; b++) {
    for (let y = 0; y < oh; y++) {
      for (let xo = 0; xo < ow; xo++) {
        const yBase = b * ys[0] + y * ys[1] + xo * ys[2];
        for (let i = 0; i < fh; i++) {
          const r = y * sh + i * dh - pt;
          if (r < 0 || r >= h) continue;
          for (let j = 0; j < fw; j++) {
            const c = xo * sw + j * dw - pl;
            if (c < 0 || c >= w) continue;
            const xBase = b * xs[0] + r * xs[1] + c * xs[2];
            const wBase = (i * fw + j) * ci * co;
            for (let a = 0; a < ci; a++) {
              const xval = xv[xBase + a * xs[3]];
              if (xval === 0) continue;
              const o = wBase + a * co;
              for (let k = 0; k < co; k++) out[o + k] += xval * yv[yBase + k * ys[3]];
            }
          }
        }
      }
    }
  }
  return dW;
}

export interface BackpropInputAttrs {
  strides: number | [number, number];
  pad: Pad;
  dataFormat?: "NHWC" | "NCHW";
  dimRoundingMode?: "floor" | "round" | "ceil";
  inputShape: [number, number, number, number];
  dilations?: number | [number, number];
}

/** Input gradient of a 2-D convolution (dilation 1, as TF.js's gradients require). */
export function conv2dBackpropInput(ctx: KernelContext, dy: TensorInfo, filter: TensorInfo, attrs: BackpropInputAttrs): TensorInfo {
  const channelsLast = (attrs.dataFormat ?? "NHWC") === "NHWC";
  const info = conv2dInfo(attrs.inputShape, filter.shape, { ...attrs, dilations: 1 });
  const { batchSize: n, inHeight: h, inWidth: w, inChannels: ci, outChannels: co, outHeight: oh, outWidth: ow } = info;
  const { strideHeight: sh, strideWidth: sw, filterHeight: fh, filterWidth: fw } = info;
  const { top: pt, left: pl } = info.padInfo;

  if (ctx.name === "wasm" && smallMapApplies(info, channelsLast)) return smallMapBackpropInput(ctx, dy, filter, info);
  const plan = channelsLast ? cropPlan(info) : null;
  if (plan) {
    const cropped = ctx.alloc([plan.height, plan.width, ci, co]);
    cropFilter(ctx.f32(cropped), ctx.f32(filter), fw, ci * co, plan);
    const dx = conv2dBackpropInput(ctx, dy, cropped, {
      strides: [sh, sw],
      pad: plan.pad,
      dataFormat: "NHWC",
      inputShape: attrs.inputShape,
    });
    ctx.free(cropped);
    return dx;
  }

  // A stride: zero insertion would waste stride² work; GEMM + col2im instead.
  if (sh > 1 || sw > 1) return backpropInputCol2im(ctx, dy, filter, info, channelsLast);

  // Padding of dy so that a valid convolution yields h × w.
  const top = fh - 1 - pt;
  const left = fw - 1 - pl;
  const bottom = h + pt - oh;
  const right = w + pl - ow;
  const padsOk = top >= 0 && left >= 0 && bottom >= 0 && right >= 0;
  // Very few input channels: the forward convolution below would have 1–3 output channels,
  // which XNNPACK's GEMM tiles poorly; a depthwise convolution over (batch, channel) does better.
  if (padsOk && ci < 4 && ctx.name === "wasm")
    return backpropInputDepthwise(ctx, dy, filter, info, channelsLast, explicitPad(top, bottom, left, right));

  const flipped = ctx.alloc([fh, fw, co, ci]);
  flipFilter(ctx.f32(flipped), ctx.f32(filter), fh, fw, ci, co);

  let input: TensorInfo;
  let pad: tf.backend_util.ExplicitPadding;
  let ownsInput = false;
  if (channelsLast && padsOk) {
    input = dy;
    pad = explicitPad(top, bottom, left, right);
  } else {
    const hp = h + fh - 1;
    const wp = w + fw - 1;
    input = ctx.zeros([n, hp, wp, co]);
    ownsInput = true;
    scatterDilated(
      ctx.f32(input),
      [n, hp, wp, co],
      ctx.f32(dy),
      [n, oh, ow, co],
      activationStrides(dy.shape, channelsLast),
      top,
      left,
      1,
      1,
    );
    pad = explicitPad(0, 0, 0, 0);
  }
  const dx = ctx.run("Conv2D", { x: input, filter: flipped }, { strides: [1, 1], pad, dataFormat: "NHWC", dilations: [1, 1] });
  if (ownsInput) ctx.free(input);
  ctx.free(flipped);
  if (channelsLast) return dx;
  const dxT = ctx.alloc([n, ci, h, w]);
  gather4(ctx.f32(dxT), [n, ci, h, w], ctx.f32(dx), [h * w * ci, 1, w * ci, ci]);
  ctx.free(dx);
  return dxT;
}

/**
 * dx for few input channels: dx[n,r,q,c] = Σ_o Σ_ij dypad[n, r+i, q+j, o] · Wflip[i,j,o,c] is,
 * for each (n, o), a depthwise convolution of one plane with multiplier ci; so run one depthwise
 * convolution over dy laid out as [1, outH, outW, N·co], then sum over o.
 */
function backpropInputDepthwise(
  ctx: KernelContext,
  dy: TensorInfo,
  filter: TensorInfo,
  info: tf.backend_util.Conv2DInfo,
  channelsLast: boolean,
  pad: tf.backend_util.ExplicitPadding,
): TensorInfo {
  const { batchSize: n, inHeight: h, inWidth: w, inChannels: ci, outChannels: co, outHeight: oh, outWidth: ow } = info;
  const { filterHeight: fh, filterWidth: fw } = info;
  const planes = n * co;
  const dyT = ctx.alloc([1, oh, ow, planes]);
  const dwf = ctx.alloc([fh, fw, planes, ci]);
  {
    const ys = activationStrides(dy.shape, channelsLast);
    gather4(ctx.f32(dyT), [oh, ow, n, co], ctx.f32(dy), [ys[1], ys[2], ys[0], ys[3]]);
    const wv = ctx.f32(filter);
    const fv = ctx.f32(dwf);
    for (let i = 0; i < fh; i++) {
      for (let j = 0; j < fw; j++) {
        const src = ((fh - 1 - i) * fw + (fw - 1 - j)) * ci * co;
        const dst = (i * fw + j) * planes * ci;
        for (let o = 0; o < co; o++) for (let c = 0; c < ci; c++) fv[dst + o * ci + c] = wv[src + c * co + o];
        // The same taps for every image.
        for (let b = 1; b < n; b++) fv.copyWithin(dst + b * co * ci, dst, dst + co * ci);
      }
    }
  }
  const out = ctx.run("DepthwiseConv2dNative", { x: dyT, filter: dwf }, { strides: [1, 1], pad, dilations: [1, 1] });
  ctx.free(dyT, dwf);
  const dx = ctx.alloc(channelsLast ? [n, h, w, ci] : [n, ci, h, w]);
  const xs = activationStrides(dx.shape, channelsLast);
  const dv = ctx.f32(dx);
  const ov = ctx.f32(out);
  // out[0, r, q, (b·co + o)·ci + c] summed over o.
  for (let r = 0, p = 0; r < h; r++) {
    for (let q = 0; q < w; q++) {
      for (let b = 0; b < n; b++) {
        const base = b * xs[0] + r * xs[1] + q * xs[2];
        for (let c = 0; c < ci; c++) {
          let s = 0;
          for (let o = 0; o < co; o++) s += ov[p + o * ci + c];
          dv[base + c * xs[3]] = s;
        }
        p += co * ci;
      }
    }
  }
  ctx.free(out);
  return dx;
}

/**
 * dx via a matrix product and col2im: cols[p, (i,j,c)] = Σ_o dy[p, o] · W[i,j,c,o] over the
 * N·outH·outW positions p, then each column is added into the input pixel it came from.
 */
function backpropInputCol2im(
  ctx: KernelContext,
  dy: TensorInfo,
  filter: TensorInfo,
  info: tf.backend_util.Conv2DInfo,
  channelsLast: boolean,
): TensorInfo {
  const { batchSize: n, inHeight: h, inWidth: w, inChannels: ci, outChannels: co, outHeight: oh, outWidth: ow } = info;
  const { strideHeight: sh, strideWidth: sw, filterHeight: fh, filterWidth: fw } = info;
  const { top: pt, left: pl } = info.padInfo;
  const positions = n * oh * ow;
  const k = fh * fw * ci;
  let dyNHWC = dy;
  if (!channelsLast) {
    dyNHWC = ctx.alloc([n, oh, ow, co]);
    const s = activationStrides(dy.shape, false);
    gather4(ctx.f32(dyNHWC), [n, oh, ow, co], ctx.f32(dy), s);
  }
  // dy · Wᵀ with W as stored ([fh·fw·ci, co], i.e. the second operand transposed): on small maps
  // (few positions, a big filter) `product` streams W rather than packing it.
  const cols = product(ctx, KernelContext.reshaped(dyNHWC, [1, positions, co]), KernelContext.reshaped(filter, [1, k, co]), false, true);
  if (dyNHWC !== dy) ctx.free(dyNHWC);
  const dx = ctx.alloc(channelsLast ? [n, h, w, ci] : [n, ci, h, w]);
  const out = ctx.f32(dx);
  out.fill(0);
  const cv = ctx.f32(cols);
  const xs = activationStrides(dx.shape, channelsLast);
  for (let b = 0; b < n; b++) {
    for (let y = 0; y < oh; y++) {
      for (let x = 0; x < ow; x++) {
        const p = ((b * oh + y) * ow + x) * k;
        for (let i = 0; i < fh; i++) {
          const r = y * sh + i - pt;
          if (r < 0 || r >= h) continue;
          for (let j = 0; j < fw; j++) {
            const q = x * sw + j - pl;
            if (q < 0 || q >= w) continue;
            const src = p + (i * fw + j) * ci;
            const dst = b * xs[0] + r * xs[1] + q * xs[2];
            if (xs[3] === 1) for (let c = 0; c < ci; c++) out[dst + c] += cv[src + c];
            else for (let c = 0; c < ci; c++) out[dst + c * xs[3]] += cv[src + c];
          }
        }
      }
    }
  }
  ctx.free(cols);
  return dx;
}

/**
 * Forward Conv2D / FusedConv2D: the stock kernel, with taps that only meet padding cropped off
 * the filter first.
 */
export function conv2dForward(
  ctx: KernelContext,
  kernelName: "Conv2D" | "FusedConv2D",
  inputs: Record<string, TensorInfo>,
  attrs: Record<string, unknown>,
): TensorInfo {
  const { x, filter } = inputs;
  const dataFormat = (attrs.dataFormat as string | undefined) ?? "NHWC";
  if (dataFormat !== "NHWC" || x.dtype !== "float32") return ctx.run(kernelName, inputs, attrs);
  const info = conv2dInfo(x.shape, filter.shape, attrs as unknown as ConvGeometryAttrs);
  if (smallMapApplies(info, true)) {
    const out = smallMapForward(ctx, inputs, attrs, info);
    if (out) return out;
  }
  const plan = cropPlan(info);
  if (!plan) return ctx.run(kernelName, inputs, attrs);
  const [, , ci, co] = filter.shape;
  const cropped = ctx.alloc([plan.height, plan.width, ci, co]);
  cropFilter(ctx.f32(cropped), ctx.f32(filter), filter.shape[1], ci * co, plan);
  const out = ctx.run(kernelName, { ...inputs, filter: cropped }, { ...attrs, pad: plan.pad, dimRoundingMode: undefined });
  ctx.free(cropped);
  return out;
}
