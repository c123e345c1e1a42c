import { randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { Readable } from "node:stream";
import { gzipSync } from "node:zlib";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildServer, loadApiConfig } from "../src/index.ts";
import { INTERRUPTED_MESSAGE } from "../src/services/datasets/service.ts";
import { multipartBody, solidPng, tarGz, zip } from "./helpers/archives.ts";
import { auth, startTestApi, type TestApi } from "./helpers/testApi.ts";
import yazl from "yazl";

/** Issue 13's hostile uploads, at sizes scaled to these limits (the ratio guard's grace is 16 MiB). */
const MIB = 1024 * 1024;
const UPLOAD_LIMIT = 8 * MIB;
const EXTRACT_LIMIT = 80 * MIB;
let api: TestApi;

beforeAll(async () => {
  api = await startTestApi({ TRAINYARD_UPLOAD_LIMIT_BYTES: String(UPLOAD_LIMIT), TRAINYARD_EXTRACT_LIMIT_BYTES: String(EXTRACT_LIMIT) });
});

afterAll(async () => {
  await api?.close();
});

async function upload(filename: string, data: Buffer) {
  const body = multipartBody({ name: "hostile" }, { filename, data });
  const response = await api.app.inject({
    method: "POST",
    url: "/v1/datasets",
    headers: { ...auth(api.keyA), ...body.headers },
    payload: body.payload,
  });
  expect(response.statusCode).toBe(201);
  return response.json().id as string;
}

