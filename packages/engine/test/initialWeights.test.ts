import * as tf from "@tensorflow/tfjs";
import { beforeAll, describe, expect, it } from "vitest";
import { initBackend } from "../src/backend/index.ts";
import { TrainingReplica } from "../src/training/replica.ts";
import { testJobSpec } from "./support/jobSpec.ts";

beforeAll(async () => {
  await initBackend("wasm", { kernelThreads: 1 });
});

async function initialWeights(seed: number, architecture = "lenet"): Promise<Float32Array[]> {
  const replica = TrainingReplica.build(testJobSpec({ architecture, training: { seed } }), 10, 0.1);
  const values = await Promise.all(replica.model.getWeights().map(async (w) => (await w.data()) as Float32Array));
  replica.dispose();
  return values;
}

describe("initial weights", () => {
  it("are a function of the job's seed, whatever else drew random numbers before (so runs repeat across processes)", async () => {
    const first = await initialWeights(11);
    // Other code in the process drawing from Math.random, as another job or library would.
    for (let i = 0; i < 17; i += 1) Math.random();
    tf.randomNormal([3]).dispose();
    const again = await initialWeights(11);
    expect(again.length).toBe(first.length);
    for (let i = 0; i < first.length; i += 1) expect(Array.from(again[i])).toEqual(Array.from(first[i]));
    const other = await initialWeights(12);
    expect(Array.from(other[0])).not.toEqual(Array.from(first[0]));
  });

  it("leave Math.random as it was, also when the network cannot be built", async () => {
    const random = Math.random;
    await initialWeights(3);
    expect(Math.random).toBe(random);
    // ResNet-18 needs at least 32×32; the spec's input is 28×28.
    await expect(initialWeights(3, "resnet18")).rejects.toThrow(/at least 32×32/);
    expect(Math.random).toBe(random);
  });
});
