import * as tf from "@tensorflow/tfjs";
import { augmentationSchema, jobSpecInputSchema, type JobSpec } from "@trainyard/shared";
import { beforeAll, describe, expect, it } from "vitest";
import { initBackend } from "../src/backend/index.ts";
import { decodeExportedWeights } from "../src/modelExport.ts";
import { train, type ExportedModel, type TrainerHooks, type TrainingCheckpoint } from "../src/index.ts";
import {
  applyAugmentation,
  augmentBatch,
  hasAugmentation,
  planAugmentation,
  sampleCropBox,
  type AugmentationSpec,
  type ImagePlan,
  type JitterOp,
} from "../src/data/augment.ts";
import { loadBuiltinDataset, seededRandom } from "@trainyard/datasets";

const spec = (input: Record<string, unknown>): AugmentationSpec => augmentationSchema.parse(input);
const ALL = spec({
  horizontalFlip: true,
  verticalFlip: true,
  randomResizedCrop: {},
  colorJitter: { brightness: 0.4, contrast: 0.4, saturation: 0.4, hue: 0.1 },
});

function randomBatch(shape: [number, number, number, number], seed = 1): tf.Tensor4D {
  const random = seededRandom(seed);
  return tf.tensor4d(
    Float32Array.from({ length: shape.reduce((a, b) => a * b) }, () => Math.floor(random() * 256)),
    shape,
  );
}

function plan(overrides: Partial<ImagePlan>, height: number, width: number): ImagePlan {
  return {
    crop: { top: 0, left: 0, height, width },
    flipHorizontal: false,
    flipVertical: false,
    jitterOrder: [],
    jitterFactors: {},
    ...overrides,
  };
}

/**
 * torch's interpolate(bilinear, align_corners=False) of one HWC crop, per pixel. `leak`: sample
 * positions are not clamped to the crop, only to the image (what augment.ts documents it does).
 */
function referenceCropResize(img: Float32Array, [h, w, c]: number[], plan: ImagePlan, leak: boolean): number[] {
  const { crop, flipHorizontal, flipVertical } = plan;
  const source = (k: number, start: number, size: number, length: number) => {
    const src = (size / length) * (k + 0.5) - 0.5;
    const clamped = leak ? Math.min(length - 1, Math.max(-start, src) + start) : Math.min(size - 1, Math.max(0, src)) + start;
    const i0 = Math.floor(clamped);
    return [i0, Math.min(i0 + 1, leak ? length - 1 : start + size - 1), clamped - i0];
  };
  const out: number[] = [];
  for (let y = 0; y < h; y += 1) {
    for (let x = 0; x < w; x += 1) {
      const [y0, y1, ly] = source(flipVertical ? h - 1 - y : y, crop.top, crop.height, h);
      const [x0, x1, lx] = source(flipHorizontal ? w - 1 - x : x, crop.left, crop.width, w);
      const at = (yy: number, xx: number, ch: number) => img[(yy * w + xx) * c + ch];
      for (let ch = 0; ch < c; ch += 1) {
        const top = at(y0, x0, ch) * (1 - lx) + at(y0, x1, ch) * lx;
        const bottom = at(y1, x0, ch) * (1 - lx) + at(y1, x1, ch) * lx;
        out.push(top * (1 - ly) + bottom * ly);
      }
    }
  }
  return out;
}

