import * as tf from "@tensorflow/tfjs";
import "@tensorflow/tfjs-backend-wasm";
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { HEAD_PREFIX, importModelFiles, readSafetensors, toFloat32, type InputShape, type LayersModelFiles } from "../../src/index.ts";

/**
 * The proof that the torchvision variants are torchvision's networks: export.py (Debian's PyTorch 1.13 and
 * torchvision 0.14) writes each network's state_dict with seeded random weights and random batch-norm statistics,
 * an input and PyTorch's logits; the same import the API runs (importModelFiles) builds our network from the
 * state_dict, and its logits must agree to 1e-4 relative (max |ours − theirs| / max |theirs|).
 *
 * VGG runs at 32×32: its feature map is then 1×1, which torchvision's adaptive pooling to 7×7 replicates exactly as
 * our nearest upsampling does, and every weight (the 25088×4096 linear layer too) is still used. One VGG (vgg16_bn:
 * the deeper configuration, with batch norm) stands for the four here: each moves 550 MB of weights through Python
 * and TF.js, and vgg11, vgg11_bn and vgg16 share its code path (they agreed to ≤ 3.4e-6 when run the same way).
 */
const cases: Array<{ torchvision: string; architecture: string; options?: Record<string, unknown>; size: number; batch: number }> = [
  { torchvision: "resnet18", architecture: "resnet18", size: 224, batch: 2 },
  { torchvision: "resnet34", architecture: "resnet34", size: 224, batch: 1 },
  { torchvision: "resnet50", architecture: "resnet50", size: 224, batch: 1 },
  { torchvision: "alexnet", architecture: "alexnet", size: 224, batch: 1 },
  { torchvision: "vgg16_bn", architecture: "vgg16", options: { batchNorm: true }, size: 32, batch: 2 },
  { torchvision: "mobilenet_v2", architecture: "mobilenet-v2", size: 224, batch: 2 },
  { torchvision: "efficientnet_b0", architecture: "efficientnet-b0", size: 224, batch: 2 },
];

const PYTHON = "/usr/bin/python3";
const exportScript = new URL("./export.py", import.meta.url).pathname;
let directory: string;
const params = new Map<string, number>();
const table: string[] = [];

/** Our logits: the output of `head_fc`, before the softmax. */
async function ourLogits(files: LayersModelFiles, input: tf.Tensor): Promise<Float32Array> {
  const manifest = files.modelJson.weightsManifest as Array<{ weights: tf.io.WeightsManifestEntry[] }>;
  const model = await tf.loadLayersModel(
    tf.io.fromMemory({
      modelTopology: files.modelJson.modelTopology as tf.io.ModelJSON["modelTopology"],
      weightSpecs: manifest[0].weights,
      weightData: new Uint8Array(files.weights).buffer,
    }),
  );
  try {
    const logits = tf.model({ inputs: model.inputs, outputs: model.getLayer(`${HEAD_PREFIX}_fc`).output as tf.SymbolicTensor });
    return tf.tidy(() => (logits.predict(input) as tf.Tensor).dataSync() as Float32Array);
  } finally {
    model.dispose();
  }
}

beforeAll(async () => {
  await tf.setBackend("wasm");
  directory = mkdtempSync(join(tmpdir(), "trainyard-torchvision-"));
  const specs = cases.map(({ torchvision, size, batch }) => `${torchvision}:${size}:${batch}`);
  const output = execFileSync(PYTHON, [exportScript, directory, ...specs], { encoding: "utf8", maxBuffer: 1 << 20 });
  for (const line of output.trim().split("\n")) {
    const { name, params: count } = JSON.parse(line) as { name: string; params: number };
    params.set(name, count);
  }
}, 600_000);

afterAll(() => {
  if (directory) rmSync(directory, { recursive: true, force: true });
  if (table.length > 0) console.log(["architecture          input      params  max rel diff", ...table].join("\n"));
});

describe("torchvision imports agree with PyTorch", () => {
  for (const { torchvision, architecture, options = {}, size, batch } of cases) {
    it(`${torchvision} at ${size}×${size}`, async () => {
      const check = readSafetensors(readFileSync(join(directory, `${torchvision}.check.safetensors`)));
      const pixels = check.get("input")!;
      const theirs = toFloat32("logits", check.get("logits")!);
      const inputShape = pixels.shape.slice(1) as InputShape;
      const { files, classes } = importModelFiles(
        { architecture, options: { variant: "torchvision", ...options }, inputShape, classes: null },
        { format: "torchvision", safetensors: readFileSync(join(directory, `${torchvision}.safetensors`)) },
      );
      expect(classes).toBe(1000);
      const input = tf.tensor(toFloat32("input", pixels), pixels.shape);
      const ours = await ourLogits(files, input);
      input.dispose();
      expect(ours.length).toBe(batch * 1000);
      let largestDifference = 0;
      let largestLogit = 0;
      theirs.forEach((logit, index) => {
        largestDifference = Math.max(largestDifference, Math.abs(ours[index] - logit));
        largestLogit = Math.max(largestLogit, Math.abs(logit));
      });
      const relative = largestDifference / largestLogit;
      table.push(
        `${torchvision.padEnd(20)} ${`${size}×${size}`.padStart(7)} ${String(params.get(torchvision)).padStart(11)}  ${relative.toExponential(2)}`,
      );
      expect(largestLogit).toBeGreaterThan(0);
      expect(relative).toBeLessThan(1e-4);
    }, 300_000);
  }
});
