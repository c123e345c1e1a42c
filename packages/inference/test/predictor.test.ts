import { afterAll, describe, expect, it } from "vitest";
import { createModelCache, createPredictor, PredictionInputError, topK } from "../src/index.ts";
import { predictDirectly, randomLenet } from "./lenet.ts";

function randomPixels(count: number, size: number): Float32Array {
  return Float32Array.from({ length: count * size }, () => Math.floor(Math.random() * 256));
}

describe("topK", () => {
  it("keeps the k largest of each row, largest first, ties by class index", () => {
    const rows = Float32Array.from([0.1, 0.4, 0.2, 0.3, /* row 2 */ 0.25, 0.25, 0.5, 0]);
    expect(topK(rows, 2, 4, 2)).toEqual([
      [
        { index: 1, probability: expect.closeTo(0.4, 6) },
        { index: 3, probability: expect.closeTo(0.3, 6) },
      ],
      [
        { index: 2, probability: 0.5 },
        { index: 0, probability: 0.25 },
      ],
    ]);
    expect(topK(rows, 1, 4, 10).map((row) => row.map((entry) => entry.index))).toEqual([[1, 3, 2, 0]]);
  });

  it("agrees with a full sort on 10,000 classes", () => {
    const probabilities = Float32Array.from({ length: 10_000 }, () => Math.random());
    const sorted = [...probabilities.keys()].sort((a, b) => probabilities[b]! - probabilities[a]! || a - b).slice(0, 5);
    expect(topK(probabilities, 1, 10_000, 5)[0]!.map((entry) => entry.index)).toEqual(sorted);
  });

  it("agrees with a full sort for any k, with ties, NaN and rows that ascend (every value beats the last)", () => {
    const classes = 1_000;
    const rows = [
      Float32Array.from({ length: classes }, (_, i) => i / classes),
      Float32Array.from({ length: classes }, () => Math.floor(Math.random() * 20) / 20),
      Float32Array.from({ length: classes }, (_, i) => (i % 97 === 0 ? Number.NaN : Math.random())),
    ];
    const key = (value: number) => (Number.isNaN(value) ? -Infinity : value);
    for (const row of rows) {
      const all = [...row.keys()].sort((a, b) => key(row[b]!) - key(row[a]!) || a - b);
      for (const k of [1, 5, 64, classes]) {
        expect(topK(row, 1, classes, k)[0]!.map((entry) => entry.index)).toEqual(all.slice(0, k));
      }
    }
  });

  it("ranks each of 64 rows of 10,000 classes on its own", () => {
    // Each row ascends from a different class on (the worst case: every value enters the heap).
    const probabilities = Float32Array.from({ length: 64 * 10_000 }, (_, i) => ((i % 10_000) + 10_000 - Math.floor(i / 10_000)) % 10_000);
    const top = topK(probabilities, 64, 10_000, 5);
    for (let row = 0; row < 64; row += 1) {
      const last = (9_999 + row) % 10_000;
      expect(top[row]!.map((entry) => entry.index)).toEqual([0, 1, 2, 3, 4].map((i) => (last - i + 10_000) % 10_000));
    }
  });
});

describe("model cache", () => {
  it("evicts the least recently used beyond its budget, keeping the entry just set", () => {
    const disposed: string[] = [];
    const cache = createModelCache<string>(100, (value) => disposed.push(value));
    cache.set("a", "A", 40);
    cache.set("b", "B", 40);
    expect(cache.get("a")).toBe("A");
    expect(cache.set("c", "C", 40)).toEqual(["b"]);
    expect(cache.keys()).toEqual(["a", "c"]);
    expect(cache.set("huge", "H", 500)).toEqual(["a", "c"]);
    expect(cache.keys()).toEqual(["huge"]);
    expect(disposed).toEqual(["B", "A", "C"]);
  });
});

describe("predictor (wasm, worker thread)", () => {
  const predictor = createPredictor({ threads: 1, cacheBytes: 64 * 1024 * 1024 });
  afterAll(() => predictor.close());

  it("matches the model run directly, loads once, and refuses inputs of another shape", async () => {
    const { model, stored } = await randomLenet();
    let loads = 0;
    const source = { key: "lenet-1", load: async () => (loads++, stored) };
    const pixels = randomPixels(3, 28 * 28);
    const first = await predictor.predict(source, pixels.slice(), [3, 28, 28, 1], 10);
    expect(first.loadMs).toBeGreaterThan(0);
    const direct = predictDirectly(model, pixels, [3, 28, 28, 1]);
    for (const [row, ranked] of first.top.entries()) {
      expect(ranked).toHaveLength(10);
      for (const { index, probability } of ranked) expect(probability).toBeCloseTo(direct[row]![index]!, 5);
      expect(ranked[0]!.index).toBe(direct[row]!.indexOf(Math.max(...direct[row]!)));
    }
    const second = await predictor.predict(source, pixels.slice(), [3, 28, 28, 1], 2);
    expect(second.loadMs).toBeNull();
    expect(second.top.map((row) => row.map((entry) => entry.index))).toEqual(
      first.top.map((row) => row.slice(0, 2).map((entry) => entry.index)),
    );
    expect(loads).toBe(1);
    await expect(predictor.predict(source, randomPixels(1, 32 * 32), [1, 32, 32, 1], 1)).rejects.toBeInstanceOf(PredictionInputError);
  });

  it("reloads a model evicted by the LRU", async () => {
    const { stored } = await randomLenet();
    const small = createPredictor({ threads: 1, cacheBytes: stored.weights.byteLength + 10 });
    try {
      let loads = 0;
      const a = { key: "a", load: async () => (loads++, stored) };
      const b = { key: "b", load: async () => (loads++, stored) };
      const pixels = randomPixels(1, 28 * 28);
      await small.predict(a, pixels.slice(), [1, 28, 28, 1], 1);
      await small.predict(a, pixels.slice(), [1, 28, 28, 1], 1);
      expect(loads).toBe(1);
      await small.predict(b, pixels.slice(), [1, 28, 28, 1], 1);
      expect(loads).toBe(2);
      expect((await small.predict(a, pixels.slice(), [1, 28, 28, 1], 1)).loadMs).not.toBeNull();
      expect(loads).toBe(3);
    } finally {
      await small.close();
    }
  });
});
