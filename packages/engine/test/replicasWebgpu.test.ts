/**
 * Data-parallel replicas on WebGPU adapters: one job on several GPUs. Here (CI, development
 * machines) Dawn has one adapter, Mesa's software llvmpipe, so both replicas share it; each
 * replica thread still starts its own Dawn instance and device on the adapter it is given, as it
 * would on its own GPU. llvmpipe compiles every shader on first use (seconds per process or
 * thread), so the network is the small LeNet and the runs are a few steps.
 */
import * as tf from "@tensorflow/tfjs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { initBackend, train } from "../src/index.ts";
import { loadBuiltinDataset } from "@trainyard/datasets";
import { releaseWebGpu } from "../src/backend/webgpu.ts";
import { ReplicaGroup } from "../src/replicas/group.ts";
import { TrainingReplica } from "../src/training/replica.ts";
import { testJobSpec } from "./support/jobSpec.ts";
import { completed, maxRelativeDifference, quietHooks, sameStart, stepAndExpectInSync } from "./support/replicaComparison.ts";

/** Dawn's adapter option matches a part of the adapter's name. */
const ADAPTER = "llvmpipe";

beforeAll(async () => {
  const info = await initBackend("webgpu", { env: { TRAINYARD_WEBGPU_ADAPTER: ADAPTER } });
  expect(info.adapter).toMatch(/llvmpipe/);
});

afterAll(() => {
  // A process holding Dawn does not exit.
  releaseWebGpu();
});

describe("data-parallel training on WebGPU adapters", () => {
  // 70 samples in batches of 32: steps of 16 + 16, 16 + 16 and 3 + 3. SGD with momentum, the
  // same sums taken in another order on the GPU: float32 rounding only. Measured: see docs/engine.md.
  it("2 replicas on two adapters reach the weights one replica reaches", { timeout: 240_000 }, async () => {
    const spec = testJobSpec(
      {
        training: {
          epochs: 1,
          batchSize: 32,
          maxTrainSamples: 70,
          validationSplit: 0,
          optimizer: { type: "sgd", learningRate: 0.05, momentum: 0.9 },
        },
      },
      { seed: 5 },
    );
    const data = loadBuiltinDataset("synthetic-shapes");
    // The test split is evaluated at the end of each run: a few images are enough here.
    const small = {
      ...data,
      test: { images: data.test.images.subarray(0, 64 * 784), labels: data.test.labels.subarray(0, 64), count: 64 },
    };
    const start = await sameStart(spec, data.classes.length);
    const single = completed(await train(spec, small, quietHooks, start, { adapters: [ADAPTER] }));
    const lines: string[] = [];
    const parallel = completed(
      await train(spec, small, { ...quietHooks, onLog: (line) => void lines.push(line) }, start, { adapters: [ADAPTER, ADAPTER] }),
    );
    expect(lines).toEqual([`2 data-parallel replicas (webgpu threads on adapters ${ADAPTER}, ${ADAPTER}); each batch split 16 + 16`]);
    const difference = await maxRelativeDifference(single.last, parallel.last);
    console.log(`webgpu replicas: max relative weight difference 2 vs 1 replica: ${difference.toExponential(2)}`);
    expect(difference).toBeLessThan(1e-5);
    // And training moved the weights by much more than that.
    expect(await maxRelativeDifference(start.resumeFrom!.checkpoint.model, single.last)).toBeGreaterThan(1e-3);
    expect(parallel.result.testAccuracy).toBeCloseTo(single.result.testAccuracy, 3);
  });

  describe("replica group", () => {
    let group: ReplicaGroup | null = null;
    let replica: TrainingReplica | null = null;
    afterAll(async () => {
      await group?.stop();
      replica?.dispose();
    });

    it("starts a replica's Dawn with its slot's Vulkan variables, then restores the environment", async () => {
      const spec = testJobSpec({ training: { batchSize: 16 } }, { seed: 5 });
      const own = TrainingReplica.build(spec, 10, 0.1);
      try {
        // The Vulkan loader of replica 1's thread finds no driver: proof that the variable reached it.
        const start = ReplicaGroup.start(own, 2, {
          spec,
          classes: 10,
          learningRate: 0.1,
          backend: "webgpu",
          adapters: [ADAPTER, ADAPTER],
          adapterEnv: [{}, { VK_ICD_FILENAMES: "/nonexistent/icd.json" }],
        });
        await expect(start).rejects.toThrow(/replica 1 failed: .*(no adapter|no WebGPU adapter)/s);
        expect(process.env.VK_ICD_FILENAMES).toBeUndefined();
        // This thread's own device is untouched.
        const x = tf.ones([2, 2]);
        const doubled = x.add(x);
        expect(Array.from(await doubled.data())).toEqual([2, 2, 2, 2]);
        tf.dispose([x, doubled]);
      } finally {
        own.dispose();
      }
    });

    it("keeps both replicas' weights, batch norm statistics included, bitwise equal", { timeout: 240_000 }, async () => {
      const spec = testJobSpec(
        { architecture: "lenet-bn", training: { batchSize: 16, optimizer: { type: "sgd", learningRate: 0.1, momentum: 0.9 } } },
        { seed: 5 },
      );
      replica = TrainingReplica.build(spec, 10, 0.1);
      // Mesa's device-select layer picks llvmpipe (vendor 0x10005, device 0) for replica 1, as
      // DRI_PRIME picks one of several same-named GPUs.
      group = await ReplicaGroup.start(replica, 2, {
        spec,
        classes: 10,
        learningRate: 0.1,
        backend: "webgpu",
        adapters: [ADAPTER, ADAPTER],
        adapterEnv: [{}, { MESA_VK_DEVICE_SELECT: "10005:0" }],
      });
      expect(process.env.MESA_VK_DEVICE_SELECT).toBeUndefined();
      const movingMean = replica.statistics.find((s) => s.name.includes("moving_mean"))!;
      const before = await movingMean.read().data();
      // Two batches of 16, then a single image for replica 0 alone.
      await stepAndExpectInSync(group, [16, 16, 1]);
      const after = await movingMean.read().data();
      expect(after.some((v, i) => v !== before[i])).toBe(true);
    });
  });
});
