import * as tf from "@tensorflow/tfjs";
import { beforeAll, describe, expect, it } from "vitest";
import { initBackend, train, type ExportedModel, type TrainerHooks, type TrainingCheckpoint } from "../src/index.ts";
import { loadBuiltinDataset } from "@trainyard/datasets";
import { decodeExportedWeights } from "../src/modelExport.ts";
import { testJobSpec } from "./support/jobSpec.ts";

const specOf = (input: Record<string, unknown>) => testJobSpec(input);

function hooks(overrides: Partial<TrainerHooks> = {}): TrainerHooks {
  return { onProgress: () => undefined, onEpoch: async () => undefined, stopRequested: () => null, ...overrides };
}

function weightsOf(model: ExportedModel): Record<string, Float32Array> {
  const named = decodeExportedWeights(model);
  const values = Object.fromEntries(Object.entries(named).map(([name, tensor]) => [name, tensor.dataSync() as Float32Array]));
  tf.dispose(Object.values(named));
  return values;
}

function maxDifference(a: Record<string, Float32Array>, b: Record<string, Float32Array>): number {
  let max = 0;
  for (const name of Object.keys(a)) {
    expect(b[name], name).toBeDefined();
    for (let i = 0; i < a[name].length; i += 1) max = Math.max(max, Math.abs(a[name][i] - b[name][i]));
  }
  return max;
}

const relu = { activation: "relu", pooling: "max" };
const dataset = () => loadBuiltinDataset("synthetic-shapes");

beforeAll(async () => {
  await initBackend("auto");
});

describe("early stopping", () => {
  it("stops after `patience` epochs without an improvement of minDelta, and keeps the best epoch's record", async () => {
    const spec = specOf({
      architectureOptions: relu,
      training: {
        epochs: 4,
        batchSize: 100,
        maxTrainSamples: 300,
        // No epoch can beat the first by a whole unit of accuracy: epochs 2 and 3 count towards patience 2.
        earlyStopping: { metric: "valAccuracy", patience: 2, minDelta: 1 },
        optimizer: { type: "sgd", learningRate: 0.05, momentum: 0.9 },
      },
    });
    const reports: { epoch: number; isBest: boolean; bestEpoch: number; without: number }[] = [];
    const outcome = await train(
      spec,
      dataset(),
      hooks({
        onEpoch: async ({ metrics, isBest, checkpoint }) =>
          void reports.push({ epoch: metrics.epoch, isBest, bestEpoch: checkpoint.bestEpoch, without: checkpoint.epochsWithoutImprovement }),
      }),
    );
    if (outcome.status !== "completed") throw new Error("the run must complete");
    expect(outcome.stoppedEarly).toBe(true);
    expect(outcome.result.bestEpoch).toBe(1);
    expect(reports).toEqual([
      { epoch: 1, isBest: true, bestEpoch: 1, without: 0 },
      { epoch: 2, isBest: false, bestEpoch: 1, without: 1 },
      { epoch: 3, isBest: false, bestEpoch: 1, without: 2 },
    ]);
  });
});

describe("resume", () => {
  const spec = specOf({
    architectureOptions: relu,
    training: { epochs: 2, batchSize: 100, maxTrainSamples: 1000, optimizer: { type: "sgd", learningRate: 0.05, momentum: 0.9 } },
  });

  it("continues from an epoch checkpoint to the same weights as an uninterrupted run", async () => {
    let afterEpoch1: TrainingCheckpoint | null = null;
    const uninterrupted = await train(
      spec,
      dataset(),
      hooks({ onEpoch: async (report) => void (report.metrics.epoch === 1 && (afterEpoch1 = report.checkpoint)) }),
    );
    expect(uninterrupted.status).toBe("completed");
    const resumed = await train(spec, dataset(), hooks(), { resumeFrom: { checkpoint: afterEpoch1!, best: afterEpoch1!.model } });
    if (uninterrupted.status !== "completed" || resumed.status !== "completed") throw new Error("both runs must complete");
    // Same data order (a function of seed and epoch), same optimizer state: same weights, to float rounding.
    expect(maxDifference(weightsOf(uninterrupted.last), weightsOf(resumed.last))).toBeLessThan(1e-5);
  });

  it("continues mid-epoch after a shutdown stop without redoing or skipping steps", async () => {
    let afterEpoch1: TrainingCheckpoint | null = null;
    const uninterrupted = await train(
      spec,
      dataset(),
      hooks({ onEpoch: async (report) => void (report.metrics.epoch === 1 && (afterEpoch1 = report.checkpoint)) }),
    );
    // From the same epoch-1 state: stop three steps into epoch 2, then resume from that step.
    let steps = 0;
    const stopped = await train(
      spec,
      dataset(),
      hooks({ onProgress: () => void (steps += 1), stopRequested: () => (steps === 3 ? "shutdown" : null) }),
      {
        resumeFrom: { checkpoint: afterEpoch1!, best: afterEpoch1!.model },
      },
    );
    if (stopped.status !== "stopped" || !stopped.checkpoint) throw new Error("a shutdown stop must carry a checkpoint");
    expect(stopped.checkpoint).toMatchObject({ epoch: 1, partial: { step: 3, seen: 300 } });
    const epochs: number[] = [];
    const resumed = await train(spec, dataset(), hooks({ onEpoch: async (report) => void epochs.push(report.metrics.epoch) }), {
      resumeFrom: { checkpoint: stopped.checkpoint, best: afterEpoch1!.model },
    });
    expect(epochs).toEqual([2]);
    if (uninterrupted.status !== "completed" || resumed.status !== "completed") throw new Error("both runs must complete");
    expect(maxDifference(weightsOf(uninterrupted.last), weightsOf(resumed.last))).toBeLessThan(1e-5);
  });
});

