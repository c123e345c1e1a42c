import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import sharp from "sharp";
import yazl from "yazl";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { seededRandom } from "@trainyard/datasets";
import { waitFor } from "../helpers/processes.ts";
import { startStack, type Stack } from "../helpers/stack.ts";

/** A user's own data set, uploaded as an ImageFolder zip, then trained on by a real worker with augmentation. */
const SIDE = 20;
const PER_CLASS = 100;

async function greyPng(level: number, random: () => number): Promise<Buffer> {
  const pixels = Buffer.alloc(SIDE * SIDE);
  for (let i = 0; i < pixels.length; i += 1) pixels[i] = Math.max(0, Math.min(255, Math.round(level + (random() - 0.5) * 60)));
  return sharp(pixels, { raw: { width: SIDE, height: SIDE, channels: 1 } })
    .toColourspace("b-w")
    .png()
    .toBuffer();
}

/** Two classes any classifier can tell apart: dark and bright noise. */
async function imageFolderZip(): Promise<Buffer> {
  const random = seededRandom(1);
  const zip = new yazl.ZipFile();
  for (const [label, level] of [
    ["dark", 50],
    ["bright", 200],
  ] as const) {
    for (let i = 0; i < PER_CLASS; i += 1) zip.addBuffer(await greyPng(level, random), `train/${label}/${i}.png`);
  }
  zip.end();
  const chunks: Buffer[] = [];
  for await (const chunk of zip.outputStream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

let stack: Stack;
let dataDir: string;

beforeAll(async () => {
  dataDir = mkdtempSync(join(tmpdir(), "trainyard-e2e-data-"));
  stack = await startStack({ workers: 1, env: { TRAINYARD_DATA_DIR: dataDir } });
});

afterAll(async () => {
  await stack?.stop();
  rmSync(dataDir, { recursive: true, force: true });
});

describe("an uploaded data set", () => {
  it("is processed, then trained on with augmentation through API and worker", async () => {
    const form = new FormData();
    form.append("name", "dark-or-bright");
    form.append("file", new Blob([new Uint8Array(await imageFolderZip())]), "dark-or-bright.zip");
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
    expect(dataset).toMatchObject({ status: "ready", classes: ["bright", "dark"], imageShape: [SIDE, SIDE, 1] });
    expect(dataset.counts.train + dataset.counts.test).toBe(2 * PER_CLASS);

    const jobId = await stack.submit({
      architecture: "lenet",
      architectureOptions: { activation: "relu", pooling: "max" },
      dataset: { id },
      training: { epochs: 6, batchSize: 16, seed: 4, optimizer: { type: "adam", learningRate: 0.002 } },
      augmentation: { horizontalFlip: true, randomResizedCrop: { scale: [0.6, 1], ratio: [0.8, 1.25] } },
    });
    const job = await stack.waitForJob(jobId, (j) => ["succeeded", "failed"].includes(j.status), 180_000, "the job to finish");
    expect(job.status, JSON.stringify(job.error)).toBe("succeeded");
    expect(job.spec.inputShape).toEqual([28, 28, 1]);
    console.info(`uploads e2e: test accuracy ${job.result.testAccuracy}`);
    expect(job.result.testAccuracy).toBeGreaterThan(0.9);
    const deleteAfterTraining = await stack.request("DELETE", `/v1/datasets/${id}`);
    expect(deleteAfterTraining.status).toBe(204);
  });
});
