/**
 * Kernel check table: every engine kernel against the stock `cpu` kernel (or a direct
 * formula where no stock kernel takes the case), over shapes, strides, paddings (valid,
 * same, numeric, explicit), dilations and data formats.
 *
 * Tolerance: max |engine − reference| ≤ 1e-4 · max(1, max |reference|) (float32 sums of up to
 * a few thousand products, accumulated in different orders).
 */
import * as tf from "@tensorflow/tfjs";
import "@tensorflow/tfjs-backend-wasm";
import { beforeAll, describe, expect, it } from "vitest";
import { ENGINE_KERNELS, registerEngineKernels } from "../src/kernels/index.ts";
import {
  checkCase,
  convInfo,
  makeValues,
  relError,
  reseed,
  runKernel,
  TOLERANCE,
  type Attrs,
  type Case,
  type Dims4,
} from "./support/kernelTable.ts";

const pads: [string, unknown][] = [
  ["valid", "valid"],
  ["same", "same"],
  ["numeric 1", 1],
  [
    "explicit",
    [
      [0, 0],
      [1, 2],
      [0, 1],
      [0, 0],
    ],
  ],
];

/** Both gradient kernels of the convolution of x by f (dy of shape dy), with `attrs` plus their shape attribute. */
function convGradientCases(name: string, x: number[], f: number[], dy: number[], attrs: Attrs): Case[] {
  return [
    { kernel: "Conv2DBackpropFilter", name, inputs: { x: { shape: x }, dy: { shape: dy } }, attrs: { ...attrs, filterShape: f } },
    { kernel: "Conv2DBackpropInput", name, inputs: { dy: { shape: dy }, filter: { shape: f } }, attrs: { ...attrs, inputShape: x } },
  ];
}

