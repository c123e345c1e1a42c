import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import sharp from "sharp";
import yazl from "yazl";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { seededRandom } from "@trainyard/datasets";
import { waitFor } from "../helpers/processes.ts";
import { startStack, type Stack } from "../helpers/stack.ts";

/**
 * Fine-tuning from an imported network through the API and a real worker: a torchvision ResNet-18
 * (export.py, random weights) imported at 32×32, then a one-epoch job on an uploaded two-class RGB set
 * that starts from it with a new 2-class head and a frozen backbone.
 */
const SIDE = 32;
const PER_CLASS = 24;

async function noisyPng(colour: [number, number, number], random: () => number): Promise<Buffer> {
  const pixels = Buffer.alloc(SIDE * SIDE * 3);
  for (let i = 0; i < pixels.length; i += 1) pixels[i] = Math.max(0, Math.min(255, Math.round(colour[i % 3] + (random() - 0.5) * 80)));
  return sharp(pixels, { raw: { width: SIDE, height: SIDE, channels: 3 } })
    .png()
    .toBuffer();
}

async function imageFolderZip(): Promise<Buffer> {
  const random = seededRandom(3);
  const zip = new yazl.ZipFile();
  for (const [label, colour] of [
    ["reddish", [200, 60, 60]],
    ["bluish", [60, 60, 200]],
  ] as const) {
    for (let i = 0; i < PER_CLASS; i += 1) zip.addBuffer(await noisyPng([...colour], random), `train/${label}/${i}.png`);
  }
  zip.end();
  const chunks: Buffer[] = [];
  for await (const chunk of zip.outputStream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

let stack: Stack;
let dataDir: string;
let exportDir: string;

async function post(path: string, form: FormData): Promise<{ status: number; body: any }> {
  const response = await fetch(`${stack.baseUrl}${path}`, {
    method: "POST",
    headers: { authorization: `Bearer ${stack.apiKey}` },
    body: form,
  });
  return { status: response.status, body: await response.json() };
}

async function weightsOf(path: string): Promise<Map<string, Float32Array>> {
  const get = (file: string) => fetch(`${stack.baseUrl}${path}/${file}`, { headers: { authorization: `Bearer ${stack.apiKey}` } });
  const modelJson = (await (await get("model.json")).json()) as {
    weightsManifest: Array<{ weights: Array<{ name: string; shape: number[] }> }>;
  };
  const bytes = new Uint8Array(await (await get("weights.bin")).arrayBuffer());
  const weights = new Map<string, Float32Array>();
  let offset = 0;
  for (const spec of modelJson.weightsManifest[0].weights) {
    const length = spec.shape.reduce((product, size) => product * size, 1);
    weights.set(spec.name, new Float32Array(bytes.slice(offset, offset + 4 * length).buffer));
    offset += 4 * length;
  }
  return weights;
}

beforeAll(async () => {
  exportDir = mkdtempSync(join(tmpdir(), "trainyard-e2e-import-"));
  const exportScript = new URL("../../packages/models/test/torchvision/export.py", import.meta.url).pathname;
  execFileSync("/usr/bin/python3", [exportScript, exportDir, `resnet18:${SIDE}:1`], { encoding: "utf8" });
  dataDir = mkdtempSync(join(tmpdir(), "trainyard-e2e-data-"));
  stack = await startStack({ workers: 1, env: { TRAINYARD_DATA_DIR: dataDir } });
}, 300_000);

afterAll(async () => {
  await stack?.stop();
  rmSync(dataDir, { recursive: true, force: true });
  rmSync(exportDir, { recursive: true, force: true });
});

describe("fine-tuning from an imported model", () => {
  it("trains a new head on an uploaded set from a torchvision import, the frozen backbone as imported", async () => {
    const model = new FormData();
    model.append("name", "imagenet-resnet18");
    model.append("architecture", "resnet18");
    model.append("architectureOptions", JSON.stringify({ variant: "torchvision" }));
    model.append("inputShape", `${SIDE},${SIDE},3`);
    model.append("format", "torchvision");
    model.append("file", new Blob([new Uint8Array(readFileSync(join(exportDir, "resnet18.safetensors")))]), "resnet18.safetensors");
    const imported = await post("/v1/models/import", model);
    expect(imported.status, JSON.stringify(imported.body)).toBe(201);

    const upload = new FormData();
    upload.append("name", "reddish-or-bluish");
    upload.append("file", new Blob([new Uint8Array(await imageFolderZip())]), "colours.zip");
    const dataset = await post("/v1/datasets", upload);
    expect(dataset.status).toBe(201);
    const ready = await waitFor(
      "the data set to be processed",
      async () => {
        const current = (await stack.request("GET", `/v1/datasets/${dataset.body.id}`)).body;
        return current.status === "processing" ? null : current;
      },
      60_000,
    );
    expect(ready).toMatchObject({ status: "ready", imageShape: [SIDE, SIDE, 3] });

    const jobId = await stack.submit({
      architecture: "resnet18",
      dataset: { id: dataset.body.id },
      training: { epochs: 1, batchSize: 16, seed: 5, optimizer: { type: "adam", learningRate: 0.001 } },
      fineTune: { fromModel: "imagenet-resnet18@1", freeze: "backbone" },
    });
    const job = await stack.waitForJob(jobId, (j) => ["succeeded", "failed"].includes(j.status), 240_000, "the fine-tune to finish");
    expect(job.status, JSON.stringify(job.error)).toBe("succeeded");
    expect(job.spec.architectureOptions).toEqual({ variant: "torchvision" });
    expect(job.spec.inputShape).toEqual([SIDE, SIDE, 3]);
    expect(job.spec.fineTune.fromModel).toBe("imagenet-resnet18@1");

    const source = await weightsOf("/v1/models/imagenet-resnet18/versions/1/model");
    const tuned = await weightsOf(`/v1/jobs/${jobId}/model`);
    expect(tuned.get("head_fc/kernel")?.length).toBe(512 * 2);
    expect(source.get("head_fc/kernel")?.length).toBe(512 * 1000);
    // Byte comparison: vitest's deep equality over 2.4 million floats takes minutes.
    const bytesOf = (weights: Float32Array | undefined) => Buffer.from(weights!.buffer, weights!.byteOffset, weights!.byteLength);
    for (const name of ["conv1/kernel", "layer4_1_conv2/kernel"]) {
      expect(tuned.get(name)?.length, name).toBe(source.get(name)?.length);
      expect(bytesOf(tuned.get(name)).equals(bytesOf(source.get(name))), `${name} is as imported`).toBe(true);
    }
  });
});
