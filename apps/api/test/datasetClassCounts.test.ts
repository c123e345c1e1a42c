/**
 * Class counts real data sets have: an upload with more than 256 classes keeps every label
 * (stored as uint16, meta.json version 2), 10,001 classes fail naming the count, and a data set
 * processed before (version 1, uint8 labels) still loads — while a labels file of the wrong
 * width is refused rather than misread.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DatasetUnavailableError, loadUploadedDataset, MAX_CLASSES, UPLOADED_DATASET_META } from "@trainyard/datasets";
import { multipartBody, solidPng, zip, type ArchiveEntry } from "./helpers/archives.ts";
import { auth, startTestApi, type TestApi } from "./helpers/testApi.ts";

const CLASSES = 1_200;
let api: TestApi;
let scratch: string;

beforeAll(async () => {
  api = await startTestApi();
  scratch = mkdtempSync(join(tmpdir(), "trainyard-class-counts-"));
});

afterAll(async () => {
  await api?.close();
  rmSync(scratch, { recursive: true, force: true });
});

async function uploadAndProcess(filename: string, data: Buffer) {
  const body = multipartBody({ name: filename }, { filename, data });
  const created = await api.app.inject({
    method: "POST",
    url: "/v1/datasets",
    headers: { ...auth(api.keyA), ...body.headers },
    payload: body.payload,
  });
  expect(created.statusCode, created.body).toBe(201);
  const deadline = Date.now() + 60_000;
  for (;;) {
    const dataset = (await api.app.inject({ method: "GET", url: `/v1/datasets/${created.json().id}`, headers: auth(api.keyA) })).json();
    if (dataset.status !== "processing" || Date.now() > deadline) return dataset;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** Class `index` as a colour: red and green carry its high and low byte, so a pixel names its class. */
const colourOf = (index: number): [number, number, number] => [index >> 8, index & 255, 77];
const classOfPixel = (pixel: Uint8Array) => pixel[0] * 256 + pixel[1];

describe("uploads with thousands of classes", () => {
  it(`keeps all ${CLASSES} classes of a CSV upload and labels above 255 as stored`, async () => {
    const rows = ["image,label"];
    const entries: ArchiveEntry[] = [];
    for (let index = 0; index < CLASSES; index += 1) {
      entries.push({ name: `images/${index}.png`, data: await solidPng(2, 2, colourOf(index)) });
      // Names that do not sort like their numbers: the label is the index of the name in sorted order.
      rows.push(`images/${index}.png,species-${index}`);
    }
    entries.push({ name: "train.csv", data: Buffer.from(rows.join("\n")) });
    const dataset = await uploadAndProcess("many.zip", await zip(entries));
    expect(dataset.status, dataset.error).toBe("ready");
    expect(dataset.classes).toHaveLength(CLASSES);
    expect(dataset.classes).toEqual(Array.from({ length: CLASSES }, (_, i) => `species-${i}`).sort());

    const dir = join(api.dataDir, "datasets", dataset.id);
    expect(JSON.parse(readFileSync(join(dir, UPLOADED_DATASET_META), "utf8")).version).toBe(2);
    const loaded = loadUploadedDataset(dir);
    expect(loaded.train.labels).toBeInstanceOf(Uint16Array);
    const all = [loaded.train, loaded.test];
    expect(all.reduce((sum, split) => sum + split.count, 0)).toBe(CLASSES);
    let above255 = 0;
    for (const split of all) {
      for (let i = 0; i < split.count; i += 1) {
        const pictured = classOfPixel(split.images.subarray(i * 12, i * 12 + 3));
        expect(loaded.classes[split.labels[i]]).toBe(`species-${pictured}`);
        if (split.labels[i] > 255) above255 += 1;
      }
    }
    expect(above255).toBe(CLASSES - 256);

    // The dry run says what the 1,200-way head costs: LeNet's head_fc maps 84 features to each class.
    const dryRun = await api.app.inject({
      method: "POST",
      url: "/v1/jobs?dryRun=true",
      headers: auth(api.keyA),
      payload: {
        architecture: "lenet",
        dataset: { id: dataset.id },
        training: { epochs: 1, optimizer: { type: "adam", learningRate: 0.001 } },
      },
    });
    expect(dryRun.statusCode, dryRun.body).toBe(200);
    const { head, parameters } = dryRun.json().estimate;
    expect(head).toEqual({
      layers: ["head_fc"],
      parameters: 85 * CLASSES,
      weightBytes: 4 * 85 * CLASSES,
      trainingBytes: 4 * 4 * 85 * CLASSES,
    });
    expect(parameters).toBeGreaterThan(head.parameters);
  });

  it(`fails an upload of ${MAX_CLASSES + 1} classes naming the count and the limit`, async () => {
    // One image listed under every class name: the archive stays a few kilobytes.
    const rows = ["image,label", ...Array.from({ length: MAX_CLASSES + 1 }, (_, i) => `one.png,c${i}`)];
    const dataset = await uploadAndProcess(
      "too-many.zip",
      await zip([
        { name: "one.png", data: await solidPng(2, 2, 9) },
        { name: "train.csv", data: Buffer.from(rows.join("\n")) },
      ]),
    );
    expect(dataset).toMatchObject({ status: "failed", error: "train has 10001 classes; at most 10000 are supported" });
  });
});

describe("data sets processed before uint16 labels", () => {
  function writeVersion1(dir: string, labelBytes: Buffer, version: 1 | 2) {
    const images = Buffer.alloc(4 * 2 * 2, 40);
    writeFileSync(join(dir, "train-images.u8"), images);
    writeFileSync(join(dir, "train-labels.u8"), labelBytes);
    writeFileSync(join(dir, "test-images.u8"), images.subarray(0, 4));
    writeFileSync(join(dir, "test-labels.u8"), labelBytes.subarray(0, 1));
    const split = (name: string, count: number) => ({ images: `${name}-images.u8`, labels: `${name}-labels.u8`, count });
    const meta = {
      format: "trainyard-uploaded-dataset",
      version,
      name: "old",
      classes: ["a", "b", "c"],
      imageShape: [2, 2, 1],
      splits: { train: split("train", 4), val: null, test: split("test", 1) },
      heldOutTest: null,
      layout: "imagefolder",
      resizedImages: 0,
      createdAt: "2026-11-01T00:00:00.000Z",
    };
    writeFileSync(join(dir, UPLOADED_DATASET_META), JSON.stringify(meta));
  }

  it("loads a version 1 data set's uint8 labels as they are", () => {
    const dir = mkdtempSync(join(scratch, "v1-"));
    writeVersion1(dir, Buffer.from([2, 0, 1, 2]), 1);
    const loaded = loadUploadedDataset(dir);
    expect(loaded.train.labels).toBeInstanceOf(Uint8Array);
    expect([...loaded.train.labels]).toEqual([2, 0, 1, 2]);
    expect([...loaded.test.labels]).toEqual([2]);
  });

  it("refuses uint8 labels under a version 2 meta.json instead of reading them as uint16", () => {
    const dir = mkdtempSync(join(scratch, "mislabelled-"));
    writeVersion1(dir, Buffer.from([2, 0, 1, 2]), 2);
    expect(() => loadUploadedDataset(dir)).toThrow(DatasetUnavailableError);
    expect(() => loadUploadedDataset(dir)).toThrow(/the train split does not hold 4 images/);
  });
});