function convCases(): Case[] {
  const cases: Case[] = [];
  const geometries: { x: number[]; f: number[]; strides: [number, number] }[] = [
    { x: [2, 9, 9, 3], f: [3, 3, 3, 4], strides: [1, 1] },
    { x: [3, 8, 7, 2], f: [3, 2, 2, 5], strides: [2, 2] },
    { x: [2, 10, 11, 1], f: [5, 5, 1, 6], strides: [1, 1] },
    { x: [2, 11, 9, 4], f: [3, 3, 4, 3], strides: [3, 2] },
    { x: [4, 6, 6, 8], f: [1, 1, 8, 16], strides: [2, 2] },
    { x: [2, 7, 7, 3], f: [7, 7, 3, 2], strides: [2, 2] },
    // Small maps: taps that only meet padding are cropped.
    { x: [4, 1, 1, 8], f: [3, 3, 8, 6], strides: [1, 1] },
    { x: [3, 2, 2, 5], f: [3, 3, 5, 4], strides: [2, 2] },
    { x: [2, 2, 3, 9], f: [5, 5, 9, 3], strides: [1, 1] },
    // Tiny maps on wasm: one dense product over the whole map (ResNet's 2×2 stage).
    { x: [4, 2, 2, 16], f: [3, 3, 16, 12], strides: [1, 1] },
    { x: [3, 3, 2, 6], f: [3, 3, 6, 5], strides: [2, 1] },
    // First layers (1–3 input channels, ≥ 16 filters): filter gradient as one product on wasm.
    { x: [2, 12, 11, 1], f: [7, 7, 1, 16], strides: [2, 2] },
    { x: [3, 8, 9, 3], f: [3, 3, 3, 17], strides: [1, 2] },
  ];
  for (const g of geometries) {
    for (const [padName, pad] of pads) {
      // TF.js sizes a numeric pad's output with the row stride for both axes: unequal strides are its bug, not ours.
      if (typeof pad === "number" && g.strides[0] !== g.strides[1]) continue;
      const info = convInfo(g.x, g.f, g.strides, 1, pad);
      if (info.outHeight <= 0 || info.outWidth <= 0) continue;
      const label = `x ${g.x.join("×")} f ${g.f.join("×")} s ${g.strides.join(",")} ${padName}`;
      cases.push(...convGradientCases(label, g.x, g.f, info.outShape, { strides: g.strides, pad, dataFormat: "NHWC" }));
      cases.push({
        kernel: "Conv2D",
        name: label,
        inputs: { x: { shape: g.x }, filter: { shape: g.f } },
        attrs: { strides: g.strides, pad, dataFormat: "NHWC", dilations: [1, 1] },
      });
      cases.push({
        kernel: "FusedConv2D",
        name: `${label} +bias relu`,
        inputs: { x: { shape: g.x }, filter: { shape: g.f }, bias: { shape: [g.f[3]] } },
        attrs: { strides: g.strides, pad, dataFormat: "NHWC", dilations: [1, 1], activation: "relu" },
      });
    }
  }
  // Dilated forward convolutions.
  for (const [padName, pad] of [
    ["same", "same"],
    ["valid", "valid"],
  ] as const) {
    cases.push({
      kernel: "Conv2D",
      name: `dilations 2 ${padName}`,
      inputs: { x: { shape: [2, 9, 9, 3] }, filter: { shape: [3, 3, 3, 4] } },
      attrs: { strides: 1, pad, dataFormat: "NHWC", dilations: 2 },
    });
    if (padName === "same")
      cases.push({
        kernel: "Conv2D",
        name: `dilations 3 on a 3×3 map ${padName}`,
        inputs: { x: { shape: [2, 3, 3, 3] }, filter: { shape: [3, 3, 3, 4] } },
        attrs: { strides: 1, pad, dataFormat: "NHWC", dilations: 3 },
      });
  }
  // dimRoundingMode with a numeric pad that does not divide evenly.
  for (const mode of ["floor", "ceil", "round"] as const) {
    const x = [2, 8, 8, 2];
    const f = [3, 3, 2, 3];
    const info = convInfo(x, f, 2, 1, 1, mode);
    cases.push(
      ...convGradientCases(`dimRoundingMode ${mode}`, x, f, info.outShape, {
        strides: 2,
        pad: 1,
        dimRoundingMode: mode,
        dataFormat: "NHWC",
      }),
    );
  }
  // Channels-first data.
  for (const [padName, pad] of [
    ["same", "same"],
    ["valid", "valid"],
  ] as const) {
    const xNHWC = [2, 9, 8, 3];
    const f = [3, 3, 3, 4];
    const [n, oh, ow, co] = convInfo(xNHWC, f, 2, 1, pad).outShape;
    cases.push(...convGradientCases(`NCHW ${padName}`, [2, 3, 9, 8], f, [n, co, oh, ow], { strides: 2, pad, dataFormat: "NCHW" }));
  }
  // Dilated filter gradient (TF.js's own gradients never ask for it; checked against the formula).
  for (const [padName, pad] of [
    ["same", "same"],
    ["valid", "valid"],
  ] as const) {
    const x = [2, 9, 10, 2];
    const f = [3, 3, 2, 3];
    const dil: [number, number] = [2, 3];
    const info = convInfo(x, f, 1, dil, pad);
    cases.push({
      kernel: "Conv2DBackpropFilter",
      name: `dilations 2,3 ${padName}`,
      inputs: { x: { shape: x }, dy: { shape: info.outShape } },
      attrs: { strides: 1, pad, dataFormat: "NHWC", filterShape: f, dilations: dil },
      reference: (v) => {
        const out = new Float32Array(tf.util.sizeFromShape(f));
        const { outHeight: oh, outWidth: ow, padInfo } = info;
        for (let b = 0; b < x[0]; b++)
          for (let y = 0; y < oh; y++)
            for (let xo = 0; xo < ow; xo++)
              for (let i = 0; i < f[0]; i++)
                for (let j = 0; j < f[1]; j++) {
                  const r = y + i * dil[0] - padInfo.top;
                  const c = xo + j * dil[1] - padInfo.left;
                  if (r < 0 || r >= x[1] || c < 0 || c >= x[2]) continue;
                  for (let a = 0; a < f[2]; a++)
                    for (let o = 0; o < f[3]; o++)
                      out[((i * f[1] + j) * f[2] + a) * f[3] + o] +=
                        v.x[((b * x[1] + r) * x[2] + c) * x[3] + a] * v.dy[((b * oh + y) * ow + xo) * f[3] + o];
                }
        return { shape: f, values: out };
      },
    });
  }
  return cases;
}

