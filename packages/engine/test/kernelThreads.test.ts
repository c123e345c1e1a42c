/**
 * Kernels split across a kernel worker thread (batch halves joined by concatenation, or summed
 * for filter gradients) against the stock cpu kernels. Tolerance as in kernels.test.ts.
 */
import * as tf from "@tensorflow/tfjs";
import "@tensorflow/tfjs-backend-wasm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { stockKernel } from "../src/kernels/context.ts";
import { kernelThreads, registerEngineKernels, startKernelWorkers, stopKernelWorkers } from "../src/kernels/index.ts";
import { setStealing, splitCount, workerChunkCount } from "../src/kernels/threads/index.ts";

const TOLERANCE = 1e-4;

function values(n: number, seed: number): Float32Array {
  const v = new Float32Array(n);
  let s = seed;
  for (let i = 0; i < n; i++) {
    s = (s * 1103515245 + 12345) % 2147483648;
    v[i] = (s / 2147483648) * 2 - 1;
  }
  return v;
}

async function run(backendName: string, kernel: string, inputs: Record<string, number[]>, attrs: Record<string, unknown>, stock: boolean) {
  await tf.setBackend(backendName);
  const tensors: Record<string, tf.Tensor> = {};
  let seed = 1;
  for (const [name, shape] of Object.entries(inputs)) tensors[name] = tf.tensor(values(tf.util.sizeFromShape(shape), seed++), shape);
  try {
    if (stock) {
      const backend = tf.backend();
      const out = (stockKernel(kernel, backendName) ?? tf.getKernel(kernel, backendName)!).kernelFunc({ inputs: tensors, attrs: attrs as tf.NamedAttrMap, backend }) as tf.TensorInfo;
      const result = { shape: out.shape, values: Float32Array.from(backend.readSync(out.dataId) as Float32Array) };
      backend.disposeData(out.dataId);
      return result;
    }
    const out = tf.engine().runKernel(kernel, tensors as tf.NamedTensorMap, attrs as tf.NamedAttrMap) as tf.Tensor;
    const result = { shape: out.shape, values: Float32Array.from(out.dataSync()) };
    out.dispose();
    return result;
  } finally {
    tf.dispose(Object.values(tensors));
  }
}

function relError(a: Float32Array, b: Float32Array): number {
  let scale = 1;
  let err = 0;
  for (let i = 0; i < b.length; i++) {
    scale = Math.max(scale, Math.abs(b[i]));
    err = Math.max(err, Math.abs(a[i] - b[i]));
  }
  return err / scale;
}

const conv = { strides: [1, 1], pad: "same", dataFormat: "NHWC", dilations: [1, 1] };
const cases: [string, string, Record<string, number[]>, Record<string, unknown>][] = [
  ["Conv2D", "odd batch", { x: [33, 16, 16, 8], filter: [3, 3, 8, 16] }, conv],
  ["FusedConv2D", "bias + relu", { x: [32, 16, 16, 8], filter: [3, 3, 8, 16], bias: [16] }, { ...conv, activation: "relu" }],
  ["Conv2DBackpropInput", "stride 1", { dy: [32, 16, 16, 16], filter: [3, 3, 8, 16] }, { ...conv, inputShape: [32, 16, 16, 8] }],
  ["Conv2DBackpropInput", "stride 2", { dy: [63, 8, 8, 64], filter: [3, 3, 32, 64] }, { ...conv, strides: [2, 2], inputShape: [63, 16, 16, 32] }],
  ["Conv2DBackpropFilter", "summed halves", { x: [32, 16, 16, 8], dy: [32, 16, 16, 16] }, { ...conv, filterShape: [3, 3, 8, 16] }],
  [
    "DepthwiseConv2dNativeBackpropFilter",
    "summed halves",
    { x: [32, 16, 16, 32], dy: [32, 16, 16, 32] },
    { strides: 1, pad: "same", dilations: 1, filterShape: [3, 3, 32, 1] },
  ],
  ["MaxPoolGrad", "3×3 s1", { dy: [32, 16, 16, 16], input: [32, 16, 16, 16], output: [32, 16, 16, 16] }, { filterSize: 3, strides: 1, pad: "same" }],
  ["AvgPoolGrad", "3×3 s1", { dy: [32, 16, 16, 16], input: [32, 16, 16, 16] }, { filterSize: 3, strides: 1, pad: "same" }],
];

beforeAll(async () => {
  await tf.setBackend("cpu");
  registerEngineKernels("cpu");
  await tf.setBackend("wasm");
  await tf.ready();
  registerEngineKernels("wasm");
  await startKernelWorkers(2);
});

afterAll(async () => {
  await stopKernelWorkers();
});

describe("kernels split over a worker thread", () => {
  it("a worker started", () => {
    expect(kernelThreads()).toBe(2);
  });

  it.each(cases)("%s %s", async (kernel, _name, inputs, attrs) => {
    const expected = await run("cpu", kernel, inputs, attrs, true);
    // Once with the worker computing its whole region, once with the caller free to take chunks.
    for (const steal of [false, true]) {
      setStealing(steal);
      const before = splitCount();
      const workerBefore = workerChunkCount();
      const actual = await run("wasm", kernel, inputs, attrs, false);
      expect(splitCount()).toBe(before + 1);
      if (!steal) expect(workerChunkCount()).toBeGreaterThan(workerBefore);
      expect(actual.shape).toEqual(expected.shape);
      expect(relError(actual.values, expected.values)).toBeLessThanOrEqual(TOLERANCE);
    }
    setStealing(true);
  });
});

describe("training with split kernels", () => {
  it("LeNet (relu/max) trains on wasm with a worker like on cpu", async () => {
    const { getModel } = await import("@trainyard/models");
    const batch = 64;
    const x = values(batch * 28 * 28, 7);
    const labels = Array.from({ length: batch }, (_, i) => (i * 7) % 10);
    let initial: { shape: number[]; values: Float32Array }[] | undefined;
    const train = async (backendName: string) => {
      await tf.setBackend(backendName);
      const model = getModel("lenet", { inputShape: [28, 28, 1], classes: 10, options: { activation: "relu", pooling: "max" } });
      if (!initial) initial = model.getWeights().map((w) => ({ shape: w.shape, values: Float32Array.from(w.dataSync()) }));
      model.setWeights(initial.map((w) => tf.tensor(w.values, w.shape)));
      model.compile({ optimizer: tf.train.sgd(0.1), loss: "categoricalCrossentropy" });
      const xs = tf.tensor(x, [batch, 28, 28, 1]);
      const ys = tf.oneHot(tf.tensor1d(labels, "int32"), 10).toFloat();
      for (let step = 0; step < 3; step++) await model.trainOnBatch(xs, ys);
      const weights = model.getWeights().map((w) => Float32Array.from(w.dataSync()));
      tf.dispose([xs, ys]);
      model.dispose();
      return weights;
    };
    const expected = await train("cpu");
    setStealing(false);
    const chunksBefore = workerChunkCount();
    const actual = await train("wasm");
    setStealing(true);
    expect(workerChunkCount()).toBeGreaterThan(chunksBefore);
    // Three SGD steps of float32 arithmetic in different orders.
    for (let i = 0; i < expected.length; i++) expect(relError(actual[i], expected[i])).toBeLessThanOrEqual(1e-3);
  });
});
