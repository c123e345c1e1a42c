import { deflateSync } from "node:zlib";
import sharp from "sharp";
import { describe, expect, it } from "vitest";
import { decodeImage, probeImage, type ImageShape } from "../src/services/datasets/images.ts";
import { crc32, decodePlainPng } from "../src/services/datasets/plainPng.ts";
import { pixelsFromImages } from "../src/services/predictions.ts";

/** Deterministic pseudo-random bytes (mulberry32), so a failure can be reproduced. */
function randomBytes(length: number, seed: number): Buffer {
  let state = seed >>> 0;
  const bytes = Buffer.alloc(length);
  for (let index = 0; index < length; index += 1) {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    bytes[index] = ((t ^ (t >>> 14)) >>> 0) & 0xff;
  }
  return bytes;
}

function chunk(type: string, body: Buffer = Buffer.alloc(0)): Buffer {
  const typed = Buffer.concat([Buffer.from(type, "latin1"), body]);
  const length = Buffer.alloc(4);
  length.writeUInt32BE(body.length);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(typed));
  return Buffer.concat([length, typed, crc]);
}

const paeth = (a: number, b: number, c: number) => {
  const p = a + b - c;
  const pa = Math.abs(p - a);
  const pb = Math.abs(p - b);
  const pc = Math.abs(p - c);
  return pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
};

/** One scanline filtered with `filter` (0–4), bpp bytes a pixel, against the raw row above (or none). */
function filterRow(filter: number, row: Buffer, above: Buffer | null, bpp: number): Buffer {
  const out = Buffer.alloc(row.length + 1);
  out[0] = filter;
  for (let x = 0; x < row.length; x += 1) {
    const a = x >= bpp ? row[x - bpp]! : 0;
    const b = above ? above[x]! : 0;
    const c = above && x >= bpp ? above[x - bpp]! : 0;
    const predictor = [0, a, b, (a + b) >> 1, paeth(a, b, c)][filter]!;
    out[x + 1] = (row[x]! - predictor) & 0xff;
  }
  return out;
}

interface PngOptions {
  /** A filter type for every row, or "mixed": row y uses filter y % 5. */
  filter?: number | "mixed";
  bitDepth?: number;
  interlace?: number;
  /** Chunks between IHDR and IDAT. */
  before?: Buffer[];
  /** The IDAT stream in this many chunks. */
  idatChunks?: number;
}

const CHANNELS: Record<number, number> = { 0: 1, 2: 3, 3: 1, 4: 2, 6: 4 };

/** A PNG written here: filtered scanlines, deflated, in chunks with their CRCs. */
function writePng(pixels: Buffer, width: number, height: number, colourType: number, options: PngOptions = {}): Buffer {
  const { filter = 0, bitDepth = 8, interlace = 0, before = [], idatChunks = 1 } = options;
  const bpp = Math.max(1, (CHANNELS[colourType]! * bitDepth) / 8);
  const rowBytes = (width * CHANNELS[colourType]! * bitDepth) / 8;
  const rows: Buffer[] = [];
  for (let y = 0; y < height; y += 1) {
    const row = pixels.subarray(y * rowBytes, (y + 1) * rowBytes);
    const above = y > 0 ? pixels.subarray((y - 1) * rowBytes, y * rowBytes) : null;
    rows.push(filterRow(filter === "mixed" ? y % 5 : filter, row, above, bpp));
  }
  const stream = deflateSync(Buffer.concat(rows));
  const header = Buffer.alloc(13);
  header.writeUInt32BE(width, 0);
  header.writeUInt32BE(height, 4);
  header.set([bitDepth, colourType, 0, 0, interlace], 8);
  const step = Math.ceil(stream.length / idatChunks);
  const idat: Buffer[] = [];
  for (let at = 0; at < stream.length; at += step) idat.push(chunk("IDAT", stream.subarray(at, at + step)));
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk("IHDR", header),
    ...before,
    ...idat,
    chunk("IEND"),
  ]);
}

async function viaSharp(png: Buffer, shape: ImageShape): Promise<Buffer> {
  return decodeImage(png, "test.png", shape, await probeImage(png, "test.png"));
}

/** [width, height] */
const SIZES: [number, number][] = [
  [1, 1],
  [28, 28],
  [7, 5],
  [64, 48],
];