/** Both depthwise gradients straight from the definition y[n,y,x,c·m+k] = Σ xpad[..] · w[i,j,c,k]. */
function depthwiseReference(info: tf.backend_util.Conv2DInfo, x: Float32Array | undefined, dy: Float32Array, w: Float32Array | undefined) {
  const { batchSize: n, inHeight: h, inWidth: wd, inChannels: ci, outChannels: co, outHeight: oh, outWidth: ow } = info;
  const { strideHeight: sh, strideWidth: sw, dilationHeight: dh, dilationWidth: dw, filterHeight: fh, filterWidth: fw, padInfo } = info;
  const mult = co / ci;
  const dW = new Float32Array(fh * fw * co);
  const dx = new Float32Array(n * h * wd * ci);
  for (let b = 0; b < n; b++)
    for (let y = 0; y < oh; y++)
      for (let xo = 0; xo < ow; xo++)
        for (let i = 0; i < fh; i++)
          for (let j = 0; j < fw; j++) {
            const r = y * sh + i * dh - padInfo.top;
            const q = xo * sw + j * dw - padInfo.left;
            if (r < 0 || r >= h || q < 0 || q >= wd) continue;
            for (let c = 0; c < ci; c++)
              for (let k = 0; k < mult; k++) {
                const g = dy[((b * oh + y) * ow + xo) * co + c * mult + k];
                const xi = ((b * h + r) * wd + q) * ci + c;
                const wi = ((i * fw + j) * ci + c) * mult + k;
                if (x) dW[wi] += x[xi] * g;
                if (w) dx[xi] += w[wi] * g;
              }
          }
  return { dW, dx };
}

function depthwiseCases(): Case[] {
  const cases: Case[] = [];
  const geometries: { x: number[]; f: number[]; strides: number; dilations: number }[] = [
    { x: [2, 9, 9, 4], f: [3, 3, 4, 1], strides: 1, dilations: 1 },
    { x: [2, 10, 9, 3], f: [3, 3, 3, 2], strides: 2, dilations: 1 },
    { x: [3, 11, 11, 2], f: [3, 3, 2, 1], strides: 1, dilations: 2 },
    { x: [2, 8, 8, 5], f: [5, 5, 5, 1], strides: 2, dilations: 1 },
  ];
  for (const g of geometries) {
    for (const [padName, pad] of [
      ["valid", "valid"],
      ["same", "same"],
      ["numeric 1", 1],
    ] as const) {
      const info = convInfo(g.x, g.f, g.strides, g.dilations, pad, undefined, true);
      if (info.outHeight <= 0 || info.outWidth <= 0) continue;
      const label = `x ${g.x.join("×")} f ${g.f.join("×")} s ${g.strides} d ${g.dilations} ${padName}`;
      // The stock cpu kernels ignore dilations (TF.js's gradients never pass them): formula instead.
      const dilated = g.dilations !== 1;
      cases.push({
        kernel: "DepthwiseConv2dNativeBackpropFilter",
        name: label,
        inputs: { x: { shape: g.x }, dy: { shape: info.outShape } },
        attrs: { strides: g.strides, dilations: g.dilations, pad, filterShape: g.f },
        reference: dilated ? (v) => ({ shape: g.f, values: depthwiseReference(info, v.x, v.dy, undefined).dW }) : undefined,
      });
      cases.push({
        kernel: "DepthwiseConv2dNativeBackpropInput",
        name: label,
        inputs: { dy: { shape: info.outShape }, filter: { shape: g.f } },
        attrs: { strides: g.strides, dilations: g.dilations, pad, inputShape: g.x },
        reference: dilated ? (v) => ({ shape: g.x, values: depthwiseReference(info, undefined, v.dy, v.filter).dx }) : undefined,
      });
    }
  }
  return cases;
}

