import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { initBackend, train } from "../src/index.ts";
import { loadBuiltinDataset } from "@trainyard/datasets";
import { ReplicaGroup, splitBatch } from "../src/replicas/group.ts";
import { shardBounds } from "../src/replicas/sharedBuffer.ts";
import { TrainingReplica } from "../src/training/replica.ts";
import { testJobSpec } from "./support/jobSpec.ts";
import { completed, maxRelativeDifference, quietHooks, sameStart, stepAndExpectInSync } from "./support/replicaComparison.ts";

const specOf = (input: Record<string, unknown>) => testJobSpec(input, { seed: 5 });

beforeAll(async () => {
  await initBackend("wasm", { kernelThreads: 1 });
});

describe("splitBatch", () => {
  it("splits as evenly as possible, larger parts first, never losing a sample", () => {
    expect(splitBatch(256, 2)).toEqual([128, 128]);
    expect(splitBatch(99, 2)).toEqual([50, 49]);
    expect(splitBatch(10, 3)).toEqual([4, 3, 3]);
    expect(splitBatch(1, 2)).toEqual([1, 0]);
  });
});

describe("shardBounds", () => {
  it("splits the tensors into contiguous runs of about equal size, every tensor in exactly one", () => {
    expect(shardBounds([10, 10, 10, 10], 2)).toEqual([0, 2, 4]);
    expect(shardBounds([1, 1, 1], 1)).toEqual([0, 3]);
    // One big tensor: it goes where it brings its shard closest to an equal share.
    expect(shardBounds([100, 1, 1, 1], 2)).toEqual([0, 1, 4]);
    expect(shardBounds([1, 1, 1, 100], 2)).toEqual([0, 3, 4]);
    // More shards than tensors: some shards are empty, none overlap.
    expect(shardBounds([5, 5], 3)).toEqual([0, 1, 1, 2]);
    // ResNet-like sizes: no shard holds more than its share plus the biggest tensor.
    const sizes = [9408, 64, 64, 36864, 64, 64, 36864, 64, 64, 73728, 128, 128, 147456, 2359296, 2359296, 1179648, 5120];
    const total = sizes.reduce((a, b) => a + b, 0);
    for (const shards of [2, 3, 4]) {
      const bounds = shardBounds(sizes, shards);
      expect(bounds[0]).toBe(0);
      expect(bounds[shards]).toBe(sizes.length);
      for (let k = 0; k < shards; k++) {
        expect(bounds[k + 1]).toBeGreaterThanOrEqual(bounds[k]);
        const size = sizes.slice(bounds[k], bounds[k + 1]).reduce((a, b) => a + b, 0);
        expect(size).toBeLessThanOrEqual(total / shards + Math.max(...sizes));
      }
    }
  });
});

describe("data-parallel training (wasm)", () => {
  // 1000 samples in batches of 99: nine steps of 50 + 49 and a last batch of 10 (5 + 5).
  // Tolerances: the same sums taken in another order, float32 rounding only, over ten steps.
  // SGD measured ≤ 1e-7. Adam divides by √v: where a weight's gradient sums to almost nothing,
  // rounding can flip the sign of m/√v, a difference of up to one step (lr = 0.002); measured
  // 4e-6 to 6e-5.
  // Three replicas (99 → 33 + 33 + 33) check that every shard sums every part.
  const cases: [string, Record<string, unknown>, number, number][] = [
    ["SGD with momentum", { type: "sgd", learningRate: 0.05, momentum: 0.9 }, 1e-5, 2],
    ["Adam with coupled weight decay", { type: "adam", learningRate: 0.002, weightDecay: 0.01 }, 1e-3, 2],
    ["AdamW (decoupled decay)", { type: "adamw", learningRate: 0.002, weightDecay: 0.05 }, 1e-3, 2],
    ["SGD with momentum", { type: "sgd", learningRate: 0.05, momentum: 0.9 }, 1e-5, 3],
  ];
  for (const [name, optimizer, tolerance, replicas] of cases) {
    it(`${replicas} replicas reach the weights one replica reaches: ${name}`, async () => {
      const spec = specOf({ training: { epochs: 1, batchSize: 99, maxTrainSamples: 1000, validationSplit: 0, optimizer } });
      const data = loadBuiltinDataset("synthetic-shapes");
      const start = await sameStart(spec, data.classes.length);
      const single = completed(await train(spec, data, quietHooks, start, { replicas: 1 }));
      const metrics: number[][] = [];
      const lines: string[] = [];
      const parallel = completed(
        await train(
          spec,
          data,
          {
            ...quietHooks,
            onEpoch: async (r) => void metrics.push([r.metrics.trainLoss, r.metrics.trainAccuracy]),
            onLog: (line) => void lines.push(line),
          },
          start,
          { replicas },
        ),
      );
      expect(await maxRelativeDifference(single.last, parallel.last)).toBeLessThan(tolerance);
      expect(parallel.result.testAccuracy).toBeCloseTo(single.result.testAccuracy, 3);
      expect(metrics).toHaveLength(1);
      const split = replicas === 2 ? "50 + 49" : "33 + 33 + 33";
      expect(lines).toEqual([`${replicas} data-parallel replicas (threads); each batch split ${split}`]);
      expect(Number.isFinite(metrics[0][0])).toBe(true);
    });
  }
});

describe("replica group", () => {
  let group: ReplicaGroup | null = null;
  let replica: TrainingReplica | null = null;
  afterAll(async () => {
    await group?.stop();
    replica?.dispose();
  });

  // Three replicas on two cores: slower, but every replica reduces a shard and sums the two others'.
  it.each([2, 3])("keeps every replica's weights, batch norm statistics included, bitwise equal: %i replicas", async (replicas) => {
    await group?.stop();
    replica?.dispose();
    const spec = specOf({
      architecture: "lenet-bn",
      training: { batchSize: 64, optimizer: { type: "sgd", learningRate: 0.1, momentum: 0.9 } },
    });
    replica = TrainingReplica.build(spec, 10, 0.1);
    group = await ReplicaGroup.start(replica, replicas, { spec, classes: 10, learningRate: 0.1, backend: "wasm" });
    expect(group.size).toBe(replicas);
    const movingMean = replica.statistics.find((s) => s.name.includes("moving_mean"))!;
    const before = movingMean.read().dataSync().slice();
    // Batches of 64, then a single image for replica 0 alone.
    await stepAndExpectInSync(group, [64, 64, 1]);
    const after = movingMean.read().dataSync();
    expect(after.some((v, i) => v !== before[i])).toBe(true);
  });
});