describe("decodePlainPng yields sharp's bytes", () => {
  for (const [width, height] of SIZES) {
    it(`sharp-encoded grey and RGB PNGs at ${width}×${height}`, async () => {
      const grey = randomBytes(width * height, width * 131 + height);
      const rgb = randomBytes(width * height * 3, width * 137 + height);
      const greyPng = await sharp(grey, { raw: { width, height, channels: 1 } }).toColourspace("b-w").png().toBuffer();
      const rgbPng = await sharp(rgb, { raw: { width, height, channels: 3 } }).png().toBuffer();
      const adaptive = await sharp(rgb, { raw: { width, height, channels: 3 } })
        .png({ adaptiveFiltering: true, compressionLevel: 9 })
        .toBuffer();
      for (const [png, shape] of [
        [greyPng, [height, width, 1]],
        [greyPng, [height, width, 3]],
        [rgbPng, [height, width, 3]],
        [adaptive, [height, width, 3]],
      ] as [Buffer, ImageShape][]) {
        const fast = decodePlainPng(png, shape);
        expect(fast).not.toBeNull();
        expect(fast!.equals(await viaSharp(png, shape))).toBe(true);
      }
      expect(decodePlainPng(greyPng, [height, width, 1])!.equals(grey)).toBe(true);
      expect(decodePlainPng(rgbPng, [height, width, 3])!.equals(rgb)).toBe(true);
    });

    for (const filter of [0, 1, 2, 3, 4, "mixed"] as const) {
      it(`hand-written PNGs with filter ${filter} at ${width}×${height}`, async () => {
        const seed = width * 1000 + height * 10 + (filter === "mixed" ? 5 : filter);
        const grey = randomBytes(width * height, seed);
        const rgb = randomBytes(width * height * 3, seed + 1);
        const greyPng = writePng(grey, width, height, 0, { filter });
        const rgbPng = writePng(rgb, width, height, 2, { filter, idatChunks: 3 });
        for (const [png, shape, raw] of [
          [greyPng, [height, width, 1], grey],
          [greyPng, [height, width, 3], null],
          [rgbPng, [height, width, 3], rgb],
        ] as [Buffer, ImageShape, Buffer | null][]) {
          const fast = decodePlainPng(png, shape);
          expect(fast).not.toBeNull();
          const reference = await viaSharp(png, shape);
          expect(fast!.equals(reference)).toBe(true);
          if (raw) expect(fast!.equals(raw)).toBe(true);
        }
      });
    }
  }

  it("a pHYs chunk as sharp writes it is taken", async () => {
    const grey = randomBytes(28 * 28, 7);
    const png = await sharp(grey, { raw: { width: 28, height: 28, channels: 1 } }).toColourspace("b-w").png().toBuffer();
    expect(png.includes(Buffer.from("pHYs"))).toBe(true);
    expect(decodePlainPng(png, [28, 28, 1])!.equals(await viaSharp(png, [28, 28, 1]))).toBe(true);
  });
});

