/**
 * The kernels the model zoo's training steps dispatch, each with representative cases (NHWC, the
 * strides, paddings, filter sizes and reductions the networks use), for the webgpu kernel table
 * (webgpuKernels.test.ts). webgpuZoo.test.ts records the kernels every zoo network's training
 * step dispatches on webgpu and fails for one that has no case here.
 *
 * How the list was found: every registered architecture (and LeNet relu/max-pool, LeNet tanh with
 * batch norm, pre-activation ResNet-18) took a training step (TrainingReplica: forward, softmax
 * cross-entropy, gradients, SGD) on cpu and on webgpu with tf.engine().runKernel wrapped to record
 * each kernel's name, input shapes and attributes: 46 kernels (45 on each backend: cpu runs the
 * engine's batch norm gradient kernel, webgpu tfjs-core's composition, which adds Rsqrt).
 */
import type { Case, Input } from "./kernelTable.ts";
import { convInfo } from "./kernelTable.ts";

/** Every kernel a zoo training step dispatches on webgpu or cpu (engine-only kernels excluded). */
export const ZOO_KERNELS = [
  "Add",
  "ArgMax",
  "AvgPool",
  "AvgPoolGrad",
  "BatchMatMul",
  "Cast",
  "Concat",
  "Conv2D",
  "Conv2DBackpropFilter",
  "Conv2DBackpropInput",
  "DepthwiseConv2dNative",
  "DepthwiseConv2dNativeBackpropFilter",
  "DepthwiseConv2dNativeBackpropInput",
  "Equal",
  "Exp",
  "Floor",
  "FusedBatchNorm",
  "FusedConv2D",
  "Greater",
  "GreaterEqual",
  "Identity",
  "Log",
  "Max",
  "MaxPool",
  "MaxPoolGrad",
  "Mean",
  "Minimum",
  "Multiply",
  "Neg",
  "OneHot",
  "PadV2",
  "RealDiv",
  "Relu",
  "Reshape",
  "Rsqrt",
  "Sigmoid",
  "Slice",
  "SplitV",
  "Square",
  "Step",
  "Sub",
  "Sum",
  "Tanh",
  "Tile",
  "Transpose",
  "_FusedMatMul",
] as const;

const NHWC = "NHWC";

/** A convolution's case label, strides and output (dy) shape. */
function convGeometry(x: number[], f: number[], s: number, pad: "same" | "valid", depthwise: boolean) {
  return {
    label: `x ${x.join("×")} f ${f.join("×")} s ${s} ${pad}`,
    strides: [s, s],
    dy: convInfo(x, f, s, 1, pad, undefined, depthwise).outShape,
  };
}