function poolCases(): Case[] {
  const cases: Case[] = [];
  const geometries: { x: number[]; size: number | [number, number]; strides: number | [number, number] }[] = [
    { x: [2, 8, 8, 3], size: 2, strides: 2 },
    { x: [3, 9, 7, 5], size: 2, strides: 2 },
    { x: [2, 9, 7, 4], size: 3, strides: 2 },
    { x: [2, 7, 7, 2], size: 3, strides: 1 },
    { x: [3, 10, 9, 16], size: [2, 3], strides: [2, 1] },
  ];
  for (const g of geometries) {
    for (const [padName, pad] of [
      ["valid", "valid"],
      ["same", "same"],
      ["numeric 1", 1],
    ] as const) {
      const info = tf.backend_util.computePool2DInfo(g.x as Dims4, g.size, g.strides, 1, pad);
      if (info.outHeight <= 0 || info.outWidth <= 0) continue;
      if (typeof pad === "number" && pad >= Math.min(info.filterHeight, info.filterWidth)) continue;
      const label = `x ${g.x.join("×")} size ${g.size} s ${g.strides} ${padName}`;
      for (const kind of ["normal", "relu"] as const) {
        cases.push({
          kernel: "MaxPoolGrad",
          name: `${label} ${kind}`,
          inputs: { dy: { shape: info.outShape }, input: { shape: g.x, kind }, output: { shape: info.outShape } },
          attrs: { filterSize: g.size, strides: g.strides, pad },
        });
      }
      cases.push({
        kernel: "AvgPoolGrad",
        name: label,
        inputs: { dy: { shape: info.outShape }, input: { shape: g.x } },
        attrs: { filterSize: g.size, strides: g.strides, pad },
      });
    }
  }
  return cases;
}

function matMulCases(): Case[] {
  const cases: Case[] = [];
  const shapes: { a: number[]; b: number[]; ta: boolean; tb: boolean }[] = [];
  for (const ta of [false, true]) {
    for (const tb of [false, true]) {
      const [m, k, n] = [13, 17, 9];
      shapes.push({ a: ta ? [k, m] : [m, k], b: tb ? [n, k] : [k, n], ta, tb });
      shapes.push({ a: ta ? [1, k, m] : [1, m, k], b: tb ? [1, n, k] : [1, k, n], ta, tb });
      shapes.push({ a: ta ? [3, k, m] : [3, m, k], b: tb ? [3, n, k] : [3, k, n], ta, tb });
      // A big second operand (≥ 2^18 floats, ≥ 2× the rows of A): computed as (Bᵀ·Aᵀ)ᵀ on wasm.
      const [bm, bk, bn] = [7, 601, 450];
      shapes.push({ a: ta ? [1, bk, bm] : [1, bm, bk], b: tb ? [1, bn, bk] : [1, bk, bn], ta, tb });
    }
  }
  for (const s of shapes) {
    const label = `a ${s.a.join("×")} b ${s.b.join("×")} ta ${s.ta} tb ${s.tb}`;
    cases.push({
      kernel: "BatchMatMul",
      name: label,
      inputs: { a: { shape: s.a }, b: { shape: s.b } },
      attrs: { transposeA: s.ta, transposeB: s.tb },
    });
    const n = s.tb ? s.b[s.b.length - 2] : s.b[s.b.length - 1];
    // The core op always hands _FusedMatMul rank-3 operands.
    if (s.a.length !== 3) continue;
    cases.push({
      kernel: "_FusedMatMul",
      name: `${label} +bias relu`,
      inputs: { a: { shape: s.a }, b: { shape: s.b }, bias: { shape: [n] } },
      attrs: { transposeA: s.ta, transposeB: s.tb, activation: "relu" },
    });
  }
  return cases;
}

