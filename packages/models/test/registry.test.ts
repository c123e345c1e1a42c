import * as tf from "@tensorflow/tfjs";
import { beforeAll, describe, expect, it } from "vitest";
import { checkBuildOptions, getModel, HEAD_PREFIX, listModels, ModelOptionError, UnknownModelError, type InputShape } from "../src/index.ts";

/**
 * Smallest height/width of each network. Where pooling is unpadded, the smallest input on which the notes'
 * PyTorch code runs (reference/shape_table.py prints it); where every pool is padded, any size runs and
 * the zoo asks for the total stride, 32, below which the last stages see mostly padding.
 */
const minimumInput: Record<string, number> = {
  lenet: 12,
  "lenet-bn": 16,
  alexnet: 63,
  vgg11: 32,
  vgg13: 32,
  vgg16: 32,
  vgg19: 32,
  nin: 67,
  googlenet: 32,
  resnet18: 32,
  resnet34: 32,
  resnet50: 32,
  "se-resnet18": 32,
  "resnet18-cbam": 32,
  densenet: 29,
  densenet121: 29,
  "mobilenet-v1": 32,
  "mobilenet-v2": 32,
  "shufflenet-v2": 32,
  "efficientnet-b0": 32,
};

/** Options that make each network cheap to build for the structural checks below. */
const lightOptions: Record<string, Record<string, unknown>> = {
  alexnet: { hiddenUnits: 8 },
  vgg11: { widthDivisor: 16, hiddenUnits: 8 },
  vgg13: { widthDivisor: 16, hiddenUnits: 8 },
  vgg16: { widthDivisor: 16, hiddenUnits: 8 },
  vgg19: { widthDivisor: 16, hiddenUnits: 8 },
  resnet34: { widthMultiplier: 0.25 },
  resnet50: { widthMultiplier: 0.25 },
  densenet121: { growthRate: 8 },
};

function build(name: string, inputShape: InputShape, classes: number): tf.LayersModel {
  // Glorot fills weights several times faster than He's truncated normal; nothing here depends on the values.
  return getModel(name, { inputShape, classes, options: lightOptions[name], initializer: "glorot" });
}

beforeAll(async () => {
  await tf.setBackend("cpu");
});

describe("registry", () => {
  it("lists every network of the zoo once", () => {
    expect(listModels().map(({ name }) => name).sort()).toEqual(Object.keys(minimumInput).sort());
  });

  it("rejects unknown names and unknown or invalid options before building", () => {
    const shape: InputShape = [32, 32, 1];
    expect(() => getModel("resnet19", { inputShape: shape, classes: 10 })).toThrow(UnknownModelError);
    expect(() => getModel("resnet18", { inputShape: shape, classes: 10, options: { preactivation: true } })).toThrow(/unknown option preactivation/);
    expect(() => getModel("shufflenet-v2", { inputShape: shape, classes: 10, options: { widthMultiplier: 0.75 } })).toThrow(ModelOptionError);
    expect(() => getModel("vgg11", { inputShape: shape, classes: 10, options: { widthDivisor: 2.5 } })).toThrow(/integer/);
    expect(() => getModel("lenet", { inputShape: [28, 28, 1], classes: 10, options: { activation: "gelu" } })).toThrow(/sigmoid, relu, tanh/);
  });

  it("checks every family's options without building", () => {
    for (const name of Object.keys(minimumInput)) {
      const check = (options: Record<string, unknown>) => () => checkBuildOptions(name, { inputShape: [224, 224, 3], classes: 10, options });
      expect(check(lightOptions[name] ?? {})).not.toThrow();
      expect(check({ depth: 3 })).toThrow(/unknown option depth/);
    }
    expect(() => checkBuildOptions("efficientnet-b0", { inputShape: [224, 224, 3], classes: 10, options: { dropout: 1.5 } })).toThrow(/at most/);
  });

  for (const [name, minimum] of Object.entries(minimumInput)) {
    it(`${name}: ${minimum - 1}×${minimum - 1} is too small, ${minimum}×${minimum} builds`, () => {
      const tooSmall = () => checkBuildOptions(name, { inputShape: [minimum - 1, minimum, 1], classes: 10 });
      expect(tooSmall).toThrow(ModelOptionError);
      expect(tooSmall).toThrow(`at least ${minimum}×${minimum}`);
      const model = build(name, [minimum, minimum, 1], 10);
      try {
        expect(model.outputs[0].shape).toEqual([null, 10]);
      } finally {
        model.dispose();
      }
    });
  }
});