/** torchvision.transforms.functional adjust_* on one HWC image (0–255 floats), transcribed per pixel. */
function referenceJitter(img: Float32Array, channels: number, order: JitterOp[], factors: Partial<Record<JitterOp, number>>): number[] {
  let p = Array.from(img);
  const clamp = (v: number) => Math.min(255, Math.max(0, v));
  const grey = (i: number) => 0.2989 * p[i] + 0.587 * p[i + 1] + 0.114 * p[i + 2];
  for (const op of order) {
    const f = factors[op]!;
    if (op === "brightness") p = p.map((v) => clamp(v * f));
    else if (op === "contrast") {
      let sum = 0;
      for (let i = 0; i < p.length; i += channels) sum += channels === 3 ? grey(i) : p[i];
      const mean = sum / (p.length / channels);
      p = p.map((v) => clamp(f * v + (1 - f) * mean));
    } else if (op === "saturation") p = p.map((v, i) => clamp(f * v + (1 - f) * grey(i - (i % 3))));
    else {
      const next = p.slice();
      for (let i = 0; i < p.length; i += 3) {
        const [r, g, b] = [p[i] / 255, p[i + 1] / 255, p[i + 2] / 255];
        const maxc = Math.max(r, g, b);
        const cr = maxc - Math.min(r, g, b);
        const s = cr / (cr === 0 ? 1 : maxc);
        const d = cr === 0 ? 1 : cr;
        const [rc, gc, bc] = [(maxc - r) / d, (maxc - g) / d, (maxc - b) / d];
        const h6 = maxc === r ? bc - gc : maxc === g ? 2 + rc - bc : 4 + gc - rc;
        const h = (((((h6 / 6 + 1) % 1) + f) % 1) + 1) % 1;
        const sector = Math.floor(h * 6);
        const frac = h * 6 - sector;
        const [v, pp, q, t] = [maxc, clamp01(maxc * (1 - s)), clamp01(maxc * (1 - s * frac)), clamp01(maxc * (1 - s * (1 - frac)))];
        const rgb = [
          [v, t, pp],
          [q, v, pp],
          [pp, v, t],
          [pp, q, v],
          [t, pp, v],
          [v, pp, q],
        ][sector % 6];
        for (let ch = 0; ch < 3; ch += 1) next[i + ch] = rgb[ch] * 255;
      }
      p = next;
    }
  }
  return p;
}
const clamp01 = (v: number) => Math.min(1, Math.max(0, v));

function expectClose(actual: ArrayLike<number>, expected: ArrayLike<number>, tolerance: number) {
  expect(actual.length).toBe(expected.length);
  let worst = 0;
  for (let i = 0; i < actual.length; i += 1) worst = Math.max(worst, Math.abs(actual[i] - expected[i]));
  expect(worst).toBeLessThanOrEqual(tolerance);
}

describe("sampleCropBox", () => {
  it("keeps boxes inside the image, with area in scale and aspect in ratio up to rounding", () => {
    const random = seededRandom(11);
    const cases: [number, number, [number, number], [number, number]][] = [
      [32, 32, [0.08, 1], [0.75, 1.333]],
      [28, 40, [0.3, 0.6], [0.5, 2]],
      [224, 160, [0.5, 1], [1, 1]],
    ];
    for (const [height, width, scale, ratio] of cases) {
      for (let i = 0; i < 2000; i += 1) {
        const box = sampleCropBox(height, width, scale, ratio, random);
        expect(box.top).toBeGreaterThanOrEqual(0);
        expect(box.left).toBeGreaterThanOrEqual(0);
        expect(box.height).toBeGreaterThan(0);
        expect(box.width).toBeGreaterThan(0);
        expect(box.top + box.height).toBeLessThanOrEqual(height);
        expect(box.left + box.width).toBeLessThanOrEqual(width);
        const centre = box.top === Math.floor((height - box.height) / 2) && box.left === Math.floor((width - box.width) / 2);
        const [w, h, area] = [box.width, box.height, height * width];
        const inScale = ((w - 0.5) * (h - 0.5)) / area <= scale[1] && ((w + 0.5) * (h + 0.5)) / area >= scale[0];
        const inRatio = (w - 0.5) / (h + 0.5) <= ratio[1] && (w + 0.5) / (h - 0.5) >= ratio[0];
        expect((inScale && inRatio) || centre).toBe(true);
      }
    }
  });

  it("falls back to the largest centred crop within ratio after 10 failed tries", () => {
    let draws = 0;
    const random = () => (draws++, 0.5);
    expect(sampleCropBox(32, 32, [1, 1], [2, 3], random)).toEqual({ top: 8, left: 0, height: 16, width: 32 });
    expect(draws).toBe(20);
    expect(sampleCropBox(20, 10, [1, 1], [0.5, 0.5], random)).toEqual({ top: 0, left: 0, height: 20, width: 10 });
  });
});

