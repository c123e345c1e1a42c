import * as tf from "@tensorflow/tfjs";
import { beforeAll, describe, expect, it } from "vitest";
import { ChannelPool, ChannelShuffle, StochasticDepth } from "../src/customLayers.ts";
import { activation, apply, conv2d, depthwiseConv2d, maxPool2d } from "../src/layers.ts";

interface LayerCase {
  label: string;
  kind: "conv" | "depthwise" | "maxPoolAfterRelu" | "channelShuffle" | "channelPool";
  input: [number, number, number];
  filters?: number;
  kernelSize?: number;
  poolSize?: number;
  strides?: number;
  padding?: number;
  groups?: number;
  /** PyTorch's output, channels-last. */
  expected: number[][][];
}

/** Written out by reference/layer_fixtures.py (PyTorch); inputs and kernels follow the formulas below. */
const cases: LayerCase[] = [
  {"label": "3×3 stride 2 padding 1, even input (ResNet downsampling)", "kind": "conv", "input": [6, 6, 2], "filters": 2, "kernelSize": 3, "strides": 2, "padding": 1, "expected": [[[0.81, -0.37], [0.51, 0.7], [-0.19, 0.84]], [[-0.48, -0.12], [-0.12, -0.99], [-0.57, -0.63]], [[0.34, -0.17], [0.82, 0.59], [0.7, 1.28]]]},
  {"label": "7×7 stride 2 padding 3 (ResNet/GoogLeNet/DenseNet stem)", "kind": "conv", "input": [8, 8, 1], "filters": 2, "kernelSize": 7, "strides": 2, "padding": 3, "expected": [[[-0.38, -0.5], [-0.98, -0.45], [-1.23, -0.47], [-0.42, -0.51]], [[0.14, 0.78], [1.66, 1.21], [2.41, 1.69], [0.87, 0.61]], [[0.18, -0.8], [-1.19, -0.71], [-1.15, -1.58], [-1.25, -0.74]], [[-0.31, -0.19], [0.27, 0.03], [0.61, 1.1], [0.76, 1.58]]]},
  {"label": "11×11 stride 4 padding 2 (AlexNet)", "kind": "conv", "input": [15, 15, 1], "filters": 1, "kernelSize": 11, "strides": 4, "padding": 2, "expected": [[[-0.52], [2.66], [3.07]], [[-2.38], [0.39], [2.83]], [[-2.19], [-1.77], [0.78]]]},
  {"label": "5×5 stride 1 padding 2 (TF 'same')", "kind": "conv", "input": [5, 5, 2], "filters": 1, "kernelSize": 5, "strides": 1, "padding": 2, "expected": [[[-0.66], [0.18], [-0.23], [-0.56], [0.35]], [[-0.49], [1.33], [-0.98], [1.38], [-0.81]], [[1.39], [-0.9], [0.64], [-0.25], [-0.96]], [[-0.1], [-0.83], [0.93], [-0.9], [1.28]], [[-0.76], [0.94], [-0.46], [0.2], [-0.04]]]},
  {"label": "depthwise 5×5 stride 2 (EfficientNet)", "kind": "depthwise", "input": [8, 8, 2], "kernelSize": 5, "strides": 2, "expected": [[[-0.51, 0.41], [-0.23, 0.4], [0.11, -0.04], [0.15, -0.15]], [[1.32, -0.29], [0.95, -0.85], [-0.11, -0.76], [-0.39, 0.0]], [[-0.6, 0.6], [-0.61, 1.58], [-0.68, 0.9], [-0.07, 0.03]], [[0.6, 0.01], [1.29, -0.5], [0.68, -0.55], [-0.3, -0.55]]]},
  {"label": "depthwise 3×3 stride 2 (MobileNet, ShuffleNet)", "kind": "depthwise", "input": [6, 6, 2], "kernelSize": 3, "strides": 2, "expected": [[[0.15, 0.05], [-0.08, -0.07], [-0.08, -0.54]], [[-0.09, -0.1], [0.16, 0.27], [-0.19, 0.25]], [[0.09, 0.25], [0.06, -0.27], [0.04, -0.29]]]},
  {"label": "max pool 3×3 stride 2 padding 1 (stems)", "kind": "maxPoolAfterRelu", "input": [6, 6, 2], "poolSize": 3, "strides": 2, "padding": 1, "expected": [[[0.3, 0.5], [0.5, 0.4], [0.4, 0.5]], [[0.4, 0.5], [0.5, 0.5], [0.5, 0.4]], [[0.4, 0.5], [0.4, 0.5], [0.5, 0.4]]]},
  {"label": "max pool 3×3 stride 1 padding 1 (Inception branch 4)", "kind": "maxPoolAfterRelu", "input": [4, 4, 1], "poolSize": 3, "strides": 1, "padding": 1, "expected": [[[0.3], [0.5], [0.5], [0.5]], [[0.3], [0.5], [0.5], [0.5]], [[0.4], [0.4], [0.5], [0.5]], [[0.4], [0.4], [0.5], [0.5]]]},
  {"label": "channel shuffle, 2 groups of 3 (ShuffleNet v2)", "kind": "channelShuffle", "input": [2, 2, 6], "groups": 2, "expected": [[[-0.5, 0.5, 0.2, 0.1, -0.2, -0.3], [0.0, -0.1, -0.4, -0.5, 0.3, 0.2]], [[-0.2, -0.3, 0.5, 0.4, 0.1, 0.0], [0.3, 0.2, -0.1, -0.2, -0.5, 0.5]]]},
  {"label": "channel shuffle, 3 groups of 2", "kind": "channelShuffle", "input": [2, 2, 6], "groups": 3, "expected": [[[-0.5, -0.2, 0.1, 0.2, 0.5, -0.3], [0.0, 0.3, -0.5, -0.4, -0.1, 0.2]], [[-0.2, 0.1, 0.4, 0.5, -0.3, 0.0], [0.3, -0.5, -0.2, -0.1, 0.2, 0.5]]]},
  {"label": "channel mean and max (CBAM spatial gate)", "kind": "channelPool", "input": [3, 3, 5], "expected": [[[0.02, 0.5], [-0.14, 0.3], [0.14, 0.5]], [[0.1, 0.5], [-0.06, 0.3], [0.0, 0.4]], [[-0.04, 0.4], [0.02, 0.5], [-0.14, 0.3]]]},
];

