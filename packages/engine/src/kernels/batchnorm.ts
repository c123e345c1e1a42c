/**
 * Batch norm's gradient in two passes, and Mean's gradient as one broadcast (wasm and cpu).
 *
 * tfjs-core differentiates FusedBatchNorm with ~10 full-size elementwise ops and 4 full-size
 * sums per layer (x − mean, dy·scale, a tiled 1/σ, and products for each of dx, d mean,
 * d variance, d scale), each a pass over the activation with a fresh temporary. With
 * σ⁻¹ = 1/√(variance + ε), s the scale, and per channel S₁ = Σ dy, S₂ = Σ dy·(x − mean):
 *   d offset = S₁,  d scale = σ⁻¹·S₂,  d mean = −s·σ⁻¹·S₁,  d variance = −½·s·σ⁻³·S₂,
 *   dx = dy · s·σ⁻¹,
 * so one pass over (dy, x) for the sums and one over dy for dx do it. The gradient is registered
 * for FusedBatchNorm when the engine's kernels are (tf.registerGradient is global: on a backend
 * without the kernel, or for shapes it does not take, tfjs-core's own gradient runs).
 *
 * Mean (batch norm's moments take two per layer): tfjs-core's gradient fills a full-size tensor
 * of ones in JS, multiplies dy into it and divides: two full-size ops and a JS fill. Dividing the
 * small dy first and tiling it gives the same floats ((dy·1)/n = dy/n) with one full-size write.
 */
import * as tf from "@tensorflow/tfjs";
import type { KernelContext } from "./context.ts";

type TensorInfo = tf.TensorInfo;

/** The kernel computing [dx, d mean, d variance, d scale, d offset]. */
export const BATCH_NORM_GRAD = "TrainyardFusedBatchNormGrad";

export function batchNormGrad(
  ctx: KernelContext,
  inputs: { dy: TensorInfo; x: TensorInfo; mean: TensorInfo; variance: TensorInfo; scale?: TensorInfo },
  attrs: { varianceEpsilon: number },
): TensorInfo[] {
  const { dy, x, mean, variance, scale } = inputs;
  const c = x.shape[x.shape.length - 1];
  const size = tf.util.sizeFromShape(x.shape);
  const [dMean, dVariance, dScale, dOffset] = [0, 1, 2, 3].map(() => ctx.alloc([c]));
  const [dyv, xv, meanv, varv] = [ctx.f32(dy), ctx.f32(x), ctx.f32(mean), ctx.f32(variance)];
  const scalev = scale ? ctx.f32(scale) : null;
  const s1 = new Float64Array(c);
  const s2 = new Float64Array(c);
  // Pass 1: per-channel sums over blocks of rows that stay in cache, four channels at a time in
  // locals within a block.
  const rows = size / c;
  const block = Math.max(1, Math.floor(4096 / c));
  for (let r0 = 0; r0 < rows; r0 += block) {
    const end = Math.min(rows, r0 + block) * c;
    let k = 0;
    for (; k + 4 <= c; k += 4) {
      const [m0, m1, m2, m3] = [meanv[k], meanv[k + 1], meanv[k + 2], meanv[k + 3]];
      let a0 = 0,
        a1 = 0,
        a2 = 0,
        a3 = 0,
        b0 = 0,
        b1 = 0,
        b2 = 0,
        b3 = 0;
      for (let p = r0 * c + k; p < end; p += c) {
        const g0 = dyv[p],
          g1 = dyv[p + 1],
          g2 = dyv[p + 2],
          g3 = dyv[p + 3];
        a0 += g0;
        a1 += g1;
        a2 += g2;
        a3 += g3;
        b0 += g0 * (xv[p] - m0);
        b1 += g1 * (xv[p + 1] - m1);
        b2 += g2 * (xv[p + 2] - m2);
        b3 += g3 * (xv[p + 3] - m3);
      }
      s1[k] += a0;
      s1[k + 1] += a1;
      s1[k + 2] += a2;
      s1[k + 3] += a3;
      s2[k] += b0;
      s2[k + 1] += b1;
      s2[k + 2] += b2;
      s2[k + 3] += b3;
    }
    for (; k < c; k++) {
      let a = 0;
      let b = 0;
      for (let p = r0 * c + k; p < end; p += c) {
        a += dyv[p];
        b += dyv[p] * (xv[p] - meanv[k]);
      }
      s1[k] += a;
      s2[k] += b;
    }
  }
  const factor = ctx.alloc([c]);
  const [factorV, dMeanV, dVarV, dScaleV, dOffsetV] = [
    ctx.f32(factor),
    ctx.f32(dMean),
    ctx.f32(dVariance),
    ctx.f32(dScale),
    ctx.f32(dOffset),
  ];
  for (let j = 0; j < c; j++) {
    const inv = 1 / Math.sqrt(varv[j] + attrs.varianceEpsilon);
    const sj = scalev ? scalev[j] : 1;
    factorV[j] = sj * inv;
    dOffsetV[j] = s1[j];
    dScaleV[j] = inv * s2[j];
    dMeanV[j] = -sj * inv * s1[j];
    dVarV[j] = -0.5 * sj * inv * inv * inv * s2[j];
  }
  // Pass 2: dx = dy · s·σ⁻¹, the backend's broadcasting multiply (SIMD on wasm).
  const dx = ctx.run("Multiply", { a: dy, b: factor });
  ctx.free(factor);
  return [dx, dMean, dVariance, dScale, dOffset];
}