/** Polls until the data set leaves `processing` (or 20 s pass), timing /healthz meanwhile. */
async function settle(id: string) {
  const deadline = Date.now() + 20_000;
  let slowestHealth = 0;
  for (;;) {
    const started = Date.now();
    const health = await api.app.inject({ method: "GET", url: "/healthz" });
    slowestHealth = Math.max(slowestHealth, Date.now() - started);
    expect(health.statusCode).toBe(200);
    const dataset = (await api.app.inject({ method: "GET", url: `/v1/datasets/${id}`, headers: auth(api.keyA) })).json();
    if (dataset.status !== "processing" || Date.now() > deadline) return { dataset, slowestHealth };
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

async function expectFailedAndGone(id: string, error: RegExp) {
  const { dataset, slowestHealth } = await settle(id);
  expect(dataset.status).toBe("failed");
  expect(dataset.error).toMatch(error);
  expect(existsSync(join(api.dataDir, "datasets", id))).toBe(false);
  expect(slowestHealth).toBeLessThan(1000);
  const deleted = await api.app.inject({ method: "DELETE", url: `/v1/datasets/${id}`, headers: auth(api.keyA) });
  expect(deleted.statusCode).toBe(204);
  return dataset;
}

/** A zip whose one entry is `size` bytes of `byte`, deflated as it is generated (never held whole). */
async function zipOfRepeated(name: string, size: number, byte: number, prefix = Buffer.alloc(0)): Promise<Buffer> {
  const file = new yazl.ZipFile();
  const block = Buffer.alloc(MIB, byte);
  const body = Readable.from(
    (function* () {
      yield prefix;
      for (let left = size; left > 0; left -= block.length) yield left >= block.length ? block : block.subarray(0, left);
    })(),
  );
  file.addReadStream(body, name);
  file.end();
  const chunks: Buffer[] = [];
  for await (const chunk of file.outputStream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

/** A .tar.gz of one ustar entry of `size` zero bytes, gzipped as it is generated. */
function tarGzOfZeros(name: string, size: number): Buffer {
  const headerBlock = Buffer.alloc(512);
  const octal = (value: number, width: number) => `${value.toString(8).padStart(width - 1, "0")}\0`;
  headerBlock.write(name, 0, 100, "utf8");
  headerBlock.write(octal(0o644, 8), 100);
  headerBlock.write(octal(0, 8), 108);
  headerBlock.write(octal(0, 8), 116);
  headerBlock.write(octal(size, 12), 124);
  headerBlock.write(octal(0, 12), 136);
  headerBlock.fill(" ", 148, 156);
  headerBlock.write("0", 156);
  headerBlock.write("ustar\u000000", 257);
  headerBlock.write(
    octal(
      headerBlock.reduce((sum, value) => sum + value, 0),
      7,
    ),
    148,
  );
  return gzipSync(Buffer.concat([headerBlock, Buffer.alloc(size), Buffer.alloc(1024)]), { level: 9 });
}

describe("hostile uploads (issue 13)", () => {
  it("refuses the 65 KB zip whose train.csv is a header and 64 MiB of newlines, /healthz answering throughout", async () => {
    const archive = await zipOfRepeated("train.csv", 64 * MIB, 0x0a, Buffer.from("image,label\n"));
    expect(archive.length).toBeLessThan(100 * 1024);
    const dataset = await expectFailedAndGone(await upload("newlines.zip", archive), /looks like a decompression bomb/);
    // Stopped just past the 16 MiB grace, not at the 64 MiB the entry holds.
    const unpacked = Number(/unpacks to more than 200 times its compressed size \(([\d.]+) MiB/.exec(dataset.error)?.[1]);
    expect(unpacked).toBeLessThan(20);
  });

  it("refuses a train.csv of more rows than the limit (2 M newlines) without holding them, by streaming it", async () => {
    const csv = Buffer.concat([Buffer.from("image,label\n"), Buffer.alloc(2 * MIB, 0x0a)]);
    await expectFailedAndGone(
      await upload("rows.zip", await zip([{ name: "train.csv", data: csv }])),
      /^train\.csv has more than 1000000 rows$/,
    );
  });

  it("refuses a train.csv row longer than the line limit", async () => {
    const csv = Buffer.concat([Buffer.from("image,label\n"), Buffer.alloc(200 * 1024, 0x61)]);
    await expectFailedAndGone(
      await upload("line.tar.gz", tarGz([{ name: "train.csv", data: csv }])),
      /^train\.csv row 1 is longer than 65536 characters$/,
    );
  });

  it("ends the extraction of a .tar.gz holding the same 2 MiB entry twice: failed, files removed, DELETE answers", async () => {
    const data = randomBytes(2 * MIB);
    const archive = tarGz([
      { name: "train/a/big.png", data },
      { name: "train/a/big.png", data },
      { name: "train/b/other.png", data: await solidPng(4, 4, 3) },
    ]);
    await expectFailedAndGone(await upload("twice.tar.gz", archive), /holds "train\/a\/big\.png" twice/);
  });

  it("refuses a zip bomb (0.25 MB → 256 MiB, past the 80 MiB limit) by its header, before writing", async () => {
    const archive = await zipOfRepeated("train/a/zeros.png", 256 * MIB, 0);
    const started = Date.now();
    await expectFailedAndGone(await upload("bomb.zip", archive), /^the archive unpacks to more than 80\.0 MiB$/);
    expect(Date.now() - started).toBeLessThan(10_000);
  });

  it("stops a bomb within the limit by its ratio a few MB past the grace: zip and .tar.gz", async () => {
    for (const [filename, archive] of [
      ["bomb.zip", await zipOfRepeated("train/a/zeros.png", 64 * MIB, 0)],
      ["bomb.tar.gz", tarGzOfZeros("train/a/zeros.png", 64 * MIB)],
    ] as const) {
      const dataset = await expectFailedAndGone(await upload(filename, archive), /looks like a decompression bomb/);
      const unpacked = Number(/\(([\d.]+) MiB from/.exec(dataset.error)?.[1]);
      expect(unpacked).toBeGreaterThanOrEqual(16);
      expect(unpacked).toBeLessThan(20);
    }
  });

  it("refuses a .tar.gz bomb past the limit (0.3 MB → 256 MiB) by its header", async () => {
    await expectFailedAndGone(
      await upload("bomb.tar.gz", tarGzOfZeros("train/a/zeros.png", 256 * MIB)),
      /^the archive unpacks to more than 80\.0 MiB$/,
    );
  });

  it("refuses a zip whose headers declare more than the extraction limit before writing it", async () => {
    // Random bytes do not compress: the ratio guard stays quiet and the running budget must hold.
    const data = randomBytes(3 * MIB);
    const entries = Array.from({ length: 5 }, (_, i) => ({ name: `train/a/${i}.png`, data }));
    const small = await startTestApi({ TRAINYARD_UPLOAD_LIMIT_BYTES: String(128 * MIB), TRAINYARD_EXTRACT_LIMIT_BYTES: String(10 * MIB) });
    try {
      const body = multipartBody({ name: "big" }, { filename: "big.zip", data: await zip(entries) });
      const created = await small.app.inject({
        method: "POST",
        url: "/v1/datasets",
        headers: { ...auth(small.keyA), ...body.headers },
        payload: body.payload,
      });
      const id = created.json().id;
      for (let i = 0; i < 200; i += 1) {
        const dataset = (await small.app.inject({ method: "GET", url: `/v1/datasets/${id}`, headers: auth(small.keyA) })).json();
        if (dataset.status !== "processing") {
          expect(dataset).toMatchObject({ status: "failed", error: "the archive unpacks to more than 10.0 MiB" });
          return;
        }
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      throw new Error("still processing after 10 s");
    } finally {
      await small.close();
    }
  });

  it("fails, at start, data sets an API that stopped left processing, and leaves fresh ones to their API", async () => {
    const old = new Date(Date.now() - 10 * 60_000);
    await api.db.dataset.createMany({
      data: [
        { id: "ds_leftover", tenantId: api.tenantA, name: "left", status: "processing", counts: {}, createdAt: old },
        { id: "ds_alive", tenantId: api.tenantA, name: "alive", status: "processing", counts: {}, createdAt: old },
      ],
    });
    await mkdir(join(api.dataDir, "datasets", "ds_leftover", "upload"), { recursive: true });
    await writeFile(join(api.dataDir, "datasets", "ds_leftover", "upload", "upload.zip"), "partial");
    // Another API replica is processing this one: its heartbeat is fresh.
    await mkdir(join(api.dataDir, "datasets", "ds_alive"), { recursive: true });
    await writeFile(join(api.dataDir, "datasets", "ds_alive", "processing.heartbeat"), "");

    const restarted = await buildServer(loadApiConfig(api.env));
    try {
      await restarted.ready();
      const deadline = Date.now() + 10_000;
      let leftover = await api.db.dataset.findUniqueOrThrow({ where: { id: "ds_leftover" } });
      while (leftover.status === "processing" && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 50));
        leftover = await api.db.dataset.findUniqueOrThrow({ where: { id: "ds_leftover" } });
      }
      expect(leftover).toMatchObject({ status: "failed", error: INTERRUPTED_MESSAGE });
      expect(existsSync(join(api.dataDir, "datasets", "ds_leftover"))).toBe(false);
      expect(await api.db.dataset.findUniqueOrThrow({ where: { id: "ds_alive" } })).toMatchObject({ status: "processing" });
    } finally {
      await restarted.close();
    }
  });

  it("shuts down promptly after an upload whose write failed mid-extraction (SIGTERM hung before)", async () => {
    const data = randomBytes(2 * MIB);
    const archive = tarGz([
      { name: "train/a/big.png", data },
      { name: "train/a/big.png", data },
    ]);
    const other = await startTestApi({ TRAINYARD_UPLOAD_LIMIT_BYTES: String(UPLOAD_LIMIT) });
    const body = multipartBody({ name: "twice" }, { filename: "twice.tar.gz", data: archive });
    const created = await other.app.inject({
      method: "POST",
      url: "/v1/datasets",
      headers: { ...auth(other.keyA), ...body.headers },
      payload: body.payload,
    });
    const id = created.json().id;
    await new Promise((resolve) => setTimeout(resolve, 1000));
    const started = Date.now();
    const closed = await Promise.race([
      other.app.close().then(() => true),
      new Promise<false>((resolve) => setTimeout(() => resolve(false), 5_000)),
    ]);
    expect(closed).toBe(true);
    expect(Date.now() - started).toBeLessThan(5_000);
    expect((await other.db.dataset.findUniqueOrThrow({ where: { id } })).status).toBe("failed");
    await other.close().catch(() => undefined);
  });
});
