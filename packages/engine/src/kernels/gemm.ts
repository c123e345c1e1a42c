/**
 * Matrix product and convolution in plain JS for the `cpu` backend (its stock Conv2D and
 * MatMul run at ~0.5 GFLOP/s). A 4×4 register-blocked kernel over B packed in 4-column panels;
 * convolutions as im2col over blocks of output positions followed by the product.
 */
import * as tf from "@tensorflow/tfjs";
import type { KernelContext } from "./context.ts";
import { applyActivation } from "./matmul.ts";

type TensorInfo = tf.TensorInfo;

/** B [k×n] (element (p, j) at b[bOff + p·bRow + j·bCol]) packed as ceil(n/4) panels of k×4. */
export function packB(b: Float32Array, bOff: number, bRow: number, bCol: number, k: number, n: number): Float32Array {
  const panels = Math.ceil(n / 4);
  const out = new Float32Array(panels * k * 4);
  for (let jp = 0; jp < panels; jp++) {
    const base = jp * k * 4;
    for (let q = 0; q < 4; q++) {
      const j = jp * 4 + q;
      if (j >= n) continue;
      let src = bOff + j * bCol;
      for (let p = 0; p < k; p++, src += bRow) out[base + p * 4 + q] = b[src];
    }
  }
  return out;
}

/**
 * C[m×n] (row stride n, at cOff) = A[m×k] (row-major, row stride aRow, at aOff) · packed B.
 * Overwrites C.
 */
export function gemmPacked(a: Float32Array, aOff: number, aRow: number, bp: Float32Array, c: Float32Array, cOff: number, m: number, n: number, k: number): void {
  const panels = Math.ceil(n / 4);
  let i = 0;
  for (; i + 4 <= m; i += 4) {
    const a0 = aOff + i * aRow;
    const a1 = a0 + aRow;
    const a2 = a1 + aRow;
    const a3 = a2 + aRow;
    for (let jp = 0; jp < panels; jp++) {
      let c00 = 0, c01 = 0, c02 = 0, c03 = 0;
      let c10 = 0, c11 = 0, c12 = 0, c13 = 0;
      let c20 = 0, c21 = 0, c22 = 0, c23 = 0;
      let c30 = 0, c31 = 0, c32 = 0, c33 = 0;
      let q = jp * k * 4;
      for (let p = 0; p < k; p++, q += 4) {
        const b0 = bp[q], b1 = bp[q + 1], b2 = bp[q + 2], b3 = bp[q + 3];
        const x0 = a[a0 + p], x1 = a[a1 + p], x2 = a[a2 + p], x3 = a[a3 + p];
        c00 += x0 * b0; c01 += x0 * b1; c02 += x0 * b2; c03 += x0 * b3;
        c10 += x1 * b0; c11 += x1 * b1; c12 += x1 * b2; c13 += x1 * b3;
        c20 += x2 * b0; c21 += x2 * b1; c22 += x2 * b2; c23 += x2 * b3;
        c30 += x3 * b0; c31 += x3 * b1; c32 += x3 * b2; c33 += x3 * b3;
      }
      const j = jp * 4;
      store(c, cOff + i * n, n, j, c00, c01, c02, c03);
      store(c, cOff + (i + 1) * n, n, j, c10, c11, c12, c13);
      store(c, cOff + (i + 2) * n, n, j, c20, c21, c22, c23);
      store(c, cOff + (i + 3) * n, n, j, c30, c31, c32, c33);
    }
  }
  for (; i < m; i++) {
    const a0 = aOff + i * aRow;
    for (let jp = 0; jp < panels; jp++) {
      let c0 = 0, c1 = 0, c2 = 0, c3 = 0;
      let q = jp * k * 4;
      for (let p = 0; p < k; p++, q += 4) {
        const x = a[a0 + p];
        c0 += x * bp[q]; c1 += x * bp[q + 1]; c2 += x * bp[q + 2]; c3 += x * bp[q + 3];
      }
      store(c, cOff + i * n, n, jp * 4, c0, c1, c2, c3);
    }
  }
}

function store(c: Float32Array, row: number, n: number, j: number, v0: number, v1: number, v2: number, v3: number): void {
  c[row + j] = v0;
  if (j + 1 < n) c[row + j + 1] = v1;
  if (j + 2 < n) c[row + j + 2] = v2;
  if (j + 3 < n) c[row + j + 3] = v3;
}

function batchOf(shape: readonly number[]): number {
  let b = 1;
  for (let i = 0; i < shape.length - 2; i++) b *= shape[i];
  return b;
}

