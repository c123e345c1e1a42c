import * as tf from "@tensorflow/tfjs";
import { beforeAll, describe, expect, it } from "vitest";
import { getModel, listModels, type InputShape } from "../src/index.ts";
import { useFastConvFilterGradient, useStockConvFilterGradient } from "./support/convFilterGradient.ts";

/** Small inputs and widths so that one SGD step of every network fits in seconds on the cpu backend. */
const trainingCases: Array<[string, InputShape, Record<string, unknown>?]> = [
  ["lenet", [28, 28, 1]],
  ["lenet-bn", [16, 16, 1]],
  ["alexnet", [63, 63, 1], { hiddenUnits: 32 }],
  ["vgg11", [32, 32, 1], { widthDivisor: 16, hiddenUnits: 32 }],
  ["vgg13", [32, 32, 1], { widthDivisor: 16, hiddenUnits: 32 }],
  ["vgg16", [32, 32, 1], { widthDivisor: 16, hiddenUnits: 32 }],
  ["vgg19", [32, 32, 1], { widthDivisor: 16, hiddenUnits: 32 }],
  ["nin", [67, 67, 1]],
  ["googlenet", [32, 32, 1]],
  ["resnet18", [32, 32, 1]],
  ["resnet18", [32, 32, 1], { preActivation: true, widthMultiplier: 0.5 }],
  ["resnet34", [32, 32, 1], { widthMultiplier: 0.25 }],
  ["resnet50", [32, 32, 1], { widthMultiplier: 0.25 }],
  ["se-resnet18", [32, 32, 3], { widthMultiplier: 0.5 }],
  ["resnet18-cbam", [32, 32, 3], { widthMultiplier: 0.5 }],
  ["densenet", [29, 29, 1]],
  ["densenet121", [32, 32, 1], { growthRate: 8 }],
  ["mobilenet-v1", [32, 32, 3], { widthMultiplier: 0.25 }],
  ["mobilenet-v2", [32, 32, 3], { widthMultiplier: 0.35 }],
  ["shufflenet-v2", [32, 32, 3], { widthMultiplier: 0.5 }],
  ["efficientnet-b0", [32, 32, 3], { widthMultiplier: 0.25, depthMultiplier: 0.5 }],
];

const classes = 3;

async function roundTrip(model: tf.LayersModel): Promise<tf.LayersModel> {
  let saved: tf.io.ModelArtifacts | undefined;
  await model.save(
    tf.io.withSaveHandler(async (artifacts) => {
      saved = artifacts;
      return { modelArtifactsInfo: tf.io.getModelArtifactsInfoForJSON(artifacts) };
    }),
  );
  return tf.loadLayersModel(tf.io.fromMemory(saved!));
}

/** Bytes of every weight, so that equality is bit for bit (NaN included) and cheap for millions of values. */
function weightBytes(model: tf.LayersModel): Array<[string, Buffer]> {
  return model.weights.map((weight) => [weight.originalName, bytes(weight.read())]);
}

function bytes(tensor: tf.Tensor): Buffer {
  const values = tensor.dataSync() as Float32Array;
  return Buffer.from(values.buffer, values.byteOffset, values.byteLength);
}

beforeAll(async () => {
  await tf.setBackend("cpu");
  useFastConvFilterGradient();
});

describe("the test's conv filter gradient", () => {
  type Shape4D = [number, number, number, number];
  const cases: Array<[string, Shape4D, Shape4D, number, "same" | "valid"]> = [
    ["3×3 same", [2, 7, 7, 3], [3, 3, 3, 5], 1, "same"],
    ["3×3 stride 2 valid", [2, 9, 8, 4], [3, 3, 4, 6], 2, "valid"],
    ["1×1 stride 2", [1, 6, 6, 8], [1, 1, 8, 4], 2, "valid"],
    ["5×5 stride 2 same", [2, 10, 10, 2], [5, 5, 2, 3], 2, "same"],
  ];
  for (const [label, xShape, filterShape, strides, pad] of cases) {
    it(`matches the stock kernel: ${label}`, () => {
      const x = tf.randomNormal(xShape);
      const filter = tf.randomNormal(filterShape);
      const gradient = tf.grad((f) =>
        tf
          .conv2d(x as tf.Tensor4D, f as tf.Tensor4D, strides, pad)
          .square()
          .sum(),
      );
      const fast = gradient(filter);
      useStockConvFilterGradient();
      const reference = gradient(filter);
      useFastConvFilterGradient();
      expect(tf.max(tf.abs(tf.sub(fast, reference))).dataSync()[0]).toBeLessThan(1e-3);
      tf.dispose([x, filter, fast, reference]);
    });
  }
});

describe("every network", () => {
  it("has a training case", () => {
    const covered = new Set(trainingCases.map(([name]) => name));
    expect(
      listModels()
        .map(({ name }) => name)
        .filter((name) => !covered.has(name)),
    ).toEqual([]);
  });

  for (const [name, inputShape, options] of trainingCases) {
    it(`${name} ${options ? JSON.stringify(options) : ""} trains one step and survives save/load`, async () => {
      const inputScaling = { scale: [1 / 255], offset: [-0.5] };
      const images = tf.randomUniform([2, ...inputShape], 0, 255);
      const labels = tf.oneHot(tf.tensor1d([0, 2], "int32"), classes);
      // A network whose last layer before pooling is a ReLU (NiN, as the notes write it) can start with
      // every output dead on two random images: no gradient at all. That is the draw of the
      // initialization, not a broken graph, so a fresh initialization gets up to four more tries.
      let model = getModel(name, { inputShape, classes, options, inputScaling });
      let moved: boolean[] = [];
      for (let attempt = 1; attempt <= 5; attempt += 1) {
        if (attempt > 1) {
          model.dispose();
          model = getModel(name, { inputShape, classes, options, inputScaling });
        }
        model.compile({ optimizer: tf.train.sgd(0.01), loss: "categoricalCrossentropy" });
        const logits = model.getLayer("head_softmax").input as tf.SymbolicTensor;
        expect(logits.shape).toEqual([null, classes]);
        // The first weight (the stem's kernel) and the last (the head's bias) must both move: the gradient crossed every layer.
        const watched = [model.trainableWeights[0], model.trainableWeights.at(-1)!];
        const before = watched.map((weight) => weight.read().clone());
        const loss = (await model.trainOnBatch(images, labels)) as number;
        expect(Number.isFinite(loss)).toBe(true);
        moved = watched.map((weight, index) => tf.tidy(() => tf.any(tf.notEqual(weight.read(), before[index])).dataSync()[0] === 1));
        tf.dispose(before);
        if (moved.every(Boolean)) break;
      }
      try {
        expect(moved).toEqual([true, true]);

        const loaded = await roundTrip(model);
        try {
          expect(loaded.layers.map((layer) => layer.name)).toEqual(model.layers.map((layer) => layer.name));
          const original = weightBytes(model);
          const restored = weightBytes(loaded);
          expect(restored.map(([name]) => name)).toEqual(original.map(([name]) => name));
          expect(restored.every(([, values], index) => values.equals(original[index][1]))).toBe(true);
          // Bit-equal outputs. After one step on two images a deep net's inference output may be NaN (its
          // batch-norm running statistics have hardly moved from 0 and 1); then both must be NaN alike.
          const [expected, actual] = [model, loaded].map((m) => tf.tidy(() => bytes(m.predict(images) as tf.Tensor)));
          expect(actual.equals(expected)).toBe(true);
        } finally {
          loaded.dispose();
        }
      } finally {
        tf.dispose([images, labels]);
        model.dispose();
      }
    });
  }
});