let stockGradient: tf.GradConfig | undefined;
const counts = { engine: 0, stock: 0 };

/** Gradients taken by the engine's kernel / by tfjs-core's (tests, profiling). */
export function batchNormGradStats(): { engine: number; stock: number } {
  return { ...counts };
}

/** Mean's gradient: dy / n broadcast back over the reduced axes. */
function registerMeanGradient(): void {
  tf.registerGradient({
    kernelName: "Mean",
    inputsToSave: ["x"],
    gradFunc: (dy, saved, attrs) => {
      const [x] = saved;
      const axes = tf.util.parseAxisParam((attrs as unknown as { axis: number | number[] }).axis, x.shape);
      const expanded = x.shape.slice();
      const reps = x.shape.map(() => 1);
      let reduceSize = 1;
      for (const axis of axes) {
        expanded[axis] = 1;
        reps[axis] = x.shape[axis];
        reduceSize *= x.shape[axis];
      }
      return { x: () => tf.tile(tf.div(tf.reshape(dy as tf.Tensor, expanded), reduceSize), reps) };
    },
  });
}

/** Registers the engine's gradients for FusedBatchNorm and Mean (once). */
export function registerEngineGradients(): void {
  if (stockGradient) return;
  stockGradient = tf.getGradient("FusedBatchNorm");
  if (!stockGradient) return;
  registerMeanGradient();
  const stock = stockGradient;
  tf.registerGradient({
    kernelName: "FusedBatchNorm",
    inputsToSave: ["x", "mean", "variance", "scale"],
    gradFunc: (dy, saved, attrs) => {
      const [x, mean, variance, scale] = saved;
      const c = x.shape[x.shape.length - 1];
      const perChannel = (t: tf.Tensor | undefined) => !t || (t.rank === 1 && t.size === c && t.dtype === "float32");
      const handled =
        tf.getKernel(BATCH_NORM_GRAD, tf.getBackend()) !== undefined &&
        x.dtype === "float32" &&
        (dy as tf.Tensor).dtype === "float32" &&
        perChannel(mean) &&
        perChannel(variance) &&
        perChannel(scale);
      if (!handled) {
        counts.stock++;
        return stock.gradFunc(dy, saved, attrs);
      }
      counts.engine++;
      const inputs: tf.NamedTensorMap = { dy: dy as tf.Tensor, x, mean, variance };
      if (scale) inputs.scale = scale;
      const [dx, dMean, dVariance, dScale, dOffset] = tf.engine().runKernel(BATCH_NORM_GRAD, inputs, attrs) as tf.Tensor[];
      return { x: () => dx, mean: () => dMean, variance: () => dVariance, scale: () => dScale, offset: () => dOffset };
    },
  });
}