function convolutionCases(): Case[] {
  const cases: Case[] = [];
  // [x, filter, strides, pad]: LeNet's 5×5 (1 → 6 same, 6 → 16 valid), AlexNet's 11×11/4 stem and
  // 5×5, VGG/ResNet 3×3 (vec4 channels), strided 3×3 after explicit padding, 1×1 (ResNet's
  // bottleneck and stride-2 shortcut), the 7×7/2 stem, odd channel counts, tiny maps.
  const geometries: [number[], number[], number, "same" | "valid"][] = [
    [[2, 12, 12, 1], [5, 5, 1, 6], 1, "same"],
    [[2, 6, 6, 6], [5, 5, 6, 16], 1, "valid"],
    [[2, 23, 23, 1], [11, 11, 1, 8], 4, "valid"],
    [[2, 7, 7, 8], [5, 5, 8, 12], 1, "same"],
    [[2, 8, 8, 8], [3, 3, 8, 16], 1, "same"],
    [[2, 9, 9, 4], [3, 3, 4, 8], 2, "valid"],
    [[2, 4, 4, 16], [1, 1, 16, 8], 1, "valid"],
    [[2, 8, 8, 8], [1, 1, 8, 16], 2, "valid"],
    [[2, 22, 22, 1], [7, 7, 1, 16], 2, "valid"],
    [[2, 7, 7, 3], [3, 3, 3, 5], 1, "same"],
    [[2, 8, 8, 6], [3, 3, 6, 10], 2, "valid"],
    [[2, 2, 2, 8], [3, 3, 8, 8], 1, "same"],
    [[2, 1, 1, 12], [3, 3, 12, 4], 1, "same"],
  ];
  for (const [x, f, s, pad] of geometries) {
    const { label, strides, dy } = convGeometry(x, f, s, pad, false);
    cases.push(
      {
        kernel: "Conv2D",
        name: label,
        inputs: { x: { shape: x }, filter: { shape: f } },
        attrs: { strides, pad, dataFormat: NHWC, dilations: [1, 1] },
      },
      {
        kernel: "FusedConv2D",
        name: `${label} +bias`,
        inputs: { x: { shape: x }, filter: { shape: f }, bias: { shape: [f[3]] } },
        attrs: { strides, pad, dataFormat: NHWC, dilations: [1, 1], activation: "linear" },
      },
      {
        kernel: "Conv2DBackpropFilter",
        name: label,
        inputs: { x: { shape: x }, dy: { shape: dy } },
        attrs: { strides, pad, dataFormat: NHWC, filterShape: f },
      },
      {
        kernel: "Conv2DBackpropInput",
        name: label,
        inputs: { dy: { shape: dy }, filter: { shape: f } },
        attrs: { strides, pad, dataFormat: NHWC, inputShape: x },
      },
    );
  }
  // The zoo's layers fuse only the bias ("linear"); a fused ReLU on two geometries (vec4 channels and
  // not), each a shader of its own that llvmpipe takes seconds to compile.
  for (const [x, f] of [
    [
      [2, 8, 8, 8],
      [3, 3, 8, 16],
    ],
    [
      [2, 7, 7, 3],
      [3, 3, 3, 5],
    ],
  ])
    cases.push({
      kernel: "FusedConv2D",
      name: `x ${x.join("×")} f ${f.join("×")} s 1 same +bias relu`,
      inputs: { x: { shape: x }, filter: { shape: f }, bias: { shape: [f[3]] } },
      attrs: { strides: [1, 1], pad: "same", dataFormat: NHWC, dilations: [1, 1], activation: "relu" },
    });
  // Depthwise (MobileNet v1/v2 3×3, EfficientNet 3×3 and 5×5; stride 2 after explicit padding),
  // and the 1×1×1×1 one a LeNet step dispatches.
  const depthwise: [number[], number[], number, "same" | "valid"][] = [
    [[2, 8, 8, 8], [3, 3, 8, 1], 1, "same"],
    [[2, 9, 9, 8], [3, 3, 8, 1], 2, "valid"],
    [[2, 8, 8, 6], [5, 5, 6, 1], 1, "same"],
    [[2, 11, 11, 12], [5, 5, 12, 1], 2, "valid"],
    [[2, 7, 7, 3], [3, 3, 3, 1], 1, "same"],
    [[2, 2, 2, 16], [3, 3, 16, 1], 1, "same"],
    [[2, 12, 12, 1], [1, 1, 1, 1], 1, "valid"],
  ];
  for (const [x, f, s, pad] of depthwise) {
    const { label, strides, dy } = convGeometry(x, f, s, pad, true);
    cases.push(
      {
        kernel: "DepthwiseConv2dNative",
        name: label,
        inputs: { x: { shape: x }, filter: { shape: f } },
        attrs: { strides, pad, dataFormat: NHWC, dilations: null },
      },
      {
        kernel: "DepthwiseConv2dNativeBackpropFilter",
        name: label,
        inputs: { x: { shape: x }, dy: { shape: dy } },
        attrs: { strides, pad, dilations: [1, 1], filterShape: f },
      },
      {
        kernel: "DepthwiseConv2dNativeBackpropInput",
        name: label,
        inputs: { dy: { shape: dy }, filter: { shape: f } },
        attrs: { strides, pad, dilations: [1, 1], inputShape: x },
      },
    );
  }
  return cases;
}