function otherCases(): Case[] {
  return [
    { kernel: "Sum", name: "bias gradient 4-D", inputs: { x: { shape: [4, 5, 6, 7] } }, attrs: { axis: [0, 1, 2], keepDims: false } },
    { kernel: "Sum", name: "bias gradient 2-D keepDims", inputs: { x: { shape: [33, 9] } }, attrs: { axis: [0], keepDims: true } },
    { kernel: "Sum", name: "one channel", inputs: { x: { shape: [8, 4, 1] } }, attrs: { axis: [0, 1], keepDims: false } },
    { kernel: "Sum", name: "last axis (stock path)", inputs: { x: { shape: [4, 5, 6] } }, attrs: { axis: [2], keepDims: false } },
    { kernel: "Sum", name: "negative axes", inputs: { x: { shape: [4, 5, 6] } }, attrs: { axis: [-3, -2], keepDims: false } },
    {
      kernel: "Sum",
      name: "23 channels (8-wide, 4-wide and tail)",
      inputs: { x: { shape: [3, 4, 5, 23] } },
      attrs: { axis: [0, 1, 2], keepDims: false },
    },
    {
      kernel: "Mean",
      name: "batch norm moments 4-D keepDims",
      inputs: { x: { shape: [4, 5, 6, 16] } },
      attrs: { axis: [0, 1, 2], keepDims: true },
    },
    { kernel: "Mean", name: "17 channels", inputs: { x: { shape: [3, 4, 5, 17] } }, attrs: { axis: [0, 1, 2], keepDims: false } },
    { kernel: "Mean", name: "2-D", inputs: { x: { shape: [33, 9] } }, attrs: { axis: [0], keepDims: false } },
    { kernel: "Mean", name: "one channel", inputs: { x: { shape: [8, 4, 1] } }, attrs: { axis: [0, 1], keepDims: true } },
    { kernel: "Mean", name: "last axis (stock path)", inputs: { x: { shape: [4, 5, 6] } }, attrs: { axis: [2], keepDims: false } },
    { kernel: "Mean", name: "negative axes", inputs: { x: { shape: [4, 5, 6] } }, attrs: { axis: [-3, -2], keepDims: false } },
    {
      kernel: "PadV2",
      name: "4-D spatial",
      inputs: { x: { shape: [2, 5, 6, 3] } },
      attrs: {
        paddings: [
          [0, 0],
          [2, 2],
          [1, 3],
          [0, 0],
        ],
        constantValue: 0,
      },
    },
    {
      kernel: "PadV2",
      name: "4-D all axes, value",
      inputs: { x: { shape: [2, 3, 4, 70] } },
      attrs: {
        paddings: [
          [1, 0],
          [0, 2],
          [1, 1],
          [2, 1],
        ],
        constantValue: 1.5,
      },
    },
    {
      kernel: "PadV2",
      name: "2-D",
      inputs: { x: { shape: [5, 6] } },
      attrs: {
        paddings: [
          [1, 2],
          [3, 0],
        ],
        constantValue: 0,
      },
    },
    {
      kernel: "Tile",
      name: "batch-norm factor [1,1,1,C] → [N,H,W,C]",
      inputs: { x: { shape: [1, 1, 1, 5] } },
      attrs: { reps: [3, 4, 2, 1] },
    },
    { kernel: "Tile", name: "all axes", inputs: { x: { shape: [2, 3, 4] } }, attrs: { reps: [2, 1, 3] } },
    { kernel: "Tile", name: "wide rows", inputs: { x: { shape: [2, 70] } }, attrs: { reps: [2, 2] } },
    { kernel: "Tile", name: "1-D", inputs: { x: { shape: [3] } }, attrs: { reps: [4] } },
    { kernel: "PadV2", name: "1-D", inputs: { x: { shape: [5] } }, attrs: { paddings: [[1, 2]], constantValue: -1 } },
  ];
}

function imageCases(): Case[] {
  const cases: Case[] = [];
  const mirrorPads: [string, number[], [number, number][]][] = [
    [
      "NHWC, height and width",
      [2, 5, 6, 3],
      [
        [0, 0],
        [1, 2],
        [2, 1],
        [0, 0],
      ],
    ],
    [
      "one channel, 1 each side (the augmentation's)",
      [3, 7, 7, 1],
      [
        [0, 0],
        [1, 1],
        [1, 1],
        [0, 0],
      ],
    ],
    [
      "channels and batch too",
      [2, 3, 4, 5],
      [
        [1, 0],
        [0, 1],
        [1, 1],
        [2, 2],
      ],
    ],
    [
      "2-D",
      [4, 6],
      [
        [1, 1],
        [3, 2],
      ],
    ],
  ];
  for (const [name, shape, paddings] of mirrorPads) {
    for (const mode of ["reflect", "symmetric"]) {
      if (mode === "reflect" && paddings.some(([b, a], axis) => Math.max(b, a) >= shape[axis])) continue;
      cases.push({ kernel: "MirrorPad", name: `${name} ${mode}`, inputs: { x: { shape } }, attrs: { paddings, mode } });
    }
  }
  // Boxes [y1, x1, y2, x2]: inside, flipped (y2 < y1, x2 < x1), reaching outside (extrapolation), a point.
  const boxes = [0.1, 0.2, 0.8, 0.9, 0.9, 0.7, 0.05, 0.1, -0.3, 0.2, 1.2, 0.6, 0.5, 0.5, 0.5, 0.5];
  for (const [cropSize, channels] of [
    [[7, 5], 1],
    [[4, 6], 3],
    [[1, 1], 2],
  ] as [[number, number], number][]) {
    cases.push({
      kernel: "CropAndResize",
      name: `${boxes.length / 4} boxes → ${cropSize.join("×")}, ${channels} channel(s)`,
      inputs: {
        image: { shape: [3, 9, 8, channels] },
        boxes: { shape: [4, 4], values: boxes },
        boxInd: { shape: [4], values: [0, 2, 1, 2], dtype: "int32" },
      },
      attrs: { method: "bilinear", extrapolationValue: 0.25, cropSize },
    });
  }
  cases.push({
    kernel: "CropAndResize",
    name: "a box naming no image stays zero",
    inputs: {
      image: { shape: [1, 5, 5, 1] },
      boxes: { shape: [2, 4], values: [0, 0, 1, 1, 0, 0, 1, 1] },
      boxInd: { shape: [2], values: [0, 3], dtype: "int32" },
    },
    attrs: { method: "bilinear", extrapolationValue: 0, cropSize: [3, 3] },
  });
  return cases;
}

