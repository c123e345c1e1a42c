/**
 * A small PNG decoder for the plainest PNGs only, so that predictions need not pay sharp's
 * per-image cost (about 1 ms for a 28×28 image, whatever the settings: libvips' per-pipeline
 * overhead, twice per image with the probe) where the answer is known without it.
 *
 * It applies only where its bytes are provably those `decodeImage` (sharp) yields, because the
 * training data was decoded by sharp at ingest and predictions must see the same pixels:
 *   - 8-bit, non-interlaced, colour type 0 (grey) or 2 (RGB): sharp's raw output is then the
 *     stored samples unchanged (no palette, alpha, 16-bit or interlace handling involved);
 *   - exactly the model's height and width (no resize) and a trivial channel conversion: grey to 1
 *     channel, RGB to 3, or grey to 3 by repeating the value (what sharp's b-w → sRGB does);
 *   - no chunk but IHDR, IDAT, IEND and one well-formed pHYs (which sharp itself writes): a tRNS,
 *     PLTE, iCCP, sRGB, gAMA, cHRM, eXIf (orientation), text or any other chunk could change or
 *     fail sharp's decoding, so it is declined rather than reasoned about;
 *   - every CRC right, the zlib stream complete (Adler-32 checked) and exactly the size the
 *     scanlines need, every filter type one of the five, nothing after IEND;
 *   - at most 256×256 pixels, so one call never holds the event loop for long.
 * Anything else returns null and the caller goes through sharp unchanged, errors included.
 */
import { inflateSync } from "node:zlib";
import type { ImageShape } from "./images.ts";

/** Images with more pixels than this are left to sharp. */
export const PLAIN_PNG_MAX_PIXELS = 256 * 256;

const SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];
const INT32_MAX = 0x7fffffff;
const GREY = 0;
const RGB = 2;