describe("fine-tuning", () => {
  it("keeps a frozen backbone exactly and trains a new head for a different class count", async () => {
    const source = await train(specOf({ architectureOptions: relu, training: { epochs: 1, maxTrainSamples: 800 } }), dataset(), hooks());
    if (source.status !== "completed") throw new Error("source must complete");
    const shapesWithTwoClasses = { ...dataset(), classes: ["square", "disc", "h", "v", "extra"] };
    const spec = specOf({
      architectureOptions: relu,
      training: { epochs: 1, maxTrainSamples: 800 },
      fineTune: { fromJobId: "job_source", checkpoint: "best", freeze: "backbone", headLearningRateMultiplier: 10 },
    });
    const tuned = await train(spec, shapesWithTwoClasses, hooks(), { fineTuneFrom: source.best });
    if (tuned.status !== "completed") throw new Error("fine-tune must complete");
    const before = weightsOf(source.best);
    const after = weightsOf(tuned.last);
    for (const name of Object.keys(before).filter((n) => !n.startsWith("head"))) {
      expect(maxDifference({ [name]: before[name] }, { [name]: after[name] }), name).toBe(0);
    }
    const headKernel = Object.keys(after).find((name) => name.startsWith("head_fc") && name.endsWith("kernel"))!;
    expect(after[headKernel].length).toBe(84 * 5);
  });

  it("fine-tunes from a model without the preprocessing layer (an import that had none), keeping the job's own normalization", async () => {
    const source = await train(specOf({ architectureOptions: relu, training: { epochs: 1, maxTrainSamples: 200 } }), dataset(), hooks());
    if (source.status !== "completed") throw new Error("source must complete");
    // The source's files with the preprocessing layer's weights taken out, as a network imported without one is.
    const specs = (source.best.modelJson.weightsManifest as Array<{ weights: Array<{ name: string; shape: number[] }> }>)[0]!.weights;
    const kept: typeof specs = [];
    const parts: Uint8Array[] = [];
    let offset = 0;
    for (const spec of specs) {
      const bytes = 4 * spec.shape.reduce((product, size) => product * size, 1);
      if (!spec.name.startsWith("preprocess_rescale/")) {
        kept.push(spec);
        parts.push(source.best.weights.subarray(offset, offset + bytes));
      }
      offset += bytes;
    }
    expect(kept.length).toBe(specs.length - 2);
    const withoutPreprocessing = {
      modelJson: { ...source.best.modelJson, weightsManifest: [{ paths: ["weights.bin"], weights: kept }] },
      weights: new Uint8Array(Buffer.concat(parts)),
    };
    const spec = specOf({
      architectureOptions: relu,
      training: { epochs: 1, maxTrainSamples: 200 },
      fineTune: { fromJobId: "job_source", checkpoint: "best", freeze: "backbone", headLearningRateMultiplier: 10 },
    });
    const tuned = await train(spec, dataset(), hooks(), { fineTuneFrom: withoutPreprocessing });
    if (tuned.status !== "completed") throw new Error("fine-tune must complete");
    const before = weightsOf(source.best);
    const after = weightsOf(tuned.last);
    expect(Object.keys(after).filter((name) => name.startsWith("preprocess_rescale/"))).toHaveLength(2);
    // The frozen backbone is the source's; the job's model still has its own preprocessing.
    const backbone = Object.keys(before).filter((name) => !name.startsWith("head") && !name.startsWith("preprocess_rescale/"));
    expect(backbone.length).toBeGreaterThan(4);
    expect(maxDifference(Object.fromEntries(backbone.map((name) => [name, before[name]!])), after)).toBe(0);
  });

  it("refuses a source model that does not fit the architecture", async () => {
    const source = await train(specOf({ architectureOptions: relu, training: { epochs: 1, maxTrainSamples: 200 } }), dataset(), hooks());
    if (source.status !== "completed") throw new Error("source must complete");
    const wider = specOf({
      architectureOptions: { ...relu, channels: [8, 16] },
      training: { epochs: 1, maxTrainSamples: 200 },
      fineTune: { fromJobId: "job_source", checkpoint: "best", freeze: "none", headLearningRateMultiplier: 1 },
    });
    await expect(train(wider, dataset(), hooks(), { fineTuneFrom: source.best })).rejects.toMatchObject({
      code: "INVALID_FINE_TUNE_SOURCE",
    });
  });
});
