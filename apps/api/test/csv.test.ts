import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { readCsv } from "../src/services/datasets/csv.ts";
import { DatasetError } from "../src/services/datasets/errors.ts";

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "trainyard-csv-"));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const quote = (field: string) => `"${field.replaceAll('"', '""')}"`;

async function read(text: string, limits = { rows: 1e9, lineLength: 1e9 }) {
  const file = join(dir, `${Math.random()}.csv`);
  await writeFile(file, text);
  const rows: string[][] = [];
  for await (const row of readCsv(file, "train.csv", limits, new AbortController().signal)) rows.push(row);
  return rows;
}

describe("readCsv (streamed)", () => {
  it("reads quoted fields (quotes, commas, CR, LF, CRLF, astral characters) across read chunks", async () => {
    // ~300 KB: records straddle the stream's 64 KiB chunks at every kind of character.
    const rows = Array.from({ length: 6000 }, (_, i) => [
      `images/${i}.png`,
      i % 3 === 0 ? `say "hi", ${i}\r\nline two\rthree\nfour` : `class-${i % 7}`,
      `é𝄞${"x".repeat(i % 23)}`,
    ]);
    const lines = rows.map((row, i) => row.map((field, j) => ((i + j) % 2 || /[\r\n",]/.test(field) ? quote(field) : field)).join(","));
    const body = "\ufeffimage,label,note\r\n" + lines.map((line, i) => line + (i % 2 ? "\n" : "\r\n")).join("");
    expect(await read(body)).toEqual([["image", "label", "note"], ...rows]);
  });

  it("refuses more rows than the limit, blank lines counted, and a row longer than the line limit", async () => {
    await expect(read("image,label\n" + "\n".repeat(50), { rows: 10, lineLength: 100 })).rejects.toThrow(
      new DatasetError("train.csv has more than 10 rows"),
    );
    await expect(read("image,label\na.png," + "y".repeat(200) + "\n", { rows: 10, lineLength: 100 })).rejects.toThrow(
      new DatasetError("train.csv row 1 is longer than 100 characters"),
    );
    await expect(read('image,label\n"never closed\n')).rejects.toThrow(new DatasetError("train.csv: a quoted field is never closed"));
  });
});