function patternInput([height, width, channels]: [number, number, number]): tf.Tensor4D {
  return tf.tensor3d(
    Array.from({ length: height }, (_, h) =>
      Array.from({ length: width }, (_, w) => Array.from({ length: channels }, (_, c) => (((3 * h + 5 * w + 7 * c) % 11) - 5) / 10)),
    ),
  ).expandDims(0) as tf.Tensor4D;
}

/** Channels-last kernel [kh, kw, in, out] from PyTorch's pattern over [out, in, kh, kw]. */
function patternKernel(size: number, inChannels: number, outChannels: number, depthwise: boolean): tf.Tensor4D {
  return tf.tensor4d(
    Array.from({ length: size }, (_, kh) =>
      Array.from({ length: size }, (_, kw) =>
        Array.from({ length: inChannels }, (_, i) =>
          Array.from({ length: outChannels }, (_, o) => {
            // A depthwise kernel [kh, kw, channel, 1] is PyTorch's [channel, 1, kh, kw].
            const [pytorchOut, pytorchIn] = depthwise ? [i, 0] : [o, i];
            return (((2 * kh + 3 * kw + 5 * pytorchIn + 7 * pytorchOut) % 13) - 6) / 10;
          }),
        ),
      ),
    ),
  );
}

function run(testCase: LayerCase): number[][][] {
  const input = tf.input({ shape: testCase.input });
  const channels = testCase.input[2];
  const init = "zeros";
  const { filters = 1, kernelSize = 1, poolSize = 1, strides = 1, padding = 0, groups = 1 } = testCase;
  const outputs: Record<LayerCase["kind"], () => tf.SymbolicTensor> = {
    conv: () => conv2d(input, "case", { filters, kernelSize, strides, padding, useBias: false, init }),
    depthwise: () => depthwiseConv2d(input, "case", { kernelSize, strides, init }),
    maxPoolAfterRelu: () => maxPool2d(activation(input, "relu", "relu"), "case", { poolSize, strides, padding }),
    channelShuffle: () => apply(new ChannelShuffle({ groups, name: "case" }), input),
    channelPool: () => apply(new ChannelPool({ name: "case" }), input),
  };
  const output = outputs[testCase.kind]();
  const model = tf.model({ inputs: input, outputs: output });
  const layer = model.getLayer("case");
  if (testCase.kind === "conv" || testCase.kind === "depthwise") {
    const depthwise = testCase.kind === "depthwise";
    layer.setWeights([patternKernel(kernelSize, channels, depthwise ? 1 : filters, depthwise)]);
  }
  const result = tf.tidy(() => (model.predict(patternInput(testCase.input)) as tf.Tensor).squeeze([0]).arraySync() as number[][][]);
  model.dispose();
  return result;
}

beforeAll(async () => {
  await tf.setBackend("cpu");
});

describe("padded layers and custom layers match PyTorch value for value", () => {
  for (const testCase of cases) {
    it(testCase.label, () => {
      const actual = run(testCase).flat(2);
      const expected = testCase.expected.flat(2);
      expect(actual).toHaveLength(expected.length);
      actual.forEach((value, index) => expect(value).toBeCloseTo(expected[index], 4));
    });
  }

  it("differs from TF's 'same' padding on a stride-2 conv (why the zoo pads explicitly)", () => {
    const [first] = cases;
    const kernel = patternKernel(3, 2, 2, false);
    const same = tf.conv2d(patternInput(first.input), kernel, 2, "same").squeeze([0]).arraySync() as number[][][];
    expect(same.flat(2)).not.toEqual(first.expected.flat(2));
  });
});

describe("stochastic depth", () => {
  it("is the identity at inference and drops or rescales whole samples in training", () => {
    const layer = new StochasticDepth({ rate: 0.5 });
    const branch = tf.ones([64, 2, 2, 3]);
    expect((layer.apply(branch, { training: false }) as tf.Tensor).arraySync()).toEqual(branch.arraySync());
    const perSample = (layer.apply(branch, { training: true }) as tf.Tensor).reshape([64, 12]).arraySync() as number[][];
    expect(perSample.every((values) => values.every((value) => value === values[0]))).toBe(true);
    expect(new Set(perSample.map((values) => values[0]))).toEqual(new Set([0, 2]));
    tf.dispose(branch);
  });
});