const allCases = [...convCases(), ...depthwiseCases(), ...poolCases(), ...matMulCases(), ...otherCases(), ...imageCases()];

beforeAll(async () => {
  await tf.setBackend("wasm");
  await tf.ready();
  registerEngineKernels("wasm");
  await tf.setBackend("cpu");
  registerEngineKernels("cpu");
});

describe.each(["wasm", "cpu"] as const)("engine kernels on %s vs stock cpu", (backendName) => {
  const kernels = new Set(ENGINE_KERNELS[backendName]);
  const cases = allCases.filter((c) => kernels.has(c.kernel));
  it.each(cases.map((c) => [`${c.kernel}: ${c.name}`, c] as const))("%s", async (_label, c) => {
    const { shape, expectedShape, error } = await checkCase(c, backendName);
    expect(shape).toEqual(expectedShape);
    expect(error).toBeLessThanOrEqual(TOLERANCE);
  });
});

describe("gradients through the layers that call kernels directly", () => {
  it("fused conv2d + bias + relu, max pool, dense: wasm with engine kernels = stock cpu", async () => {
    const run = async (backendName: string) => {
      await tf.setBackend(backendName);
      reseed(777);
      const x = tf.tensor(makeValues({ shape: [3, 10, 10, 2] }), [3, 10, 10, 2]);
      const w1 = tf.tensor(makeValues({ shape: [3, 3, 2, 4] }), [3, 3, 2, 4]);
      const b1 = tf.tensor(makeValues({ shape: [4] }), [4]);
      const w2 = tf.tensor(makeValues({ shape: [64, 5] }), [64, 5]);
      const f = (w1v: tf.Tensor, b1v: tf.Tensor, w2v: tf.Tensor) => {
        // activation "linear" keeps the fused op's customGrad (what tfjs-layers runs): it calls
        // Conv2DBackpropInput/Filter directly, and dx of this first layer is dropped unread.
        const h = tf.fused
          .conv2d({ x: x as tf.Tensor4D, filter: w1v as tf.Tensor4D, bias: b1v, strides: 2, pad: "same", activation: "linear" })
          .relu() as tf.Tensor4D;
        const p = tf.maxPool(h, 2, 1, "valid").reshape([3, -1]);
        return tf.fused
          .matMul({ a: p as tf.Tensor2D, b: w2v as tf.Tensor2D, activation: "linear" })
          .square()
          .sum() as tf.Scalar;
      };
      const grads = tf.grads(f)([w1, b1, w2]);
      const out = grads.map((g) => Float32Array.from(g.dataSync()));
      tf.dispose([x, w1, b1, w2, ...grads]);
      return out;
    };
    // Reference: the stock cpu kernels only.
    const { unregisterEngineKernels } = await import("../src/kernels/index.ts");
    unregisterEngineKernels("cpu");
    const expected = await run("cpu");
    registerEngineKernels("cpu");
    const actual = await run("wasm");
    for (let i = 0; i < expected.length; i++) expect(relError(actual[i], expected[i])).toBeLessThanOrEqual(TOLERANCE);
  });
});