describe("decodePlainPng declines (null) what it does not take", () => {
  const grey = randomBytes(28 * 28, 42);
  const rgb = randomBytes(28 * 28 * 3, 43);
  const plain = writePng(grey, 28, 28, 0, { filter: "mixed" });
  const shape: ImageShape = [28, 28, 1];

  it("the plain PNG the cases below start from is taken", () => {
    expect(decodePlainPng(plain, shape)!.equals(grey)).toBe(true);
  });

  it("palette", async () => {
    const png = await sharp(rgb, { raw: { width: 28, height: 28, channels: 3 } }).png({ palette: true }).toBuffer();
    expect(png[25]).toBe(3);
    expect(decodePlainPng(png, [28, 28, 3])).toBeNull();
    expect(decodePlainPng(png, shape)).toBeNull();
  });

  it("16-bit", () => {
    const png = writePng(randomBytes(28 * 28 * 2, 44), 28, 28, 0, { bitDepth: 16 });
    expect(decodePlainPng(png, shape)).toBeNull();
  });

  it("interlaced", async () => {
    const png = await sharp(grey, { raw: { width: 28, height: 28, channels: 1 } })
      .toColourspace("b-w")
      .png({ progressive: true })
      .toBuffer();
    expect(png[28]).toBe(1);
    expect(decodePlainPng(png, shape)).toBeNull();
    expect(decodePlainPng(writePng(grey, 28, 28, 0, { interlace: 1 }), shape)).toBeNull();
  });

  it("grey with alpha", () => {
    const png = writePng(randomBytes(28 * 28 * 2, 45), 28, 28, 4);
    expect(decodePlainPng(png, shape)).toBeNull();
    expect(decodePlainPng(png, [28, 28, 3])).toBeNull();
  });

  it("RGBA", async () => {
    const png = await sharp(randomBytes(28 * 28 * 4, 46), { raw: { width: 28, height: 28, channels: 4 } }).png().toBuffer();
    expect(png[25]).toBe(6);
    expect(decodePlainPng(png, [28, 28, 3])).toBeNull();
  });

  it("tRNS present (sharp then flattens the transparent grey level to black)", async () => {
    const transparent = grey[0]!;
    const png = writePng(grey, 28, 28, 0, { before: [chunk("tRNS", Buffer.from([0, transparent]))] });
    expect(decodePlainPng(png, shape)).toBeNull();
    expect((await viaSharp(png, shape))[0]).toBe(0);
  });

  it("other ancillary chunks that sharp may act on (gAMA, sRGB, iCCP, eXIf, text)", () => {
    const gama = Buffer.alloc(4);
    gama.writeUInt32BE(100_000);
    for (const extra of [
      chunk("gAMA", gama),
      chunk("sRGB", Buffer.from([0])),
      chunk("iCCP", Buffer.concat([Buffer.from("x\0\0"), deflateSync(Buffer.alloc(8))])),
      chunk("eXIf", Buffer.from("MM\0*\0\0\0\x08\0\0", "latin1")),
      chunk("tEXt", Buffer.from("Comment\0hello", "latin1")),
    ]) {
      expect(decodePlainPng(writePng(grey, 28, 28, 0, { before: [extra] }), shape)).toBeNull();
    }
  });

  it("a size other than the model's, or RGB for a one-channel model", () => {
    expect(decodePlainPng(plain, [32, 32, 1])).toBeNull();
    expect(decodePlainPng(plain, [28, 27, 1])).toBeNull();
    expect(decodePlainPng(writePng(rgb, 28, 28, 2), shape)).toBeNull();
  });

  it("more pixels than the bound", () => {
    const png = writePng(randomBytes(300 * 300, 47), 300, 300, 0);
    expect(decodePlainPng(png, [300, 300, 1])).toBeNull();
  });

  it("a corrupted CRC, or data that no longer matches its CRC", () => {
    const badCrc = Buffer.from(plain);
    badCrc[plain.length - 13] ^= 0x01; // the last byte of IDAT's CRC (IEND's 12 bytes follow)
    expect(decodePlainPng(badCrc, shape)).toBeNull();
    const badData = Buffer.from(plain);
    badData[8 + 25 + 8 + 2] ^= 0x40; // a byte inside IDAT
    expect(decodePlainPng(badData, shape)).toBeNull();
  });

  it("a truncated file", () => {
    for (const length of [0, 7, 8, 20, 40, plain.length - 12, plain.length - 20, plain.length - 1]) {
      expect(decodePlainPng(plain.subarray(0, length), shape)).toBeNull();
    }
  });

  it("an unknown filter type, a short or long zlib stream, bytes after IEND", () => {
    const rows = Buffer.concat(Array.from({ length: 28 }, (_, y) => Buffer.concat([Buffer.from([y === 3 ? 5 : 0]), grey.subarray(y * 28, y * 28 + 28)])));
    const build = (stream: Buffer) => {
      const header = Buffer.alloc(13);
      header.writeUInt32BE(28, 0);
      header.writeUInt32BE(28, 4);
      header.set([8, 0, 0, 0, 0], 8);
      return Buffer.concat([plain.subarray(0, 8), chunk("IHDR", header), chunk("IDAT", stream), chunk("IEND")]);
    };
    expect(decodePlainPng(build(deflateSync(rows)), shape)).toBeNull();
    const good = Buffer.from(rows);
    good[3 * 29] = 0;
    expect(decodePlainPng(build(deflateSync(good)), shape)!.equals(grey)).toBe(true);
    expect(decodePlainPng(build(deflateSync(good.subarray(0, good.length - 1))), shape)).toBeNull();
    expect(decodePlainPng(build(deflateSync(Buffer.concat([good, Buffer.from([0])]))), shape)).toBeNull();
    expect(decodePlainPng(build(Buffer.concat([deflateSync(good), Buffer.from([1, 2])])), shape)).toBeNull();
    expect(decodePlainPng(Buffer.concat([build(deflateSync(good)), Buffer.from([0])]), shape)).toBeNull();
  });
});

describe("pixelsFromImages with the fast path", () => {
  it("gives sharp's pixels for plain and declined PNGs alike, and sharp's error for an unreadable one", async () => {
    const grey = randomBytes(28 * 28, 48);
    const plain = writePng(grey, 28, 28, 0, { filter: 4 });
    const interlaced = await sharp(grey, { raw: { width: 28, height: 28, channels: 1 } })
      .toColourspace("b-w")
      .png({ progressive: true })
      .toBuffer();
    const batch = await pixelsFromImages(
      [
        { field: "image", filename: "a.png", data: plain },
        { field: "image", filename: "b.png", data: interlaced },
      ],
      [28, 28, 1],
    );
    expect(Array.from(batch)).toEqual([...Array.from(grey), ...Array.from(grey)]);
    await expect(
      pixelsFromImages([{ field: "image", filename: "cut.png", data: plain.subarray(0, plain.length - 30) }], [28, 28, 1]),
    ).rejects.toThrow(/cut\.png is not a readable image/);
  });
});
