import { describe, expect, it } from "vitest";
import { describeModel, getModel, getModelDefinition, listModels, ModelOptionError } from "../src/index.ts";

/** What a built model says of itself, in describeModel's terms. */
function builtSummary(name: string, options: Parameters<typeof getModel>[1]) {
  const model = getModel(name, options);
  const count = (weights: { shape: (number | null)[] }[]) =>
    weights.reduce((sum, weight) => sum + weight.shape.reduce<number>((a, b) => a * (b ?? 1), 1), 0);
  const summary = {
    trainableParams: count(model.trainableWeights),
    totalParams: model.countParams(),
    layers: model.layers.map((layer) => ({
      className: layer.getClassName(),
      outputShape: ((Array.isArray(layer.outputShape[0]) ? layer.outputShape[0] : layer.outputShape) as (number | null)[]).slice(1),
      params: layer.countParams(),
    })),
  };
  model.dispose();
  return summary;
}

describe("describeModel", () => {
  it.each(listModels().map(({ name }) => name))("matches the built %s (layers, shapes, parameters) without building weights", (name) => {
    const size = Math.max(getModelDefinition(name).minInputSize, 32);
    const options = {
      inputShape: [size, size, 3] as [number, number, 3],
      classes: 3,
      inputScaling: { scale: [1 / 255], offset: [0] },
    };
    const described = describeModel(name, options);
    expect({
      trainableParams: described.trainableParams,
      totalParams: described.totalParams,
      layers: described.layers.map(({ className, outputShape, params }) => ({ className, outputShape, params })),
    }).toEqual(builtSummary(name, options));
    expect(described.activationFloatsPerSample).toBeGreaterThan(size * size * 3);
  });

  it("describes AlexNet with 100 000 classes (468 M parameters) at once and without the memory", () => {
    const before = process.memoryUsage();
    const started = Date.now();
    const summary = describeModel("alexnet", { inputShape: [224, 224, 3], classes: 100_000 });
    expect(Date.now() - started).toBeLessThan(1000);
    expect(summary.totalParams).toBe(467_981_344);
    expect(summary.layers.findLast((layer) => layer.params > 0)).toMatchObject({ outputShape: [100_000], params: 409_700_000 });
    const after = process.memoryUsage();
    expect(after.rss + after.arrayBuffers - before.rss - before.arrayBuffers).toBeLessThan(200 * 1024 * 1024);
  });

  it("describes an input of 100000×100000 without a RangeError, and refuses options as getModel does", () => {
    expect(describeModel("lenet", { inputShape: [100_000, 100_000, 1], classes: 10 }).activationFloatsPerSample).toBeGreaterThan(1e10);
    expect(() => describeModel("lenet", { inputShape: [4, 4, 1], classes: 10 })).toThrow(ModelOptionError);
  });
});
