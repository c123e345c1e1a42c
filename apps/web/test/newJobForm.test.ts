import { beforeAll, describe, expect, it } from "vitest";
import { loadBrowserModule } from "./browserModule.ts";

interface NewJobModule {
  specFromValues(values: Record<string, string>): Record<string, any>;
  fieldForPath<T extends { path: string }>(path: string, fields: T[]): T | null;
}
interface ChartModule {
  niceStep(span: number, count: number): number;
}

let form: NewJobModule;
let chart: ChartModule;
beforeAll(async () => {
  form = await loadBrowserModule<NewJobModule>("views/newJob.js");
  chart = await loadBrowserModule<ChartModule>("chart.js");
});

describe("the new-job form", () => {
  it("sends only what was filled in, so the API's defaults apply to the rest", () => {
    expect(
      form.specFromValues({
        architecture: "lenet",
        dataset: "name:fashion-mnist",
        epochs: "2",
        batchSize: "",
        optimizer: "adam",
        learningRate: "0.005",
        maxTrainSamples: "2000",
        tags: " a, ,b ",
      }),
    ).toEqual({
      architecture: "lenet",
      dataset: { name: "fashion-mnist" },
      training: { epochs: 2, maxTrainSamples: 2000, optimizer: { type: "adam", learningRate: 0.005 } },
      tags: ["a", "b"],
    });
    expect(form.specFromValues({ architecture: "resnet18", dataset: "id:ds:1", optimizer: "sgd", learningRate: "" })).toEqual({
      architecture: "resnet18",
      dataset: { id: "ds:1" },
      training: { optimizer: { type: "sgd" } },
    });
  });

  it("passes a value that is not a number on to the API, which names the field", () => {
    expect(form.specFromValues({ architecture: "lenet", dataset: "name:x", epochs: "0", batchSize: "1e" }).training).toEqual({
      epochs: 0,
      batchSize: "1e",
      optimizer: { type: "sgd" },
    });
  });

  it("puts each API error next to the field whose path it names or lies under", () => {
    const fields = ["architecture", "dataset", "training.epochs", "training.optimizer.type", "training.optimizer.learningRate", "tags"].map(
      (path) => ({ path }),
    );
    expect(form.fieldForPath("training.epochs", fields)?.path).toBe("training.epochs");
    expect(form.fieldForPath("dataset.name", fields)?.path).toBe("dataset");
    expect(form.fieldForPath("tags.1", fields)?.path).toBe("tags");
    expect(form.fieldForPath("training.optimizer.learningRate", fields)?.path).toBe("training.optimizer.learningRate");
    expect(form.fieldForPath("training.epochsX", fields)).toBeNull();
    expect(form.fieldForPath("training.seed", fields)).toBeNull();
    expect(form.fieldForPath("", fields)).toBeNull();
  });
});

describe("chart ticks", () => {
  it("steps by 1, 2 or 5 times a power of ten", () => {
    expect(chart.niceStep(1, 5)).toBeCloseTo(0.2);
    expect(chart.niceStep(2.3, 5)).toBeCloseTo(0.5);
    expect(chart.niceStep(10, 8)).toBe(2);
    expect(chart.niceStep(0, 5)).toBe(1);
  });
});
