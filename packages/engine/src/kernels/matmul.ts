/**
 * wasm's BatchMatMul/_FusedMatMul use XNNPACK only for an untransposed, single-batch product;
 * with transposeA/transposeB (every dense layer's gradient) they fall back to a scalar loop.
 * These kernels transpose the operand explicitly (cheap) and take the XNNPACK path.
 */
import * as tf from "@tensorflow/tfjs";
import { KernelContext } from "./context.ts";
import { transposeInto } from "./strides.ts";

type TensorInfo = tf.TensorInfo;

/** [rows, cols] → [cols, rows], as a new tensor (batch must be 1). */
export function transpose2d(ctx: KernelContext, m: TensorInfo, rows: number, cols: number): TensorInfo {
  const out = ctx.alloc([1, cols, rows]);
  transposeInto(ctx.f32(out), 0, rows, ctx.f32(m), 0, cols, rows, cols);
  return out;
}

function batchOf(shape: readonly number[]): number {
  let b = 1;
  for (let i = 0; i < shape.length - 2; i++) b *= shape[i];
  return b;
}

/**
 * Runs `kernelName` (BatchMatMul or _FusedMatMul) with transposes made explicit when both
 * operands are single matrices; otherwise the stock kernel.
 */
export function matMulUntransposed(
  ctx: KernelContext,
  kernelName: "BatchMatMul" | "_FusedMatMul",
  inputs: Record<string, TensorInfo>,
  attrs: Record<string, unknown>,
): TensorInfo {
  const { a, b } = inputs;
  const transposeA = Boolean(attrs.transposeA);
  const transposeB = Boolean(attrs.transposeB);
  const single = batchOf(a.shape) === 1 && batchOf(b.shape) === 1;
  if (kernelName === "_FusedMatMul" && !single) return batchedFusedMatMul(ctx, inputs, attrs);
  if (!single || a.dtype !== "float32" || b.dtype !== "float32") return ctx.run(kernelName, inputs, attrs);
  // Same rank as the stock kernel's output.
  const rank = Math.max(a.shape.length, b.shape.length);
  const withRank = (out: TensorInfo) => {
    const [m, n] = out.shape.slice(-2);
    return KernelContext.reshaped(out, [...Array(rank - 2).fill(1), m, n]);
  };
  const streamed = streamedProduct(ctx, a, b, transposeA, transposeB);
  if (streamed) {
    if (kernelName === "_FusedMatMul") biasAndActivation(ctx, streamed, inputs, attrs);
    return withRank(streamed);
  }
  if (!transposeA && !transposeB) return ctx.run(kernelName, inputs, attrs);
  const [ar, ac] = a.shape.slice(-2);
  const [br, bc] = b.shape.slice(-2);
  const a2 = transposeA ? transpose2d(ctx, a, ar, ac) : KernelContext.reshaped(a, [1, ar, ac]);
  const b2 = transposeB ? transpose2d(ctx, b, br, bc) : KernelContext.reshaped(b, [1, br, bc]);
  const out = ctx.run(kernelName, { ...inputs, a: a2, b: b2 }, { ...attrs, transposeA: false, transposeB: false });
  if (transposeA) ctx.free(a2);
  if (transposeB) ctx.free(b2);
  return withRank(out);
}

/**
 * A · B for single matrices (either stored transposed) through the backend's fastest path: on
 * wasm the engine's BatchMatMul (XNNPACK, big second operands streamed), on cpu the JS GEMM.
 * For the engine's own kernels, which must not call the overridden kernel through TF.js.
 */
export function product(ctx: KernelContext, a: TensorInfo, b: TensorInfo, transposeA: boolean, transposeB: boolean): TensorInfo {
  const attrs = { transposeA, transposeB };
  return ctx.name === "wasm" ? matMulUntransposed(ctx, "BatchMatMul", { a, b }, attrs) : ctx.run("BatchMatMul", { a, b }, attrs);
}

/** Floats from which a product's second operand is better streamed than packed (see streamedProduct). */
const STREAM_MIN_FLOATS = 1 << 18;