describe("deferred input gradients (wasm)", () => {
  // With activation "linear" (as tfjs-layers calls it) the fused op keeps its customGrad, which computes dx eagerly.
  it("the first layer's input gradient is dropped without being computed", async () => {
    await tf.setBackend("wasm");
    const { deferredStats } = await import("../src/kernels/lazy.ts");
    const x = tf.randomNormal([4, 12, 12, 1]);
    const w = tf.randomNormal([5, 5, 1, 6]);
    const b = tf.zeros([6]);
    const before = deferredStats();
    const g = tf.grads((wv: tf.Tensor, bv: tf.Tensor) =>
      tf.fused
        .conv2d({ x: x as tf.Tensor4D, filter: wv as tf.Tensor4D, bias: bv, pad: "same", strides: 1, activation: "linear" })
        .relu()
        .sum(),
    )([w, b]);
    const after = deferredStats();
    expect(after.skipped - before.skipped).toBe(1);
    expect(after.computed - before.computed).toBe(0);
    tf.dispose([x, w, b, ...g]);
  });

  it("a deferred result outlives its disposed inputs and equals the stock kernel", async () => {
    reseed(99);
    const dyValues = makeValues({ shape: [2, 6, 6, 3] });
    const fValues = makeValues({ shape: [3, 3, 2, 3] });
    const attrs = { strides: [1, 1], pad: "same", dataFormat: "NHWC", inputShape: [2, 6, 6, 2] };
    const expected = await runKernel(
      "cpu",
      "Conv2DBackpropInput",
      { dy: { shape: [2, 6, 6, 3], values: dyValues }, filter: { shape: [3, 3, 2, 3], values: fValues } },
      attrs,
      true,
    );
    await tf.setBackend("wasm");
    const dy = tf.tensor(dyValues, [2, 6, 6, 3]);
    const filter = tf.tensor(fValues, [3, 3, 2, 3]);
    const dx = tf.engine().runKernel("Conv2DBackpropInput", { dy, filter }, attrs as unknown as tf.NamedAttrMap) as tf.Tensor;
    tf.dispose([dy, filter]);
    const doubled = dx.mul(2); // a stock kernel reading it
    expect(
      relError(
        Float32Array.from(doubled.dataSync()).map((v) => v / 2),
        expected.values,
      ),
    ).toBeLessThanOrEqual(TOLERANCE);
    expect(relError(Float32Array.from(dx.dataSync()), expected.values)).toBeLessThanOrEqual(TOLERANCE);
    tf.dispose([dx, doubled]);
  });
});

describe("Identity shares memory (wasm)", () => {
  it("a clone is the same data, outlives its original, and is freed with the last tensor on it", async () => {
    await tf.setBackend("wasm");
    const backend = tf.backend() as unknown as { numDataIds(): number };
    const buffersBefore = backend.numDataIds();
    const original = tf.tensor([1, 2, 3, 4], [2, 2]);
    const clone = original.clone();
    // Shared, not copied: one buffer for both tensors.
    expect(clone.dataId).toBe(original.dataId);
    expect(backend.numDataIds()).toBe(buffersBefore + 1);
    original.dispose();
    expect(Array.from(clone.dataSync())).toEqual([1, 2, 3, 4]);
    expect(backend.numDataIds()).toBe(buffersBefore + 1);
    clone.dispose();
    expect(backend.numDataIds()).toBe(buffersBefore);
  });

  it("a deferred input gradient is computed once when cloned, and the clone keeps its values", async () => {
    await tf.setBackend("wasm");
    reseed(5);
    const dy = tf.tensor(makeValues({ shape: [1, 4, 4, 2] }), [1, 4, 4, 2]);
    const filter = tf.tensor(makeValues({ shape: [3, 3, 2, 2] }), [3, 3, 2, 2]);
    const attrs = { strides: [1, 1], pad: "same", dataFormat: "NHWC", inputShape: [1, 4, 4, 2] };
    const dx = tf.engine().runKernel("Conv2DBackpropInput", { dy, filter }, attrs as unknown as tf.NamedAttrMap) as tf.Tensor;
    const clone = dx.clone();
    const expected = Float32Array.from(dx.dataSync());
    dx.dispose();
    expect(Array.from(clone.dataSync())).toEqual(Array.from(expected));
    expect(expected.some((v) => v !== 0)).toBe(true);
    tf.dispose([dy, filter, clone]);
  });
});