describe("hasAugmentation", () => {
  it("is false for the defaults and for all-zero jitter", () => {
    expect(hasAugmentation(spec({}))).toBe(false);
    expect(hasAugmentation(spec({ colorJitter: {} }))).toBe(false);
    expect(hasAugmentation(spec({ colorJitter: { hue: 0.1 } }))).toBe(true);
    expect(hasAugmentation(spec({ verticalFlip: true }))).toBe(true);
    expect(hasAugmentation(ALL)).toBe(true);
  });
});

describe.each(["cpu", "wasm"] as const)("augmentBatch on %s", (backend) => {
  beforeAll(async () => {
    await initBackend(backend);
  });

  it("is deterministic given a seed, preserves shape and range, and disposes its intermediates", () => {
    for (const shape of [
      [6, 16, 24, 3],
      [5, 12, 12, 1],
    ] as [number, number, number, number][]) {
      const x = randomBatch(shape);
      const before = tf.memory().numTensors;
      const a = augmentBatch(x, ALL, seededRandom(5));
      expect(tf.memory().numTensors).toBe(before + 1);
      const b = augmentBatch(x, ALL, seededRandom(5));
      const c = augmentBatch(x, ALL, seededRandom(6));
      expect(a.shape).toEqual(shape);
      expect(Array.from(a.dataSync())).toEqual(Array.from(b.dataSync()));
      expect(Array.from(a.dataSync())).not.toEqual(Array.from(c.dataSync()));
      expect(a.min().dataSync()[0]).toBeGreaterThanOrEqual(0);
      expect(a.max().dataSync()[0]).toBeLessThanOrEqual(255);
      tf.dispose([x, a, b, c]);
    }
  });

  it("is the identity when every option is off or factors are neutral", () => {
    const x = randomBatch([4, 8, 10, 3]);
    for (const off of [
      spec({}),
      spec({ colorJitter: { brightness: 0 } }),
      spec({ randomResizedCrop: { scale: [1, 1], ratio: [1.25, 1.25] } }),
    ]) {
      const y = augmentBatch(x, off, seededRandom(1));
      expect(y).not.toBe(x);
      expect(Array.from(y.dataSync())).toEqual(Array.from(x.dataSync()));
      y.dispose();
    }
    const neutral = plan(
      { jitterOrder: ["brightness", "contrast", "saturation"], jitterFactors: { brightness: 1, contrast: 1, saturation: 1 } },
      8,
      10,
    );
    const y = applyAugmentation(x, [neutral, neutral, neutral, neutral]);
    expect(Array.from(y.dataSync())).toEqual(Array.from(x.dataSync()));
    // Saturation and hue leave 1-channel images alone.
    const grey = randomBatch([3, 8, 8, 1]);
    const z = augmentBatch(grey, spec({ colorJitter: { saturation: 1, hue: 0.5 } }), seededRandom(2));
    expect(Array.from(z.dataSync())).toEqual(Array.from(grey.dataSync()));
    tf.dispose([x, y, grey, z]);
  });

  it("flips exactly the images the plan picks", () => {
    const x = randomBatch([12, 5, 7, 3]);
    for (const flips of [{ horizontalFlip: true }, { verticalFlip: true }, { horizontalFlip: true, verticalFlip: true }]) {
      const s = spec(flips);
      const plans = planAugmentation(x.shape, s, seededRandom(9));
      const y = augmentBatch(x, s, seededRandom(9));
      const picked = plans.map((p) => (p.flipHorizontal ? 1 : 0) + (p.flipVertical ? 2 : 0));
      expect(new Set(picked).size).toBeGreaterThan(1);
      const images = tf.unstack(x);
      const expected = tf.stack(
        images.map((img, n) => (picked[n] ? tf.reverse(img, picked[n] === 3 ? [0, 1] : picked[n] === 2 ? 0 : 1) : img)),
      );
      expect(Array.from(y.dataSync())).toEqual(Array.from(expected.dataSync()));
      tf.dispose([y, expected, ...images]);
    }
    x.dispose();
  });

  it("crops and resizes like torch's bilinear interpolate, flips included, except at an enlarged crop's edge", () => {
    const [h, w, c] = [12, 9, 2];
    const x = randomBatch([6, h, w, c], 3);
    const s = spec({ horizontalFlip: true, verticalFlip: true, randomResizedCrop: { scale: [0.1, 0.9] } });
    const plans = planAugmentation(x.shape, s, seededRandom(4));
    plans[0].crop = { top: 3, left: 2, height: 5, width: 4 };
    plans[1].crop = { top: 0, left: 8, height: 12, width: 1 };
    plans[2].crop = { top: 7, left: 0, height: 5, width: 9 };
    const out = applyAugmentation(x, plans);
    const y = out.dataSync();
    const pixels = x.dataSync() as Float32Array;
    const size = h * w * c;
    let sameAsTorch = 0;
    plans.forEach((p, n) => {
      const image = pixels.subarray(n * size, (n + 1) * size);
      const actual = y.subarray(n * size, (n + 1) * size);
      expectClose(actual, referenceCropResize(image, [h, w, c], p, true), 1e-3);
      // Where the sample lies inside the crop (or the crop touches the image border), exactly torch.
      const torch = referenceCropResize(image, [h, w, c], p, false);
      const inside = (k: number, start: number, size: number, length: number) => {
        const src = (size / length) * (k + 0.5) - 0.5;
        return (src >= 0 || start === 0) && (src <= size - 1 || start + size === length);
      };
      for (let yy = 0; yy < h; yy += 1) {
        for (let xx = 0; xx < w; xx += 1) {
          if (!inside(p.flipVertical ? h - 1 - yy : yy, p.crop.top, p.crop.height, h)) continue;
          if (!inside(p.flipHorizontal ? w - 1 - xx : xx, p.crop.left, p.crop.width, w)) continue;
          for (let ch = 0; ch < c; ch += 1) expect(actual[(yy * w + xx) * c + ch]).toBeCloseTo(torch[(yy * w + xx) * c + ch], 3);
          sameAsTorch += 1;
        }
      }
    });
    expect(sameAsTorch).toBeGreaterThan(0.7 * plans.length * h * w);
    tf.dispose([x, out]);
  });

  it("colour-jitters each image like torchvision, in its own order, within [0, 255]", () => {
    const x = randomBatch([8, 6, 5, 3], 8);
    const strong = spec({ colorJitter: { brightness: 1, contrast: 1, saturation: 1, hue: 0.5 } });
    const plans = planAugmentation(x.shape, strong, seededRandom(3));
    expect(new Set(plans.map((p) => p.jitterOrder.join())).size).toBeGreaterThan(2);
    plans[0].jitterOrder = ["brightness", "contrast", "saturation", "hue"];
    plans[0].jitterFactors = { brightness: 1.9, contrast: 0.2, saturation: 0, hue: 1 / 3 };
    const y = applyAugmentation(x, plans);
    expect(y.min().dataSync()[0]).toBeGreaterThanOrEqual(0);
    expect(y.max().dataSync()[0]).toBeLessThanOrEqual(255);
    const pixels = x.dataSync() as Float32Array;
    const size = 6 * 5 * 3;
    const expected = plans.flatMap((p, n) => referenceJitter(pixels.subarray(n * size, (n + 1) * size), 3, p.jitterOrder, p.jitterFactors));
    expectClose(y.dataSync(), expected, 2e-3);
    // Pure red turned by a third of a turn is pure green; one channel: contrast pulls towards the mean.
    const red = tf.tensor4d([255, 0, 0], [1, 1, 1, 3]);
    const green = applyAugmentation(red, [plan({ jitterOrder: ["hue"], jitterFactors: { hue: 1 / 3 } }, 1, 1)]);
    expectClose(green.dataSync(), [0, 255, 0], 1e-3);
    const grey = tf.tensor4d([0, 100, 200, 100], [1, 2, 2, 1]);
    const flat = applyAugmentation(grey, [plan({ jitterOrder: ["contrast"], jitterFactors: { contrast: 0.5 } }, 2, 2)]);
    expectClose(flat.dataSync(), [50, 100, 150, 100], 1e-4);
    tf.dispose([x, y, red, green, grey, flat]);
  });
});