/**
 * A · B (single matrices, either stored transposed) as (Bᵀ · Aᵀ)ᵀ, or null where that does not
 * pay. XNNPACK packs a product's second operand (a fully-connected operator's weights) on every
 * call, since training hands it new values each step, at ~18 ns a float on these machines: a
 * big B — a large dense layer's weights — costs more to pack than to multiply. Taken
 * transposed, B is streamed and only the smaller Aᵀ is packed; B stored transposed (the input
 * gradient dy · Wᵀ) is used as it is, otherwise it and the result are transposed in JS (transposeInto,
 * well under 1 ns a float).
 */
function streamedProduct(ctx: KernelContext, a: TensorInfo, b: TensorInfo, transposeA: boolean, transposeB: boolean): TensorInfo | null {
  const [ar, ac] = a.shape.slice(-2);
  const [br, bc] = b.shape.slice(-2);
  const [m, k] = transposeA ? [ac, ar] : [ar, ac];
  const n = transposeB ? br : bc;
  if (k * n < STREAM_MIN_FLOATS || n < 2 * m) return null;
  const bT = transposeB ? KernelContext.reshaped(b, [1, n, k]) : transpose2d(ctx, b, k, n);
  const aT = transposeA ? KernelContext.reshaped(a, [1, k, m]) : transpose2d(ctx, a, m, k);
  const cT = ctx.run("BatchMatMul", { a: bT, b: aT }, { transposeA: false, transposeB: false });
  if (!transposeB) ctx.free(bT);
  if (!transposeA) ctx.free(aT);
  const c = transpose2d(ctx, cT, n, m);
  ctx.free(cT);
  return c;
}

/** _FusedMatMul's bias and activation, in place on the product. */
function biasAndActivation(ctx: KernelContext, out: TensorInfo, inputs: Record<string, TensorInfo>, attrs: Record<string, unknown>): void {
  const { bias, preluActivationWeights } = inputs;
  const n = out.shape[out.shape.length - 1];
  const values = ctx.f32(out);
  if (bias) {
    const bv = ctx.f32(bias);
    const size = tf.util.sizeFromShape(bias.shape);
    if (size === 1) for (let i = 0; i < values.length; i++) values[i] += bv[0];
    else if (size === n) for (let i = 0; i < values.length; i++) values[i] += bv[i % n];
    else throw new Error(`_FusedMatMul: bias of shape [${bias.shape}] does not broadcast to [${out.shape}]`);
  }
  applyActivation(
    values,
    String(attrs.activation ?? "linear"),
    preluActivationWeights ? ctx.f32(preluActivationWeights) : undefined,
    n,
    Number(attrs.leakyreluAlpha ?? 0.2),
  );
}

/**
 * Stock wasm's batched _FusedMatMul indexes the bias wrongly (row-major offset, clamped) when it
 * takes its scalar path; do the product with BatchMatMul and apply bias and activation here.
 */
function batchedFusedMatMul(ctx: KernelContext, inputs: Record<string, TensorInfo>, attrs: Record<string, unknown>): TensorInfo {
  const out = ctx.run("BatchMatMul", { a: inputs.a, b: inputs.b }, { transposeA: attrs.transposeA, transposeB: attrs.transposeB });
  biasAndActivation(ctx, out, inputs, attrs);
  return out;
}

export function applyActivation(v: Float32Array, activation: string, prelu: Float32Array | undefined, n: number, alpha: number): void {
  switch (activation) {
    case "linear":
      return;
    case "relu":
      for (let i = 0; i < v.length; i++) if (v[i] < 0) v[i] = 0;
      return;
    case "relu6":
      for (let i = 0; i < v.length; i++) v[i] = Math.min(6, Math.max(0, v[i]));
      return;
    case "elu":
      for (let i = 0; i < v.length; i++) if (v[i] < 0) v[i] = Math.exp(v[i]) - 1;
      return;
    case "sigmoid":
      for (let i = 0; i < v.length; i++) v[i] = 1 / (1 + Math.exp(-v[i]));
      return;
    case "leakyrelu":
      for (let i = 0; i < v.length; i++) if (v[i] < 0) v[i] *= alpha;
      return;
    case "prelu": {
      if (!prelu) throw new Error("prelu activation without preluActivationWeights");
      const m = prelu.length;
      for (let i = 0; i < v.length; i++) if (v[i] < 0) v[i] *= prelu[m === 1 ? 0 : m === n ? i % n : i % m];
      return;
    }
    default:
      throw new Error(`_FusedMatMul: unsupported activation ${activation}`);
  }
}