function poolCases(): Case[] {
  const cases: Case[] = [];
  // LeNet/DenseNet 2×2/2, GoogLeNet 3×3/1 same, AlexNet/VGG-style 3×3/2 valid, an odd map (floor).
  const geometries: [number[], number, number, "same" | "valid"][] = [
    [[2, 8, 8, 6], 2, 2, "valid"],
    [[2, 7, 7, 4], 2, 2, "valid"],
    [[2, 6, 6, 8], 3, 1, "same"],
    [[2, 9, 9, 8], 3, 2, "valid"],
  ];
  for (const [x, size, s, pad] of geometries) {
    const filterSize = [size, size];
    const strides = [s, s];
    const info = convInfo(x, [size, size, x[3], x[3]], s, 1, pad);
    const label = `x ${x.join("×")} ${size}×${size}/${s} ${pad}`;
    for (const kind of ["normal", "relu"] as const) {
      // relu inputs: exact zeros and repeated values, ties inside a window.
      const input: Input = { shape: x, kind };
      cases.push(
        { kernel: "MaxPool", name: `${label} ${kind}`, inputs: { x: input }, attrs: { filterSize, strides, pad } },
        {
          kernel: "MaxPoolGrad",
          name: `${label} ${kind}`,
          // Both the cpu and the webgpu kernel recompute the argmax from `input`; `output` is unread.
          inputs: { dy: { shape: info.outShape }, input, output: { shape: info.outShape } },
          attrs: { filterSize, strides, pad },
        },
      );
    }
    cases.push(
      { kernel: "AvgPool", name: label, inputs: { x: { shape: x } }, attrs: { filterSize, strides, pad } },
      {
        kernel: "AvgPoolGrad",
        name: label,
        inputs: { dy: { shape: info.outShape }, input: { shape: x } },
        attrs: { filterSize, strides, pad },
      },
    );
  }
  return cases;
}

function matMulCases(): Case[] {
  const cases: Case[] = [];
  // [a, b, transposeA, transposeB]: a dense layer's forward, its two gradients, a wider product.
  const products: [number[], number[], boolean, boolean][] = [
    [[1, 2, 16], [1, 16, 12], false, false],
    [[1, 4, 6], [1, 5, 6], false, true],
    [[1, 6, 4], [1, 6, 5], true, false],
    [[1, 33, 65], [1, 65, 17], false, false],
    [[1, 2, 1], [1, 1, 16], false, false],
  ];
  for (const [a, b, transposeA, transposeB] of products) {
    const name = `${a.join("×")} · ${b.join("×")}${transposeA ? " Aᵀ" : ""}${transposeB ? " Bᵀ" : ""}`;
    cases.push({ kernel: "BatchMatMul", name, inputs: { a: { shape: a }, b: { shape: b } }, attrs: { transposeA, transposeB } });
  }
  for (const [a, b, bias, activation] of [
    [[1, 2, 16], [1, 16, 12], true, "linear"],
    [[1, 2, 1], [1, 1, 16], false, "linear"],
    [[1, 5, 64], [1, 64, 3], true, "relu"],
  ] as [number[], number[], boolean, string][]) {
    cases.push({
      kernel: "_FusedMatMul",
      name: `${a.join("×")} · ${b.join("×")}${bias ? " +bias" : ""} ${activation}`,
      inputs: { a: { shape: a }, b: { shape: b }, bias: bias ? { shape: [b[2]] } : null },
      attrs: { transposeA: false, transposeB: false, activation, leakyreluAlpha: 0.2 },
    });
  }
  return cases;
}

