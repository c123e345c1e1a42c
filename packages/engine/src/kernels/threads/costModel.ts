/**
 * Which kernels may split their batch across kernel threads, and whether a call pays: its work
 * (multiply-adds) against the floats copied to and from the threads.
 */
import * as tf from "@tensorflow/tfjs";
import { cropPlan } from "../crop.ts";
import { conv2dInfo, type ConvGeometryAttrs } from "../strides.ts";

type TensorInfo = tf.TensorInfo;
type Attrs = Record<string, unknown>;

export interface SplitSpec {
  /** Inputs split along the batch (axis 0); the others go whole to every part. */
  batchInputs: string[];
  /** How the parts' results join. */
  join: "concat" | "sum";
  /** Attributes of a part with `n` images. */
  partAttrs?: (attrs: Attrs, n: number) => Attrs;
  /** Output shape of a part with `n` images. */
  outShape: (inputs: Record<string, TensorInfo>, attrs: Attrs, n: number) => number[];
  /** Multiply-adds (or comparisons) of the whole kernel, to weigh against the copying. */
  work: (inputs: Record<string, TensorInfo>, attrs: Attrs) => number;
  /** Cost of one unit of work relative to an XNNPACK multiply-add (plain JS loops: 10–20). */
  unitCost?: number;
}

export const size = (info: TensorInfo) => tf.util.sizeFromShape(info.shape);
const convWork = (i: Record<string, TensorInfo>, a: Attrs) => convMacs(i.x.shape, i.filter.shape, a);
const depthwiseWork = (i: Record<string, TensorInfo>, a: Attrs) =>
  tf.util.sizeFromShape(convOut(i, a, i.x.shape[0], true)) * i.filter.shape[0] * i.filter.shape[1];
const poolWork = (i: Record<string, TensorInfo>, a: Attrs) => {
  const f = a.filterSize as number | [number, number];
  return size(i.dy) * (typeof f === "number" ? f * f : f[0] * f[1]);
};

export const withBatch = (shape: readonly number[], n: number) => [n, ...shape.slice(1)];

function convInfo(xShape: readonly number[], filterShape: readonly number[], attrs: Attrs, n: number, depthwise = false) {
  return conv2dInfo(withBatch(xShape, n), filterShape, attrs as unknown as ConvGeometryAttrs, depthwise);
}

function convOut(inputs: Record<string, TensorInfo>, attrs: Attrs, n: number, depthwise = false): number[] {
  return convInfo(inputs.x.shape, inputs.filter.shape, attrs, n, depthwise).outShape;
}

/** Multiply-adds of a convolution (or either gradient), counting only taps that meet the input. */
function convMacs(xShape: readonly number[], filterShape: readonly number[], attrs: Attrs): number {
  const info = convInfo(xShape, filterShape, attrs, xShape[0]);
  const plan = info.dataFormat === "channelsLast" ? cropPlan(info) : null;
  const taps = plan ? plan.height * plan.width : info.filterHeight * info.filterWidth;
  return tf.util.sizeFromShape(info.outShape) * taps * info.inChannels;
}

const inputShapeAttr = (attrs: Attrs, n: number): Attrs => ({ ...attrs, inputShape: withBatch(attrs.inputShape as number[], n) });

export const SPLITTABLE: Record<string, SplitSpec> = {
  Conv2D: { batchInputs: ["x"], join: "concat", outShape: (i, a, n) => convOut(i, a, n), work: convWork },
  FusedConv2D: { batchInputs: ["x"], join: "concat", outShape: (i, a, n) => convOut(i, a, n), work: convWork },
  DepthwiseConv2dNative: { batchInputs: ["x"], join: "concat", outShape: (i, a, n) => convOut(i, a, n, true), work: depthwiseWork },
  FusedDepthwiseConv2D: { batchInputs: ["x"], join: "concat", outShape: (i, a, n) => convOut(i, a, n, true), work: depthwiseWork },
  Conv2DBackpropInput: {
    batchInputs: ["dy"],
    join: "concat",
    partAttrs: inputShapeAttr,
    outShape: (_i, a, n) => withBatch(a.inputShape as number[], n),
    work: (i, a) => convMacs(a.inputShape as number[], i.filter.shape, a),
  },
  DepthwiseConv2dNativeBackpropInput: {
    unitCost: 10,
    batchInputs: ["dy"],
    join: "concat",
    partAttrs: inputShapeAttr,
    outShape: (_i, a, n) => withBatch(a.inputShape as number[], n),
    work: (i) => size(i.dy) * i.filter.shape[0] * i.filter.shape[1],
  },
  Conv2DBackpropFilter: {
    batchInputs: ["x", "dy"],
    join: "sum",
    outShape: (_i, a) => a.filterShape as number[],
    work: (i, a) => convMacs(i.x.shape, a.filterShape as number[], a),
  },
  DepthwiseConv2dNativeBackpropFilter: {
    unitCost: 10,
    batchInputs: ["x", "dy"],
    join: "sum",
    outShape: (_i, a) => a.filterShape as number[],
    work: (i, a) => size(i.dy) * (a.filterShape as number[])[0] * (a.filterShape as number[])[1],
  },
  MaxPoolGrad: {
    unitCost: 20,
    batchInputs: ["dy", "input", "output"],
    join: "concat",
    outShape: (i, _a, n) => withBatch(i.input.shape, n),
    work: poolWork,
  },
  AvgPoolGrad: {
    unitCost: 20,
    batchInputs: ["dy", "input"],
    join: "concat",
    outShape: (i, _a, n) => withBatch(i.input.shape, n),
    work: poolWork,
  },
};

/**
 * A kernel is split when its work is large (waking a worker and joining costs tens of µs) and
 * large against the floats copied to and from the worker (a small-map filter gradient with a
 * big filter is mostly copying).
 */
export const MIN_WORK = 4_000_000;
export const MIN_WORK_PER_COPIED = 32;