describe("training with augmentation", () => {
  beforeAll(async () => {
    await initBackend("wasm");
  });

  it("resumed mid-epoch, sees the augmentations an uninterrupted run saw", async () => {
    const parsed = jobSpecInputSchema.parse({
      architecture: "lenet",
      architectureOptions: { activation: "relu", pooling: "max" },
      dataset: { name: "synthetic-shapes" },
      training: { epochs: 2, batchSize: 50, maxTrainSamples: 300, seed: 5, optimizer: { type: "sgd", learningRate: 0.05 } },
      augmentation: { horizontalFlip: true, randomResizedCrop: { scale: [0.3, 1] }, colorJitter: { brightness: 0.5, contrast: 0.5 } },
    });
    const spec = { ...parsed, inputShape: [28, 28, 1], training: { ...parsed.training, seed: 5 } } as JobSpec;
    const hooks = (stopRequested: TrainerHooks["stopRequested"] = () => null): TrainerHooks => ({
      onProgress: () => undefined,
      onEpoch: async () => undefined,
      stopRequested,
    });
    const weights = (model: ExportedModel) => {
      const named = decodeExportedWeights(model);
      const flat = Array.from(tf.concat(Object.values(named).map((t) => t.flatten())).dataSync());
      tf.dispose(Object.values(named));
      return flat;
    };
    // Weight initialization is not seeded: both runs start from the same epoch-1 checkpoint.
    let afterEpoch1: TrainingCheckpoint | null = null;
    const uninterrupted = await train(spec, loadBuiltinDataset("synthetic-shapes"), {
      ...hooks(),
      onEpoch: async (report) => void (report.metrics.epoch === 1 && (afterEpoch1 = report.checkpoint)),
    });
    const start = { resumeFrom: { checkpoint: afterEpoch1!, best: afterEpoch1!.model } };
    let checks = 0;
    const stopped = await train(
      spec,
      loadBuiltinDataset("synthetic-shapes"),
      hooks(() => (++checks === 4 ? "shutdown" : null)),
      start,
    );
    if (stopped.status !== "stopped" || !stopped.checkpoint) throw new Error("a shutdown stop must carry a checkpoint");
    expect(stopped.checkpoint).toMatchObject({ epoch: 1, partial: { step: 3 } });
    const resumed = await train(spec, loadBuiltinDataset("synthetic-shapes"), hooks(), {
      resumeFrom: { checkpoint: stopped.checkpoint, best: afterEpoch1!.model },
    });
    if (uninterrupted.status !== "completed" || resumed.status !== "completed") throw new Error("both runs must complete");
    expectClose(weights(resumed.last), weights(uninterrupted.last), 1e-5);
    // And the training batches were augmented: without augmentation, the same start ends elsewhere.
    const plain = await train(
      { ...spec, augmentation: augmentationSchema.parse({}) },
      loadBuiltinDataset("synthetic-shapes"),
      hooks(),
      start,
    );
    if (plain.status !== "completed") throw new Error("the run must complete");
    const [a, b] = [weights(plain.last), weights(uninterrupted.last)];
    expect(Math.max(...a.map((v, i) => Math.abs(v - b[i])))).toBeGreaterThan(1e-3);
  });
});
