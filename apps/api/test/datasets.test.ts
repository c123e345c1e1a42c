import { existsSync } from "node:fs";
import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadUploadedDataset } from "@trainyard/datasets";
import { multipartBody, renameInZip, solidPng, tarGz, zip, type ArchiveEntry } from "./helpers/archives.ts";
import { auth, startTestApi, type TestApi } from "./helpers/testApi.ts";

const UPLOAD_LIMIT = 256 * 1024;
const EXTRACT_LIMIT = 1024 * 1024;
let api: TestApi;

beforeAll(async () => {
  api = await startTestApi({ TRAINYARD_UPLOAD_LIMIT_BYTES: String(UPLOAD_LIMIT), TRAINYARD_EXTRACT_LIMIT_BYTES: String(EXTRACT_LIMIT) });
});

afterAll(async () => {
  await api?.close();
});

async function upload(filename: string, data: Buffer, name = "my data", key = api.keyA) {
  const body = multipartBody({ name }, { filename, data });
  return api.app.inject({ method: "POST", url: "/v1/datasets", headers: { ...auth(key), ...body.headers }, payload: body.payload });
}

async function processed(id: string, key = api.keyA) {
  const deadline = Date.now() + 30_000;
  for (;;) {
    const dataset = (await api.app.inject({ method: "GET", url: `/v1/datasets/${id}`, headers: auth(key) })).json();
    if (dataset.status !== "processing" || Date.now() > deadline) return dataset;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** Grey images whose value says their class: circle 50, square 200; one odd size that must be resized. */
async function greyImageFolder(): Promise<ArchiveEntry[]> {
  const entries: ArchiveEntry[] = [];
  for (const [className, value] of [
    ["circle", 50],
    ["square", 200],
  ] as const) {
    for (let i = 0; i < 10; i += 1) {
      const [width, height] = className === "square" && i === 0 ? [12, 10] : [8, 8];
      entries.push({ name: `train/${className}/${i}.png`, data: await solidPng(width, height, value) });
    }
  }
  return entries;
}

describe("POST /v1/datasets", () => {
  it("processes an ImageFolder zip into files a worker loads, holding out a seeded test split", async () => {
    const response = await upload("shapes.zip", await zip(await greyImageFolder()), "shapes");
    expect(response.statusCode).toBe(201);
    const created = response.json();
    expect(response.headers.location).toBe(`/v1/datasets/${created.id}`);
    expect(created).toMatchObject({
      name: "shapes",
      status: "processing",
      classes: [],
      counts: { train: 0, val: 0, test: 0 },
      imageShape: null,
    });
    expect(Number.isNaN(Date.parse(created.createdAt))).toBe(false);

    const ready = await processed(created.id);
    expect(ready).toMatchObject({
      status: "ready",
      classes: ["circle", "square"],
      counts: { train: 18, val: 0, test: 2 },
      imageShape: [8, 8, 1],
      error: null,
    });

    const dir = join(api.dataDir, "datasets", created.id);
    const loaded = loadUploadedDataset(dir);
    expect(loaded.classes).toEqual(["circle", "square"]);
    expect(loaded.imageShape).toEqual([8, 8, 1]);
    expect([loaded.train.count, loaded.val, loaded.test.count]).toEqual([18, null, 2]);
    for (const split of [loaded.train, loaded.test]) {
      for (let i = 0; i < split.count; i += 1) {
        const pixels = split.images.subarray(i * 64, (i + 1) * 64);
        expect(new Set(pixels)).toEqual(new Set([split.labels[i] === 0 ? 50 : 200]));
      }
    }
    expect([...loaded.test.labels].sort()).toEqual([0, 1]);
    const meta = JSON.parse(await readFile(join(dir, "meta.json"), "utf8"));
    expect(meta).toMatchObject({ layout: "imagefolder", heldOutTest: { fraction: 0.1 }, resizedImages: 1 });
    expect(existsSync(join(dir, "upload"))).toBe(false);

    const listed = (await api.app.inject({ method: "GET", url: "/v1/datasets", headers: auth(api.keyA) })).json();
    expect(listed.items.map((dataset: { id: string }) => dataset.id)).toContain(created.id);
    expect((await api.app.inject({ method: "GET", url: `/v1/datasets/${created.id}`, headers: auth(api.keyB) })).statusCode).toBe(404);
  });

  it("processes a CSV-layout .tar.gz wrapped in a folder, converting grey to colour when colour is present", async () => {
    const red = await solidPng(6, 4, [255, 0, 0]);
    const blue = await solidPng(6, 4, [0, 0, 255]);
    const grey = await solidPng(6, 4, 128);
    const entries: ArchiveEntry[] = [
      {
        name: "leaves/train.csv",
        data: Buffer.from('image,label\r\nimages/r1.png,red\r\n"images/b1.png",blue\nimages/r2.png,red\nimages/g1.png,blue\n'),
      },
      { name: "leaves/test.csv", data: Buffer.from("label,image\nred,images/r3.png\nblue,images/b2.png\n") },
      { name: "leaves/images/r1.png", data: red },
      { name: "leaves/images/r2.png", data: red },
      { name: "leaves/images/r3.png", data: red },
      { name: "leaves/images/b1.png", data: blue },
      { name: "leaves/images/b2.png", data: blue },
      { name: "leaves/images/g1.png", data: grey },
    ];
    const created = (await upload("leaves.tar.gz", tarGz(entries), "leaves")).json();
    const ready = await processed(created.id);
    expect(ready).toMatchObject({
      status: "ready",
      classes: ["blue", "red"],
      counts: { train: 4, val: 0, test: 2 },
      imageShape: [4, 6, 3],
    });
    const loaded = loadUploadedDataset(join(api.dataDir, "datasets", created.id));
    const firstPixel = (split: typeof loaded.train, i: number) => [...split.images.subarray(i * 72, i * 72 + 3)];
    expect([...loaded.train.labels]).toEqual([1, 0, 1, 0]);
    expect([0, 1, 2, 3].map((i) => firstPixel(loaded.train, i))).toEqual([
      [255, 0, 0],
      [0, 0, 255],
      [255, 0, 0],
      [128, 128, 128],
    ]);
    expect([...loaded.test.labels]).toEqual([1, 0]);
  });

  const failures: [string, () => Promise<{ filename: string; data: Buffer }>, RegExp][] = [
    [
      "train/ without class folders",
      async () => ({ filename: "flat.zip", data: await zip([{ name: "train/readme.txt", data: Buffer.from("no classes here") }]) }),
      /^train\/ has no class folders/,
    ],
    [
      "an image the CSV names that is missing",
      async () => ({
        filename: "csv.zip",
        data: await zip([
          { name: "train.csv", data: Buffer.from("image,label\na.png,x\nmissing.png,y\n") },
          { name: "a.png", data: await solidPng(4, 4, 1) },
        ]),
      }),
      /^train\.csv row 2: image missing\.png not found$/,
    ],
    [
      "a zip entry that climbs out with ../",
      async () => ({
        filename: "evil.zip",
        data: renameInZip(
          await zip([...(await greyImageFolder()), { name: "zz/evil.txt", data: Buffer.from("x") }]),
          "zz/evil.txt",
          "../evil.txt",
        ),
      }),
      /"\.\.\/evil\.txt" points outside the archive/,
    ],
    [
      "a tar entry that climbs out with ../",
      async () => ({
        filename: "evil.tar.gz",
        data: tarGz([...(await greyImageFolder()), { name: "train/../../evil.txt", data: Buffer.from("x") }]),
      }),
      /"train\/\.\.\/\.\.\/evil\.txt" points outside the archive/,
    ],
    [
      "an archive that unpacks past the limit",
      async () => ({ filename: "bomb.zip", data: await zip([{ name: "train/a/zeros.png", data: Buffer.alloc(2 * EXTRACT_LIMIT) }]) }),
      /unpacks to more than 1\.0 MiB/,
    ],
    [
      "a file that is not a zip",
      async () => ({ filename: "junk.zip", data: Buffer.from("this is not a zip file at all") }),
      /not a readable zip archive/,
    ],
    [
      "an image that does not decode",
      async () => ({
        filename: "broken.zip",
        data: await zip([...(await greyImageFolder()), { name: "train/circle/bad.png", data: Buffer.from("not a png") }]),
      }),
      /^train\/circle\/bad\.png is not a readable image/,
    ],
    [
      "a single class",
      async () => ({ filename: "one.zip", data: await zip([{ name: "train/only/a.png", data: await solidPng(4, 4, 9) }]) }),
      /a classifier needs at least 2/,
    ],
  ];

  it.each(failures)("fails with an error naming the problem for %s", async (_case, build, error) => {
    const { filename, data } = await build();
    const response = await upload(filename, data);
    expect(response.statusCode).toBe(201);
    const dataset = await processed(response.json().id);
    expect(dataset.status).toBe("failed");
    expect(dataset.error).toMatch(error);
    expect(existsSync(join(api.dataDir, "datasets", dataset.id))).toBe(false);
    expect(existsSync(join(api.dataDir, "evil.txt"))).toBe(false);
    expect(existsSync(join(api.dataDir, "datasets", "evil.txt"))).toBe(false);
  });

  it("answers 400 naming the field for a missing name or a file that is not an archive, and 413 over the upload limit", async () => {
    const noName = multipartBody({}, { filename: "a.zip", data: await zip(await greyImageFolder()) });
    const missing = await api.app.inject({
      method: "POST",
      url: "/v1/datasets",
      headers: { ...auth(api.keyA), ...noName.headers },
      payload: noName.payload,
    });
    expect(missing.statusCode).toBe(400);
    expect(missing.json().errors.map((e: { path: string }) => e.path)).toEqual(["name"]);

    const noFile = multipartBody({ name: "x" });
    const fileless = await api.app.inject({
      method: "POST",
      url: "/v1/datasets",
      headers: { ...auth(api.keyA), ...noFile.headers },
      payload: noFile.payload,
    });
    expect(fileless.json().errors.map((e: { path: string }) => e.path)).toEqual(["file"]);

    const rar = await upload("data.rar", Buffer.from("Rar!"));
    expect(rar.statusCode).toBe(400);
    expect(rar.json().errors.map((e: { path: string }) => e.path)).toEqual(["file"]);

    const tooLarge = await upload("big.zip", Buffer.alloc(UPLOAD_LIMIT + 1024));
    expect(tooLarge.statusCode).toBe(413);
    expect(tooLarge.headers["content-type"]).toContain("application/problem+json");
    expect(await api.db.dataset.count({ where: { name: "my data", status: "processing" } })).toBe(0);
    const kept = (await api.db.dataset.findMany({ where: { status: { not: "failed" } } })).map((dataset) => dataset.id);
    expect((await readdir(join(api.dataDir, "datasets"))).sort()).toEqual(kept.sort());
  });
});

describe("DELETE /v1/datasets/{id}", () => {
  it("refuses while a queued job uses the data set, then deletes it and its files", async () => {
    const id = (await upload("shapes.zip", await zip(await greyImageFolder()), "to delete")).json().id;
    expect((await processed(id)).status).toBe("ready");
    const job = await api.app.inject({
      method: "POST",
      url: "/v1/jobs",
      headers: auth(api.keyA),
      payload: { architecture: "lenet", dataset: { id }, training: { epochs: 1 } },
    });
    expect(job.statusCode).toBe(202);
    expect(job.json().spec.inputShape).toEqual([28, 28, 1]);

    expect((await api.app.inject({ method: "DELETE", url: `/v1/datasets/${id}`, headers: auth(api.keyB) })).statusCode).toBe(404);
    const refused = await api.app.inject({ method: "DELETE", url: `/v1/datasets/${id}`, headers: auth(api.keyA) });
    expect(refused.statusCode).toBe(409);

    await api.app.inject({ method: "POST", url: `/v1/jobs/${job.json().id}/cancel`, headers: auth(api.keyA) });
    const deleted = await api.app.inject({ method: "DELETE", url: `/v1/datasets/${id}`, headers: auth(api.keyA) });
    expect(deleted.statusCode).toBe(204);
    expect(existsSync(join(api.dataDir, "datasets", id))).toBe(false);
    expect((await api.app.inject({ method: "GET", url: `/v1/datasets/${id}`, headers: auth(api.keyA) })).statusCode).toBe(404);
    expect(
      (await api.app.inject({ method: "GET", url: `/v1/jobs/${job.json().id}`, headers: auth(api.keyA) })).json().spec.dataset,
    ).toEqual({ id });
  });

  it("deletes a data set that is still processing", async () => {
    const entries = await greyImageFolder();
    for (let i = 0; i < 200; i += 1) entries.push({ name: `train/circle/extra-${i}.png`, data: await solidPng(8, 8, 50) });
    const id = (await upload("many.zip", await zip(entries), "in progress")).json().id;
    const deleted = await api.app.inject({ method: "DELETE", url: `/v1/datasets/${id}`, headers: auth(api.keyA) });
    expect(deleted.statusCode).toBe(204);
    expect(await api.db.dataset.count({ where: { id } })).toBe(0);
    expect(existsSync(join(api.dataDir, "datasets", id))).toBe(false);
  });

  it("refuses to delete a built-in data set", async () => {
    const response = await api.app.inject({ method: "DELETE", url: "/v1/datasets/synthetic-shapes", headers: auth(api.keyA) });
    expect(response.statusCode).toBe(409);
    expect((await api.app.inject({ method: "GET", url: "/v1/datasets/synthetic-shapes", headers: auth(api.keyA) })).json()).toMatchObject({
      builtin: true,
      status: "ready",
    });
  });
});
