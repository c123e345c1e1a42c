/**
 * torchvision ColorJitter on float [N,H,W,C] pixels in 0–255, each image with its own factors and
 * its own order of adjustments, vectorized over the batch.
 *
 * Brightness, contrast and saturation are clamped blends (torchvision `_blend`), so one step does
 * any of them per image: α·x + β·mean(grey) + γ·grey with per-image α, β, γ (identity: 1, 0, 0,
 * exact). Hue goes through HSV. Every image shifts its hue exactly once, so the steps line up as:
 * the adjustments before hue (right-aligned), hue for all images, those after hue (left-aligned).
 * Saturation and hue are RGB only: the caller leaves them out for other channel counts, where
 * contrast's mean is over all channels. Only ops with kernels on cpu and wasm, and no gather
 * (slow on both; with batchDims, stock wasm reads the wrong rows).
 */
import * as tf from "@tensorflow/tfjs";

export type JitterOp = "brightness" | "contrast" | "saturation" | "hue";
export type JitterFactors = Partial<Record<JitterOp, number>>;
type Blend = Exclude<JitterOp, "hue">;

/** torchvision's rgb_to_grayscale weights, as a channel-mixing matrix whose three outputs are all the grey. */
const GREY = [0.2989, 0.2989, 0.2989, 0.587, 0.587, 0.587, 0.114, 0.114, 0.114];
/** (g − b, b − r, r − g): _rgb2hsv's numerators when r, g or b holds the maximum. */
const HUE_DIFFERENCES = [0, -1, 1, 1, 0, -1, -1, 1, 0];

/**
 * The steps work on pixels laid out [H, W, N, C], so that per-image factors are [N, C] tensors
 * that broadcast as trailing dimensions: the stock cpu backend broadcasts anything else (such as
 * [N, 1, 1, 1] against [N, H, W, C]) one element at a time, ~50× slower. Channels are expanded by
 * 1×1 convolutions rather than broadcast, for the same reason.
 */
const perImage = (values: number[], channels: number) =>
  tf.tensor2d(
    values.flatMap((v) => Array<number>(channels).fill(v)),
    [values.length, channels],
  );
const expand = (t: tf.Tensor) => tf.conv2d(t as tf.Tensor4D, tf.ones([1, 1, 1, 3]) as tf.Tensor4D, 1, "valid");

/** The blend steps before and after the hue step (null: identity for that image). */
function schedule(orders: JitterOp[][]): { before: (Blend | null)[][]; hue: boolean; after: (Blend | null)[][] } {
  const hue = orders[0].includes("hue");
  const split = orders.map((order) => {
    const at = hue ? order.indexOf("hue") : order.length;
    return { before: order.slice(0, at) as Blend[], after: order.slice(at + 1) as Blend[] };
  });
  const longest = (key: "before" | "after") => Math.max(...split.map((s) => s[key].length));
  const before = Array.from({ length: longest("before") }, (_, step) =>
    split.map((s) => s.before[step - (longest("before") - s.before.length)] ?? null),
  );
  const after = Array.from({ length: longest("after") }, (_, step) => split.map((s) => s.after[step] ?? null));
  return { before, hue, after };
}

/** One blend step on [H, W, N, C] pixels. Without RGB, "grey" is the mean over channels. */
function blend(t: tf.Tensor4D, ops: (Blend | null)[], factors: JitterFactors[]): tf.Tensor4D {
  const channels = t.shape[3];
  const alpha = ops.map((op, n) => (op ? factors[n][op]! : 1));
  const beta = ops.map((op, n) => (op === "contrast" ? 1 - factors[n].contrast! : 0));
  const gamma = ops.map((op, n) => (op === "saturation" ? 1 - factors[n].saturation! : 0));
  const greyFilter = tf.tensor2d(channels === 3 ? GREY : Array<number>(channels * channels).fill(1 / channels), [channels, channels]);
  let out = t.mul(perImage(alpha, channels));
  if (gamma.some((g) => g !== 0)) {
    const grey = channels === 1 ? t : tf.conv2d(t, greyFilter.reshape([1, 1, channels, channels]) as tf.Tensor4D, 1, "valid");
    out = out.add(grey.mul(perImage(gamma, channels)));
  }
  if (beta.some((b) => b !== 0)) {
    // The grey's mean, from the channels' means; sum then divide: wasm sums over leading axes fast, not means.
    const mean = t
      .sum([0, 1])
      .matMul(greyFilter)
      .div(t.shape[0] * t.shape[1]);
    out = out.add(mean.mul(perImage(beta, channels)));
  }
  return out.clipByValue(0, 255) as tf.Tensor4D;
}

/**
 * adjust_hue on [H, W, N, 3] pixels: value and chroma stay, the hue (in sixths of a turn, from
 * whichever channel holds the maximum, red first, as _rgb2hsv) moves by 6·shift, and _hsv2rgb is
 * written in closed form: channel = value − chroma·clamp(min(k, 4 − k), 0, 1), k = (n + hue) mod 6,
 * n = 5, 3, 1 for r, g, b.
 */
function shiftHue(t: tf.Tensor4D, shifts: number[]): tf.Tensor4D {
  const value = t.max(3, true);
  const chroma = value.sub(t.min(3, true));
  const maxAt = t.argMax(3);
  const differences = tf.conv2d(t, tf.tensor4d(HUE_DIFFERENCES, [1, 1, 3, 3]), 1, "valid");
  // oneHot as int32 and cast: stock wasm ignores a float32 dtype (writes int bits into a float tensor).
  const picked = differences.mul(tf.oneHot(maxAt, 3).toFloat()).sum(3, true);
  // Chroma 0 means a grey pixel, whose numerators are exactly 0: any hue will do.
  const hue = picked.div(chroma.maximum(1e-20)).add(maxAt.toFloat().mul(2).expandDims(3));
  // hue ≥ −1 and 6·shift ≥ −3, so with +6 the dividend of the floor-mod stays positive.
  const offsets = shifts.flatMap((s) => [5, 3, 1].map((n) => n + 6 * s + 6));
  const k = expand(hue).add(tf.tensor2d(offsets, [shifts.length, 3]));
  const wrapped = k.sub(k.div(6).floor().mul(6));
  const weight = tf.minimum(wrapped, tf.sub(4, wrapped)).clipByValue(0, 1);
  return expand(value).sub(expand(chroma).mul(weight));
}

/** Applies each image's adjustments in its own order; the result is clamped to [0, 255]. */
export function colorJitter(x: tf.Tensor4D, orders: JitterOp[][], factors: JitterFactors[]): tf.Tensor4D {
  const { before, hue, after } = schedule(orders);
  let t = x.transpose([1, 2, 0, 3]) as tf.Tensor4D;
  for (const ops of before) t = blend(t, ops, factors);
  if (hue) {
    const shifts = factors.map((f) => f.hue!);
    t = shiftHue(t, shifts).clipByValue(0, 255) as tf.Tensor4D;
  }
  for (const ops of after) t = blend(t, ops, factors);
  return t.transpose([2, 0, 1, 3]);
}
