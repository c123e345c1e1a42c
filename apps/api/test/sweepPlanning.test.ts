import { describe, expect, it } from "vitest";
import { ashaDecisions, keptAtRung, rungEpochs, type AshaRule, type AshaTrial } from "../src/services/sweeps/asha.ts";
import { applyParams, enumerateGrid, enumerateTrials, sampleRandom } from "../src/services/sweeps/searchSpace.ts";
import { sweepSpecSchema } from "../src/services/sweeps/sweepSpec.ts";

describe("grid search", () => {
  it("enumerates every combination exactly once, the last parameter varying fastest", () => {
    const trials = enumerateGrid({
      "training.batchSize": { values: [64, 128] },
      "architectureOptions.activation": { values: ["relu", "sigmoid", "tanh"] },
    });
    expect(trials).toEqual([
      { "training.batchSize": 64, "architectureOptions.activation": "relu" },
      { "training.batchSize": 64, "architectureOptions.activation": "sigmoid" },
      { "training.batchSize": 64, "architectureOptions.activation": "tanh" },
      { "training.batchSize": 128, "architectureOptions.activation": "relu" },
      { "training.batchSize": 128, "architectureOptions.activation": "sigmoid" },
      { "training.batchSize": 128, "architectureOptions.activation": "tanh" },
    ]);
  });

  it("is refused with uniform, logUniform or intUniform parameters, and past 500 combinations", () => {
    const base = { name: "g", base: {}, search: { type: "grid" }, objective: { metric: "valAccuracy", goal: "maximize" } };
    for (const domain of [{ uniform: [0, 1] }, { logUniform: [0.001, 1] }, { intUniform: [1, 4] }]) {
      const parsed = sweepSpecSchema.safeParse({ ...base, parameters: { "training.epochs": { values: [1] }, "x.y": domain } });
      expect(parsed.success).toBe(false);
      expect(parsed.error!.issues.map((issue) => issue.path.join("."))).toEqual(["parameters.x.y"]);
    }
    const big = { a: { values: Array.from({ length: 30 }, (_, i) => i) }, b: { values: Array.from({ length: 17 }, (_, i) => i) } };
    expect(sweepSpecSchema.safeParse({ ...base, parameters: big }).success).toBe(false);
  });
});

describe("random search", () => {
  const parameters = {
    "training.optimizer.learningRate": { logUniform: [0.001, 1] as [number, number] },
    "training.optimizer.momentum": { uniform: [0.5, 0.9] as [number, number] },
    "training.batchSize": { values: [32, 64, 128] },
    "architectureOptions.width": { intUniform: [2, 5] as [number, number] },
  };

  it("draws the same trials from the same seed and different ones from another, each within its domain", () => {
    const first = sampleRandom(parameters, 40, 7);
    expect(sampleRandom(parameters, 40, 7)).toEqual(first);
    expect(enumerateTrials(parameters, { type: "random", trials: 40, seed: 7 })).toEqual(first);
    expect(sampleRandom(parameters, 40, 8)).not.toEqual(first);
    // A trial depends on its index and the seed only: asking for fewer gives the same first ones.
    expect(sampleRandom(parameters, 5, 7)).toEqual(first.slice(0, 5));
    for (const trial of first) {
      const rate = trial["training.optimizer.learningRate"] as number;
      expect(rate).toBeGreaterThanOrEqual(0.001);
      expect(rate).toBeLessThanOrEqual(1);
      expect(trial["training.optimizer.momentum"]).toBeGreaterThanOrEqual(0.5);
      expect(trial["training.optimizer.momentum"]).toBeLessThanOrEqual(0.9);
      expect([32, 64, 128]).toContain(trial["training.batchSize"]);
      expect([2, 3, 4, 5]).toContain(trial["architectureOptions.width"]);
    }
    // Log-uniform: about as many draws below 0.0316 (the log midpoint) as above.
    const below = first.filter((trial) => (trial["training.optimizer.learningRate"] as number) < Math.sqrt(0.001)).length;
    expect(below).toBeGreaterThan(8);
    expect(below).toBeLessThan(32);
    expect(new Set(first.map((trial) => trial["architectureOptions.width"])).size).toBe(4);
  });

  it("sets dotted paths in a copy of the base spec", () => {
    const base = { architecture: "lenet", training: { epochs: 2, optimizer: { type: "adam" } } };
    const spec = applyParams(base, { "training.optimizer.learningRate": 0.01, "architectureOptions.activation": "relu" });
    expect(spec).toEqual({
      architecture: "lenet",
      training: { epochs: 2, optimizer: { type: "adam", learningRate: 0.01 } },
      architectureOptions: { activation: "relu" },
    });
    expect(base.training.optimizer).toEqual({ type: "adam" });
    expect(() => applyParams(base, { "architecture.width": 3 })).toThrow(/architecture is not an object/);
    expect(() => applyParams(base, { "__proto__.polluted": true })).toThrow(/not a job spec field/);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(sweepSpecSchema.safeParse({ name: "p", base, parameters: { "training.constructor": { values: [1] } }, search: { type: "grid" }, objective: { metric: "valLoss", goal: "minimize" } }).success).toBe(false);
  });
});