describe("head convention", () => {
  for (const name of Object.keys(minimumInput)) {
    it(`${name}: the backbone hands one tensor to the ${HEAD_PREFIX}_* layers, which end in ${HEAD_PREFIX}_softmax`, () => {
      const model = build(name, [minimumInput[name], minimumInput[name], 1], 7);
      try {
        const names = model.layers.map((layer) => layer.name);
        const firstHead = names.findIndex((layerName) => layerName.startsWith(`${HEAD_PREFIX}_`));
        expect(firstHead).toBeGreaterThan(0);
        expect(names.slice(firstHead).every((layerName) => layerName.startsWith(`${HEAD_PREFIX}_`))).toBe(true);
        expect(names.at(-1)).toBe(`${HEAD_PREFIX}_softmax`);
        const feeding = new Set(
          model.layers
            .slice(firstHead)
            .flatMap((layer) => layer.inboundNodes.flatMap((node) => node.inboundLayers.map((inbound) => inbound.name)))
            .filter((inbound) => !inbound.startsWith(`${HEAD_PREFIX}_`)),
        );
        expect(feeding.size).toBe(1);
        expect(names.indexOf([...feeding][0])).toBe(firstHead - 1);
      } finally {
        model.dispose();
      }
    });
  }
});

describe("fine-tuning", () => {
  it("freezes everything before the head and trains a new head on the backbone's output", async () => {
    const model = getModel("mobilenet-v2", { inputShape: [32, 32, 3], classes: 10, options: { widthMultiplier: 0.35 } });
    const firstHead = model.layers.findIndex((layer) => layer.name.startsWith(`${HEAD_PREFIX}_`));
    const backbone = model.layers.slice(0, firstHead);
    for (const layer of backbone) layer.trainable = false;
    const features = backbone.at(-1)!.output as tf.SymbolicTensor;
    const logits = tf.layers.dense({ units: 4, name: `${HEAD_PREFIX}_fc` }).apply(features) as tf.SymbolicTensor;
    const probabilities = tf.layers.activation({ activation: "softmax", name: `${HEAD_PREFIX}_softmax` }).apply(logits) as tf.SymbolicTensor;
    const tuned = tf.model({ inputs: model.inputs, outputs: probabilities });
    tuned.compile({ optimizer: tf.train.sgd(0.1), loss: "categoricalCrossentropy" });
    // TF.js batch norm keeps updating its running statistics in training mode even when frozen, so compare learned weights only.
    const learned = backbone.flatMap((layer) => layer.weights.filter((weight) => !/moving_(mean|variance)$/.test(weight.originalName)));
    const frozen = learned.map((weight) => weight.read().clone());
    const images = tf.randomUniform([2, 32, 32, 3]);
    const labels = tf.oneHot(tf.tensor1d([1, 3], "int32"), 4);
    await tuned.trainOnBatch(images, labels);
    expect(tuned.trainableWeights.map((weight) => weight.originalName)).toEqual([`${HEAD_PREFIX}_fc/kernel`, `${HEAD_PREFIX}_fc/bias`]);
    expect(learned.every((weight, index) => tf.equal(weight.read(), frozen[index]).all().dataSync()[0] === 1)).toBe(true);
    tf.dispose([...frozen, images, labels]);
    model.dispose();
  });
});