function elementwiseCases(): Case[] {
  const cases: Case[] = [];
  const x = [2, 5, 5, 6];
  for (const kernel of ["Exp", "Neg", "Relu", "Sigmoid", "Tanh", "Square", "Identity", "Floor"])
    cases.push({ kernel, name: x.join("×"), inputs: { x: { shape: x } }, attrs: {} });
  for (const kernel of ["Log", "Rsqrt"])
    cases.push({ kernel, name: `${x.join("×")} positive`, inputs: { x: { shape: x, kind: "positive" } }, attrs: {} });
  cases.push({ kernel: "Step", name: `${x.join("×")} alpha 0`, inputs: { x: { shape: x, kind: "relu" } }, attrs: { alpha: 0 } });
  cases.push(
    {
      kernel: "Cast",
      name: "float32 → int32",
      inputs: { x: { shape: [3, 7], values: [...Array(21).keys()].map((i) => (i - 10) * 0.7) } },
      attrs: { dtype: "int32" },
    },
    {
      kernel: "Cast",
      name: "int32 → float32",
      inputs: { x: { shape: [2, 3], values: [0, 2, -1, 5, 1, 2], dtype: "int32" } },
      attrs: { dtype: "float32" },
    },
    { kernel: "Cast", name: "bool → int32", inputs: { x: { shape: [4], values: [1, 0, 0, 1], dtype: "bool" } }, attrs: { dtype: "int32" } },
    { kernel: "Cast", name: "float32 → float32", inputs: { x: { shape: x } }, attrs: { dtype: "float32" } },
  );
  // Broadcasting as the networks use it: same shape, per channel, per sample and channel (SE/CBAM
  // gates), per position (CBAM's spatial gate), a scalar, a column (the loss).
  const pairs: [number[], number[]][] = [
    [x, x],
    [x, [6]],
    [x, [2, 1, 1, 6]],
    [x, [2, 5, 5, 1]],
    [x, []],
    [
      [2, 3],
      [2, 1],
    ],
  ];
  for (const kernel of ["Add", "Sub", "Multiply", "RealDiv", "Minimum", "Greater", "GreaterEqual", "Equal"]) {
    for (const [a, b] of pairs) {
      // Quantized values so that Equal/Greater/Minimum meet ties; positive divisors.
      const kind = kernel === "RealDiv" ? "positive" : "relu";
      cases.push({
        kernel,
        name: `${a.join("×") || "scalar"} ${b.join("×") || "scalar"}`,
        inputs: { a: { shape: a, kind: kernel === "RealDiv" ? "normal" : kind }, b: { shape: b, kind } },
        attrs: {},
      });
    }
  }
  return cases;
}