describe("ASHA", () => {
  const rule: AshaRule = { minEpochs: 1, reductionFactor: 3, goal: "maximize" };
  const trial = (index: number, values: number[], rungsPassed = 0, epochs = 9): AshaTrial => ({
    index,
    values,
    rungsPassed,
    epochs,
    active: true,
  });

  it("puts rungs at minEpochs·η^k below the last epoch", () => {
    expect(rungEpochs({ minEpochs: 1, reductionFactor: 3 }, 10)).toEqual([1, 3, 9]);
    expect(rungEpochs({ minEpochs: 2, reductionFactor: 2 }, 8)).toEqual([2, 4]);
    expect(rungEpochs({ minEpochs: 1, reductionFactor: 2 }, 1)).toEqual([]);
  });

  it("keeps the top max(1, ⌊n/η⌋) of the values recorded at a rung", () => {
    expect(keptAtRung(rule, 0.5, [0.5])).toBe(true);
    expect(keptAtRung(rule, 0.4, [0.5, 0.4])).toBe(false);
    expect(keptAtRung(rule, 0.6, [0.5, 0.4, 0.6])).toBe(true);
    expect(keptAtRung(rule, 0.5, [0.5, 0.4, 0.6, 0.1, 0.2, 0.3])).toBe(true);
    expect(keptAtRung(rule, 0.4, [0.5, 0.4, 0.6, 0.1, 0.2, 0.3])).toBe(false);
    expect(keptAtRung({ ...rule, goal: "minimize" }, 0.1, [0.5, 0.4, 0.1])).toBe(true);
    expect(keptAtRung({ ...rule, goal: "minimize" }, 0.4, [0.5, 0.4, 0.1])).toBe(false);
  });

  it("does not prune a trial that has already recorded its last epoch when it is judged", () => {
    // Trial 1 is below trial 0 at rung 1, but the planner judges it only after both of its 2 epochs are in.
    expect(ashaDecisions(rule, [trial(0, [0.5, 0.55], 1, 2), trial(1, [0.4, 0.45], 0, 2)])).toEqual([
      { index: 1, rungsPassed: 1, prune: false },
    ]);
    // One epoch short of its last, the same trial is pruned.
    expect(ashaDecisions(rule, [trial(0, [0.5, 0.55], 1, 3), trial(1, [0.4, 0.45], 0, 3)])).toEqual([
      { index: 1, rungsPassed: 0, prune: true },
    ]);
  });

  it("prunes what the rule says as a scripted sequence of epochs lands", () => {
    // Epoch 1 of trial 0 arrives alone: kept at rung 1.
    expect(ashaDecisions(rule, [trial(0, [0.5])])).toEqual([{ index: 0, rungsPassed: 1, prune: false }]);
    // Trial 1 reaches rung 1 below trial 0: of 2 values only the best is kept.
    expect(ashaDecisions(rule, [trial(0, [0.5, 0.55], 1), trial(1, [0.4])])).toEqual([{ index: 1, rungsPassed: 0, prune: true }]);
    // Trial 2 beats both at rung 1.
    const third = [trial(0, [0.5, 0.55], 1), { ...trial(1, [0.4]), active: false }, trial(2, [0.7])];
    expect(ashaDecisions(rule, third)).toEqual([{ index: 2, rungsPassed: 1, prune: false }]);
    // At rung 3 trial 0 arrives first (kept), then trial 2 below it is pruned though it passed rung 1.
    expect(ashaDecisions(rule, [trial(0, [0.5, 0.55, 0.6], 1), trial(2, [0.7, 0.5], 1)])).toEqual([
      { index: 0, rungsPassed: 2, prune: false },
    ]);
    expect(ashaDecisions(rule, [trial(0, [0.5, 0.55, 0.6, 0.61], 2), trial(2, [0.7, 0.5, 0.58], 1)])).toEqual([
      { index: 2, rungsPassed: 1, prune: true },
    ]);
  });

  it("judges a trial once per rung, never finished trials, and not at a rung at its last epoch", () => {
    expect(ashaDecisions(rule, [trial(0, [0.9], 1), trial(1, [0.1], 1)])).toEqual([]);
    expect(ashaDecisions(rule, [trial(0, [0.9]), { ...trial(1, [0.1]), active: false }])).toEqual([
      { index: 0, rungsPassed: 1, prune: false },
    ]);
    expect(ashaDecisions(rule, [trial(0, [0.9], 0, 1), trial(1, [0.1], 0, 1)])).toEqual([]);
  });
});