describe("batch norm's gradient (two passes)", () => {
  // As tfjs-layers trains: moments over all axes but the last, then batchNorm with them.
  const run = async (backendName: string, shape: number[]) => {
    await tf.setBackend(backendName);
    reseed(4242);
    const x = tf.tensor(makeValues({ shape }), shape);
    const c = shape[shape.length - 1];
    const gamma = tf.tensor(makeValues({ shape: [c] }), [c]);
    const beta = tf.tensor(makeValues({ shape: [c] }), [c]);
    const w = tf.tensor(makeValues({ shape }), shape);
    const f = (xv: tf.Tensor, g: tf.Tensor, b: tf.Tensor) => {
      const { mean, variance } = tf.moments(xv, [0, 1, 2]);
      return tf
        .batchNorm4d(xv as tf.Tensor4D, mean as tf.Tensor1D, variance as tf.Tensor1D, b as tf.Tensor1D, g as tf.Tensor1D, 1e-3)
        .mul(w)
        .sum() as tf.Scalar;
    };
    const grads = tf.grads(f)([x, gamma, beta]);
    const out = grads.map((t) => Float32Array.from(t.dataSync()));
    tf.dispose([x, gamma, beta, w, ...grads]);
    return out;
  };
  // (A batch norm without a scale cannot be differentiated in tfjs-core with either gradient:
  // the tape cannot save the missing input.)
  for (const shape of [
    [4, 5, 5, 6],
    [3, 2, 2, 9],
    [1, 1, 7, 3],
  ]) {
    it(`${shape.join("×")}: wasm and cpu with the engine's gradient = tfjs-core's on stock cpu`, async () => {
      const { unregisterEngineKernels } = await import("../src/kernels/index.ts");
      const { batchNormGradStats } = await import("../src/kernels/batchnorm.ts");
      const before = batchNormGradStats();
      unregisterEngineKernels("cpu");
      const expected = await run("cpu", shape);
      registerEngineKernels("cpu");
      for (const backendName of ["wasm", "cpu"]) {
        const actual = await run(backendName, shape);
        for (let i = 0; i < expected.length; i++) expect(relError(actual[i], expected[i])).toBeLessThanOrEqual(TOLERANCE);
      }
      // The reference took tfjs-core's gradient, the two others the engine's.
      const after = batchNormGradStats();
      expect(after.stock - before.stock).toBe(1);
      expect(after.engine - before.engine).toBe(2);
    });
  }
});

describe("Mean's gradient (broadcast)", () => {
  const shape = [2, 3, 4, 5];
  const cases: [number[] | undefined, boolean][] = [
    [[0, 1, 2], false],
    [[0, 1, 2], true],
    [[1], false],
    [[0, 3], true],
    [undefined, false],
  ];
  for (const [axes, keepDims] of cases) {
    it(`axes ${axes ? axes.join(",") : "all"}${keepDims ? " keepDims" : ""}: dx = dy / n spread over the reduced axes`, async () => {
      for (const backendName of ["wasm", "cpu"]) {
        await tf.setBackend(backendName);
        reseed(77);
        const x = tf.tensor(makeValues({ shape }), shape);
        const reduced = axes ?? [0, 1, 2, 3];
        const outShape = shape.map((d, i) => (reduced.includes(i) ? 1 : d));
        const weights = makeValues({ shape: outShape });
        const w = tf.tensor(weights, keepDims ? outShape : outShape.filter((_, i) => !reduced.includes(i)));
        const [dx] = tf.grads((xv: tf.Tensor) => tf.mean(xv, axes, keepDims).mul(w).sum())([x]);
        const n = reduced.reduce((p, i) => p * shape[i], 1);
        // Expected: each element gets the weight of the output it was averaged into, over n.
        const expected = new Float32Array(tf.util.sizeFromShape(shape));
        const strides = [shape[1] * shape[2] * shape[3], shape[2] * shape[3], shape[3], 1];
        const outStrides = [outShape[1] * outShape[2] * outShape[3], outShape[2] * outShape[3], outShape[3], 1];
        for (let i = 0; i < expected.length; i++) {
          const index = strides.map((s, k) => Math.floor(i / s) % shape[k]);
          const o = index.reduce((sum, v, k) => sum + (reduced.includes(k) ? 0 : v) * outStrides[k], 0);
          expected[i] = weights[o] / n;
        }
        expect(relError(Float32Array.from(dx.dataSync()), expected)).toBeLessThanOrEqual(1e-6);
        tf.dispose([x, w, dx]);
      }
    });
  }
});