function shapeCases(): Case[] {
  const x = [2, 4, 4, 6];
  const cases: Case[] = [];
  for (const axis of [[0, 1, 2], [0, 1], [0], [1, 2], [1], [3], null])
    cases.push({
      kernel: "Sum",
      name: `${x.join("×")} axes ${axis ?? "all"}`,
      inputs: { x: { shape: x } },
      attrs: { axis, keepDims: false },
    });
  cases.push({ kernel: "Sum", name: "2×3 axis 1", inputs: { x: { shape: [2, 3] } }, attrs: { axis: [1], keepDims: false } });
  for (const [axis, keepDims] of [
    [-1, true],
    [[0, 1, 2], false],
    [[0], false],
    [[1, 2], false],
  ] as [number | number[], boolean][])
    cases.push({
      kernel: "Mean",
      name: `${x.join("×")} axes ${axis}${keepDims ? " keepDims" : ""}`,
      inputs: { x: { shape: x } },
      attrs: { axis, keepDims },
    });
  for (const [axis, keepDims] of [
    [[1, 2], false],
    [-1, true],
    [[1], true],
  ] as [number | number[], boolean][])
    cases.push({
      kernel: "Max",
      name: `${x.join("×")} axes ${axis}${keepDims ? " keepDims" : ""}`,
      inputs: { x: { shape: x } },
      attrs: { reductionIndices: axis, keepDims },
    });
  cases.push({
    kernel: "Max",
    name: "2×3 axis 1 keepDims",
    inputs: { x: { shape: [2, 3] } },
    attrs: { reductionIndices: [1], keepDims: true },
  });
  for (const shape of [
    [2, 3],
    [4, 10],
  ])
    cases.push({ kernel: "ArgMax", name: `${shape.join("×")} axis -1`, inputs: { x: { shape } }, attrs: { axis: -1 } });
  cases.push(
    {
      kernel: "OneHot",
      name: "2 → depth 3",
      inputs: { indices: { shape: [2], values: [0, 2], dtype: "int32" } },
      attrs: { depth: 3, dtype: "int32", onValue: 1, offValue: 0 },
    },
    {
      kernel: "OneHot",
      name: "5 → depth 7, float",
      inputs: { indices: { shape: [5], values: [6, 0, 3, 3, 1], dtype: "int32" } },
      attrs: { depth: 7, dtype: "float32", onValue: 1, offValue: 0 },
    },
  );
  // Concat along channels: DenseNet's two inputs, GoogLeNet's four branches.
  cases.push(
    {
      kernel: "Concat",
      name: "2 inputs, channels 3 + 5",
      inputs: { 0: { shape: [2, 4, 4, 3] }, 1: { shape: [2, 4, 4, 5] } },
      attrs: { axis: -1 },
    },
    {
      kernel: "Concat",
      name: "4 inputs, channels 4 + 8 + 2 + 6",
      inputs: { 0: { shape: [2, 2, 2, 4] }, 1: { shape: [2, 2, 2, 8] }, 2: { shape: [2, 2, 2, 2] }, 3: { shape: [2, 2, 2, 6] } },
      attrs: { axis: -1 },
    },
  );
  // Slice: ShuffleNet's channel halves, the crop of a padded map.
  cases.push(
    {
      kernel: "Slice",
      name: "channels 4..8 of 8",
      inputs: { x: { shape: [2, 3, 3, 8] } },
      attrs: { begin: [0, 0, 0, 4], size: [-1, -1, -1, 4] },
    },
    { kernel: "Slice", name: "crop 1 pixel", inputs: { x: { shape: [2, 7, 7, 6] } }, attrs: { begin: [0, 1, 1, 0], size: [2, 5, 5, 6] } },
  );
  for (const [shape, splits] of [
    [
      [2, 3, 3, 12],
      [4, 8],
    ],
    [
      [2, 3, 3, 2],
      [1, 1],
    ],
    [
      [2, 2, 2, 12],
      [3, 5, 2, 2],
    ],
  ] as [number[], number[]][])
    cases.push({
      kernel: "SplitV",
      name: `${shape.join("×")} into ${splits.join("+")}`,
      inputs: { x: { shape } },
      attrs: { axis: 3, numOrSizeSplits: splits },
    });
  for (const [shape, reps] of [
    [
      [2, 1, 1, 6],
      [1, 4, 4, 1],
    ],
    [
      [1, 1, 1, 6],
      [2, 3, 3, 1],
    ],
    [
      [2, 3, 3, 1],
      [1, 1, 1, 8],
    ],
    [
      [1, 3],
      [2, 1],
    ],
  ] as [number[], number[]][])
    cases.push({ kernel: "Tile", name: `${shape.join("×")} reps ${reps.join(",")}`, inputs: { x: { shape } }, attrs: { reps } });
  cases.push({
    kernel: "Transpose",
    name: "channel shuffle [0,1,2,4,3]",
    inputs: { x: { shape: [2, 3, 3, 2, 4] } },
    attrs: { perm: [0, 1, 2, 4, 3] },
  });
  for (const paddings of [
    [
      [0, 0],
      [1, 1],
      [1, 1],
      [0, 0],
    ],
    [
      [0, 0],
      [3, 3],
      [3, 3],
      [0, 0],
    ],
    [
      [0, 0],
      [0, 0],
      [0, 0],
      [0, 6],
    ],
    [
      [0, 0],
      [0, 0],
      [0, 0],
      [6, 0],
    ],
  ])
    cases.push({
      kernel: "PadV2",
      name: `paddings ${JSON.stringify(paddings)}`,
      inputs: { x: { shape: [2, 4, 4, 6] } },
      attrs: { paddings, constantValue: 0 },
    });
  cases.push({ kernel: "Reshape", name: "2×3×3×4 → 2×36", inputs: { x: { shape: [2, 3, 3, 4] } }, attrs: { shape: [2, 36] } });
  return cases;
}

function batchNormCases(): Case[] {
  return (
    [
      [[2, 4, 4, 8], 1e-5],
      [[2, 3, 3, 6], 1e-3],
      [[2, 16], 1e-5],
    ] as [number[], number][]
  ).map(([x, varianceEpsilon]) => {
    const c = [x[x.length - 1]];
    return {
      kernel: "FusedBatchNorm",
      name: `${x.join("×")} ε ${varianceEpsilon}`,
      inputs: { x: { shape: x }, mean: { shape: c }, variance: { shape: c, kind: "positive" }, offset: { shape: c }, scale: { shape: c } },
      attrs: { varianceEpsilon },
    };
  });
}

export function zooKernelCases(): Case[] {
  return [...convolutionCases(), ...poolCases(), ...matMulCases(), ...elementwiseCases(), ...shapeCases(), ...batchNormCases()];
}