const CRC_TABLE = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n += 1) {
    let c = n;
    for (let bit = 0; bit < 8; bit += 1) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

/** CRC-32 (ISO 3309, as PNG uses) of data[start, end). */
export function crc32(data: Uint8Array, start = 0, end = data.length): number {
  let crc = 0xffffffff;
  for (let index = start; index < end; index += 1) crc = CRC_TABLE[(crc ^ data[index]!) & 0xff]! ^ (crc >>> 8);
  return (crc ^ 0xffffffff) >>> 0;
}

interface Header {
  width: number;
  height: number;
  channels: 1 | 3;
}

/** IHDR's 13 bytes at `at`, if they describe a PNG this decoder takes at `shape`. */
function readHeader(data: Buffer, at: number, shape: ImageShape): Header | null {
  const width = data.readUInt32BE(at);
  const height = data.readUInt32BE(at + 4);
  const [bitDepth, colourType, compression, filter, interlace] = data.subarray(at + 8, at + 13);
  if (width !== shape[1] || height !== shape[0] || width === 0 || height === 0) return null;
  if (width * height > PLAIN_PNG_MAX_PIXELS) return null;
  if (bitDepth !== 8 || compression !== 0 || filter !== 0 || interlace !== 0) return null;
  if (colourType === GREY) return { width, height, channels: 1 };
  if (colourType === RGB && shape[2] === 3) return { width, height, channels: 3 };
  return null;
}

/** A pHYs chunk's body as libspng accepts it: 9 bytes, both densities ≤ 2³¹−1, unit 0 or 1. */
function wellFormedPhys(data: Buffer, at: number, length: number): boolean {
  return length === 9 && data.readUInt32BE(at) <= INT32_MAX && data.readUInt32BE(at + 4) <= INT32_MAX && data[at + 8]! <= 1;
}

/** The filtered scanlines (the IDAT stream inflated) and the header, or null. */
function readChunks(data: Buffer, shape: ImageShape): { header: Header; filtered: Buffer } | null {
  if (data.length < 8 + 25 + 12) return null;
  for (let index = 0; index < 8; index += 1) if (data[index] !== SIGNATURE[index]) return null;
  let header: Header | null = null;
  const idat: Buffer[] = [];
  let idatEnded = false;
  let physSeen = false;
  let at = 8;
  for (;;) {
    if (at + 12 > data.length) return null;
    const length = data.readUInt32BE(at);
    const body = at + 8;
    const end = body + length;
    if (length > INT32_MAX || end + 4 > data.length) return null;
    if (crc32(data, at + 4, end) !== data.readUInt32BE(end)) return null;
    const type = data.toString("latin1", at + 4, body);
    at = end + 4;
    if (!header) {
      if (type !== "IHDR" || length !== 13) return null;
      header = readHeader(data, body, shape);
      if (!header) return null;
      continue;
    }
    if (type === "IDAT") {
      if (idatEnded) return null;
      idat.push(data.subarray(body, end));
    } else if (type === "IEND") {
      if (length !== 0 || at !== data.length || idat.length === 0) return null;
      break;
    } else if (type === "pHYs" && !physSeen && idat.length === 0 && wellFormedPhys(data, body, length)) {
      physSeen = true;
    } else {
      return null;
    }
    if (type !== "IDAT" && idat.length > 0) idatEnded = true;
  }
  const stream = idat.length === 1 ? idat[0]! : Buffer.concat(idat);
  const expected = header.height * (1 + header.width * header.channels);
  let inflated: { buffer: Buffer; engine: { bytesWritten: number } };
  try {
    // One byte over the expected size, to tell "exactly right" from "more than that".
    inflated = inflateSync(stream, { info: true, maxOutputLength: expected + 1 }) as unknown as typeof inflated;
  } catch {
    return null;
  }
  if (inflated.buffer.length !== expected || inflated.engine.bytesWritten !== stream.length) return null;
  return { header, filtered: inflated.buffer };
}

/** The five scanline filters undone, into tightly packed rows; null on an unknown filter type. */
function unfilter(filtered: Buffer, { width, height, channels }: Header): Buffer | null {
  const rowBytes = width * channels;
  const out = Buffer.allocUnsafe(rowBytes * height);
  for (let y = 0; y < height; y += 1) {
    const from = y * (rowBytes + 1) + 1;
    const row = y * rowBytes;
    const up = row - rowBytes; // the row above in `out`; only read when y > 0
    switch (filtered[from - 1]) {
      case 0:
        filtered.copy(out, row, from, from + rowBytes);
        break;
      case 1:
        for (let x = 0; x < rowBytes; x += 1) {
          const left = x >= channels ? out[row + x - channels]! : 0;
          out[row + x] = (filtered[from + x]! + left) & 0xff;
        }
        break;
      case 2:
        for (let x = 0; x < rowBytes; x += 1) {
          const above = y > 0 ? out[up + x]! : 0;
          out[row + x] = (filtered[from + x]! + above) & 0xff;
        }
        break;
      case 3:
        for (let x = 0; x < rowBytes; x += 1) {
          const left = x >= channels ? out[row + x - channels]! : 0;
          const above = y > 0 ? out[up + x]! : 0;
          out[row + x] = (filtered[from + x]! + ((left + above) >>> 1)) & 0xff;
        }
        break;
      case 4:
        for (let x = 0; x < rowBytes; x += 1) {
          const left = x >= channels ? out[row + x - channels]! : 0;
          const above = y > 0 ? out[up + x]! : 0;
          const diagonal = x >= channels && y > 0 ? out[up + x - channels]! : 0;
          const estimate = left + above - diagonal;
          const toLeft = Math.abs(estimate - left);
          const toAbove = Math.abs(estimate - above);
          const toDiagonal = Math.abs(estimate - diagonal);
          const predictor = toLeft <= toAbove && toLeft <= toDiagonal ? left : toAbove <= toDiagonal ? above : diagonal;
          out[row + x] = (filtered[from + x]! + predictor) & 0xff;
        }
        break;
      default:
        return null;
    }
  }
  return out;
}

/** Grey samples repeated into three channels. */
function greyToRgb(grey: Buffer): Buffer {
  const rgb = Buffer.allocUnsafe(grey.length * 3);
  for (let index = 0; index < grey.length; index += 1) {
    const value = grey[index]!;
    rgb[index * 3] = value;
    rgb[index * 3 + 1] = value;
    rgb[index * 3 + 2] = value;
  }
  return rgb;
}

/**
 * The PNG's pixels as uint8 HWC at `shape`, byte for byte what `decodeImage` returns for it, or
 * null if it is not a PNG this decoder takes (see the file's comment): then use sharp.
 */
export function decodePlainPng(data: Buffer, shape: ImageShape): Buffer | null {
  const read = readChunks(data, shape);
  if (!read) return null;
  const pixels = unfilter(read.filtered, read.header);
  if (!pixels) return null;
  return read.header.channels === 1 && shape[2] === 3 ? greyToRgb(pixels) : pixels;
}