/** BatchMatMul / _FusedMatMul on cpu (float32, broadcast of a batch of one). */
export function cpuMatMul(ctx: KernelContext, kernelName: "BatchMatMul" | "_FusedMatMul", inputs: Record<string, TensorInfo>, attrs: Record<string, unknown>): TensorInfo {
  const { a, b, bias, preluActivationWeights } = inputs;
  if (a.dtype !== "float32" || b.dtype !== "float32") return ctx.run(kernelName, inputs, attrs, true);
  const ta = Boolean(attrs.transposeA);
  const tb = Boolean(attrs.transposeB);
  const [ar, ac] = a.shape.slice(-2);
  const [br, bc] = b.shape.slice(-2);
  const m = ta ? ac : ar;
  const k = ta ? ar : ac;
  const n = tb ? br : bc;
  const batchA = batchOf(a.shape);
  const batchB = batchOf(b.shape);
  if (batchA !== batchB && batchA !== 1 && batchB !== 1) return ctx.run(kernelName, inputs, attrs, true);
  const batch = Math.max(batchA, batchB);
  const outer = (batchA >= batchB ? a.shape : b.shape).slice(0, -2);
  const out = ctx.alloc([...outer, m, n]);
  const av = ctx.f32(a);
  const bv = ctx.f32(b);
  const ov = ctx.f32(out);
  let aT: Float32Array | undefined;
  for (let s = 0; s < batch; s++) {
    const aOff = (batchA === 1 ? 0 : s) * ar * ac;
    const bOff = (batchB === 1 ? 0 : s) * br * bc;
    let aSrc = av;
    let aBase = aOff;
    if (ta) {
      aT ??= new Float32Array(m * k);
      for (let p = 0; p < k; p++) for (let i = 0; i < m; i++) aT[i * k + p] = av[aOff + p * ac + i];
      aSrc = aT;
      aBase = 0;
    }
    const packed = tb ? packB(bv, bOff, 1, bc, k, n) : packB(bv, bOff, bc, 1, k, n);
    gemmPacked(aSrc, aBase, k, packed, ov, s * m * n, m, n, k);
  }
  if (kernelName === "_FusedMatMul") {
    if (bias) addBias(ov, ctx.f32(bias), n);
    applyActivation(ov, String(attrs.activation ?? "linear"), preluActivationWeights ? ctx.f32(preluActivationWeights) : undefined, n, Number(attrs.leakyreluAlpha ?? 0.2));
  }
  return out;
}

function addBias(v: Float32Array, bias: Float32Array, n: number): void {
  if (bias.length === 1) for (let i = 0; i < v.length; i++) v[i] += bias[0];
  else for (let i = 0; i < v.length; i++) v[i] += bias[i % n];
}

/** Conv2D / FusedConv2D on cpu, NHWC: im2col over blocks of output positions, then the product. */
export function cpuConv2D(ctx: KernelContext, kernelName: "Conv2D" | "FusedConv2D", inputs: Record<string, TensorInfo>, attrs: Record<string, unknown>): TensorInfo {
  const { x, filter, bias, preluActivationWeights } = inputs;
  if ((attrs.dataFormat ?? "NHWC") !== "NHWC" || x.dtype !== "float32") return ctx.run(kernelName, inputs, attrs, true);
  const info = tf.backend_util.computeConv2DInfo(
    x.shape as [number, number, number, number],
    filter.shape as [number, number, number, number],
    attrs.strides as [number, number],
    (attrs.dilations as [number, number] | undefined) ?? 1,
    attrs.pad as "valid",
    attrs.dimRoundingMode as "floor" | undefined,
  );
  const { batchSize: nb, inHeight: h, inWidth: w, inChannels: ci, outChannels: co, outHeight: oh, outWidth: ow } = info;
  const { strideHeight: sh, strideWidth: sw, dilationHeight: dh, dilationWidth: dw, filterHeight: fh, filterWidth: fw } = info;
  const { top: pt, left: pl } = info.padInfo;
  const k = fh * fw * ci;
  const out = ctx.alloc(info.outShape);
  const xv = ctx.f32(x);
  const ov = ctx.f32(out);
  const packed = packB(ctx.f32(filter), 0, co, 1, k, co);
  const positions = nb * oh * ow;
  const block = Math.max(4, Math.min(positions, Math.floor(262_144 / k)));
  const cols = new Float32Array(block * k);
  for (let p0 = 0; p0 < positions; p0 += block) {
    const rows = Math.min(block, positions - p0);
    cols.fill(0, 0, rows * k);
    for (let r = 0; r < rows; r++) {
      const p = p0 + r;
      const b = Math.floor(p / (oh * ow));
      const rem = p - b * oh * ow;
      const y = Math.floor(rem / ow);
      const xo = rem - y * ow;
      let o = r * k;
      for (let i = 0; i < fh; i++) {
        const yy = y * sh + i * dh - pt;
        if (yy < 0 || yy >= h) {
          o += fw * ci;
          continue;
        }
        for (let j = 0; j < fw; j++, o += ci) {
          const xx = xo * sw + j * dw - pl;
          if (xx < 0 || xx >= w) continue;
          const src = ((b * h + yy) * w + xx) * ci;
          for (let c = 0; c < ci; c++) cols[o + c] = xv[src + c];
        }
      }
    }
    gemmPacked(cols, 0, k, packed, ov, p0 * co, rows, co, k);
  }
  if (kernelName === "FusedConv2D") {
    if (bias) addBias(ov, ctx.f32(bias), co);
    applyActivation(ov, String(attrs.activation ?? "linear"), preluActivationWeights ? ctx.f32(preluActivationWeights) : undefined, co, Number(attrs.leakyreluAlpha ?? 0.2));
  }
  return out;
}
