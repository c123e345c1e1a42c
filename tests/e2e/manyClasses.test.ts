/**
 * Labels above 255 survive upload, training and prediction: a CSV upload of 260 classes, two of
 * them (c258 dark, c259 bright) with many images and the rest with one each, trained by a real
 * worker; the job then names c258 and c259 for dark and bright images. Stored as uint8, those
 * labels would wrap to 2 and 3.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import sharp from "sharp";
import yazl from "yazl";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { seededRandom } from "@trainyard/datasets";
import { waitFor } from "../helpers/processes.ts";
import { startStack, type Stack } from "../helpers/stack.ts";

const SIDE = 20;
const CLASSES = 260;
const PER_LARGE_CLASS = 60;
const random = seededRandom(7);

async function greyPng(level: number): Promise<Buffer> {
  const pixels = Buffer.alloc(SIDE * SIDE);
  for (let i = 0; i < pixels.length; i += 1) pixels[i] = Math.max(0, Math.min(255, Math.round(level + (random() - 0.5) * 40)));
  return sharp(pixels, { raw: { width: SIDE, height: SIDE, channels: 1 } })
    .toColourspace("b-w")
    .png()
    .toBuffer();
}

const className = (index: number) => `c${String(index).padStart(3, "0")}`;

async function csvZip(): Promise<Buffer> {
  const zip = new yazl.ZipFile();
  const rows = ["image,label"];
  for (let index = 0; index < CLASSES - 2; index += 1) {
    zip.addBuffer(await greyPng(128), `images/filler-${index}.png`);
    rows.push(`images/filler-${index}.png,${className(index)}`);
  }
  for (const [index, level] of [
    [258, 30],
    [259, 225],
  ] as const) {
    for (let i = 0; i < PER_LARGE_CLASS; i += 1) {
      zip.addBuffer(await greyPng(level), `images/${index}-${i}.png`);
      rows.push(`images/${index}-${i}.png,${className(index)}`);
    }
  }
  zip.addBuffer(Buffer.from(rows.join("\n")), "train.csv");
  zip.end();
  const chunks: Buffer[] = [];
  for await (const chunk of zip.outputStream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

let stack: Stack;
let dataDir: string;

beforeAll(async () => {
  dataDir = mkdtempSync(join(tmpdir(), "trainyard-e2e-many-classes-"));
  stack = await startStack({ workers: 1, env: { TRAINYARD_DATA_DIR: dataDir } });
});

afterAll(async () => {
  await stack?.stop();
  rmSync(dataDir, { recursive: true, force: true });
});

describe("a data set of more than 256 classes", () => {
  it("trains and predicts labels above 255 by their names", async () => {
    const form = new FormData();
    form.append("name", "many-classes");
    form.append("file", new Blob([new Uint8Array(await csvZip())]), "many-classes.zip");
    const upload = await fetch(`${stack.baseUrl}/v1/datasets`, {
      method: "POST",
      headers: { authorization: `Bearer ${stack.apiKey}` },
      body: form,
    });
    expect(upload.status).toBe(201);
    const { id } = (await upload.json()) as { id: string };
    const dataset = await waitFor(
      "the data set to be processed",
      async () => {
        const current = (await stack.request("GET", `/v1/datasets/${id}`)).body;
        return current.status === "processing" ? null : current;
      },
      60_000,
    );
    expect(dataset.status, dataset.error).toBe("ready");
    expect(dataset.classes).toHaveLength(CLASSES);
    expect(dataset.classes.slice(-2)).toEqual(["c258", "c259"]);

    const jobId = await stack.submit({
      architecture: "lenet",
      architectureOptions: { activation: "relu", pooling: "max" },
      dataset: { id },
      training: { epochs: 4, batchSize: 16, seed: 3, validationSplit: 0, optimizer: { type: "adam", learningRate: 0.003 } },
    });
    const job = await stack.waitForJob(jobId, (j) => ["succeeded", "failed"].includes(j.status), 240_000, "the job to finish");
    expect(job.status, JSON.stringify(job.error)).toBe("succeeded");

    const images = new FormData();
    for (const level of [30, 30, 225, 225])
      images.append("image", new Blob([new Uint8Array(await greyPng(level))], { type: "image/png" }), `${level}.png`);
    const predicted = await fetch(`${stack.baseUrl}/v1/jobs/${jobId}/predict?topK=1`, {
      method: "POST",
      headers: { authorization: `Bearer ${stack.apiKey}` },
      body: images,
    });
    expect(predicted.status).toBe(200);
    const { predictions } = (await predicted.json()) as { predictions: { top: { label: string; probability: number }[] }[] };
    console.info(`many-classes e2e: test accuracy ${job.result.testAccuracy}; top-1 ${JSON.stringify(predictions.map((p) => p.top[0]))}`);
    expect(predictions.map((prediction) => prediction.top[0]!.label)).toEqual(["c258", "c258", "c259", "c259"]);
  }, 400_000);
});
