import * as tf from "@tensorflow/tfjs";
import type { JobSpec } from "@trainyard/shared";
import { beforeAll, describe, expect, it } from "vitest";
import { initBackend } from "../src/backend/index.ts";
import { batchRanges } from "../src/data/batches.ts";
import { batchSource, type BatchSource } from "../src/data/batchSource.ts";
import { loadBuiltinDataset } from "@trainyard/datasets";
import { shuffledIndices } from "../src/data/random.ts";
import { makeSplits } from "../src/data/splits.ts";
import { testJobSpec } from "./support/jobSpec.ts";

beforeAll(async () => {
  await initBackend("wasm", { kernelThreads: 1 });
});

function specOf(augmentation: Record<string, unknown>): JobSpec {
  return testJobSpec(
    { training: { batchSize: 40, maxTrainSamples: 400, seed: 9 }, augmentation },
    { inputShape: [32, 32, 1], learningRate: 0.1 },
  );
}

async function take(source: BatchSource, epoch: number, steps: Uint32Array[], firstStep: number, count: number) {
  source.startEpoch(epoch, steps, firstStep);
  const batches: { x: Float32Array; y: Float32Array; shape: number[] }[] = [];
  for (let i = 0; i < count; i++) {
    const { x, y } = await source.next();
    batches.push({ x: x.dataSync() as Float32Array, y: y.dataSync() as Float32Array, shape: x.shape });
    tf.dispose([x, y]);
  }
  return batches;
}

describe("batch sources", () => {
  it("a loader thread makes exactly the batches the trainer's thread makes, resumed epochs included", async () => {
    const spec = specOf({ horizontalFlip: true, randomResizedCrop: { scale: [0.2, 1] }, colorJitter: { brightness: 0.4, contrast: 0.4 } });
    const data = loadBuiltinDataset("synthetic-shapes");
    const split = makeSplits(data, spec.training).train;
    const shape = { imageShape: data.imageShape, inputShape: spec.inputShape, classes: data.classes.length };
    const inline = await batchSource(data, split, spec, shape, undefined, { prefetch: false });
    const lines: string[] = [];
    const loader = await batchSource(data, split, spec, shape, (line) => lines.push(line), { prefetch: true });
    try {
      for (const [epoch, firstStep] of [
        [1, 0],
        [2, 3],
      ]) {
        const steps = [...batchRanges(shuffledIndices(split.indices.length, epoch), 40)];
        const expected = await take(inline, epoch, steps, firstStep, 4);
        const actual = await take(loader, epoch, steps, firstStep, 4);
        expect(actual.map((b) => b.shape)).toEqual(expected.map((b) => b.shape));
        expect(expected[0].shape).toEqual([40, 32, 32, 1]);
        for (let i = 0; i < expected.length; i++) {
          expect(actual[i].x).toEqual(expected[i].x);
          expect(actual[i].y).toEqual(expected[i].y);
        }
        // Consecutive batches differ (the source moves on), and augmentation changed the pixels.
        expect(actual[1].x).not.toEqual(actual[0].x);
      }
      expect(lines).toEqual(["batches made one step ahead on a loader thread (augmentation off the training thread)"]);
    } finally {
      await Promise.all([inline.stop(), loader.stop()]);
    }
  });

  it("without augmentation makes batches on the trainer's thread", async () => {
    const spec = specOf({});
    const data = loadBuiltinDataset("synthetic-shapes");
    const split = makeSplits(data, spec.training).train;
    const shape = { imageShape: data.imageShape, inputShape: spec.inputShape, classes: data.classes.length };
    const source = await batchSource(data, split, spec, shape);
    expect(source.constructor.name).toBe("InlineBatches");
    await source.stop();
  });
});
