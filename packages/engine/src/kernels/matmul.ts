/**
 * wasm's BatchMatMul/_FusedMatMul use XNNPACK only for an untransposed, single-batch product;
 * with transposeA/transposeB (every dense layer's gradient) they fall back to a scalar loop.
 * These kernels transpose the operand explicitly (cheap) and take the XNNPACK path.
 */
import * as tf from "@tensorflow/tfjs";
import { KernelContext } from "./context.ts";

type TensorInfo = tf.TensorInfo;

/** [rows, cols] → [cols, rows], as a new tensor (batch must be 1). */
export function transpose2d(ctx: KernelContext, m: TensorInfo, rows: number, cols: number): TensorInfo {
  const out = ctx.alloc([1, cols, rows]);
  const src = ctx.f32(m);
  const dst = ctx.f32(out);
  // Blocked so both sides stay in cache.
  const B = 32;
  for (let r0 = 0; r0 < rows; r0 += B) {
    const r1 = Math.min(rows, r0 + B);
    for (let c0 = 0; c0 < cols; c0 += B) {
      const c1 = Math.min(cols, c0 + B);
      for (let r = r0; r < r1; r++) {
        const s = r * cols;
        for (let c = c0; c < c1; c++) dst[c * rows + r] = src[s + c];
      }
    }
  }
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
  if ((!transposeA && !transposeB) || !single || a.dtype !== "float32" || b.dtype !== "float32") {
    return ctx.run(kernelName, inputs, attrs);
  }
  const [ar, ac] = a.shape.slice(-2);
  const [br, bc] = b.shape.slice(-2);
  const a2 = transposeA ? transpose2d(ctx, a, ar, ac) : KernelContext.reshaped(a, [1, ar, ac]);
  const b2 = transposeB ? transpose2d(ctx, b, br, bc) : KernelContext.reshaped(b, [1, br, bc]);
  const out = ctx.run(kernelName, { ...inputs, a: a2, b: b2 }, { ...attrs, transposeA: false, transposeB: false });
  if (transposeA) ctx.free(a2);
  if (transposeB) ctx.free(b2);
  // Same rank as the stock kernel's output.
  const rank = Math.max(a.shape.length, b.shape.length);
  const m = out.shape[out.shape.length - 2];
  const n = out.shape[out.shape.length - 1];
  return KernelContext.reshaped(out, [...Array(rank - 2).fill(1), m, n]);
}

/**
 * Stock wasm's batched _FusedMatMul indexes the bias wrongly (row-major offset, clamped) when it
 * takes its scalar path; do the product with BatchMatMul and apply bias and activation here.
 */
function batchedFusedMatMul(ctx: KernelContext, inputs: Record<string, TensorInfo>, attrs: Record<string, unknown>): TensorInfo {
  const { a, b, bias, preluActivationWeights } = inputs;
  const out = ctx.run("BatchMatMul", { a, b }, { transposeA: attrs.transposeA, transposeB: attrs.transposeB });
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
