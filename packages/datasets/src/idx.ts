import { existsSync, readFileSync } from "node:fs";
import { gunzipSync } from "node:zlib";

/** Reads an IDX file (the MNIST format), gzipped or not; returns the dimensions and the raw uint8 body. */
export function readIdx(path: string): { dims: number[]; data: Uint8Array } {
  const raw = path.endsWith(".gz") ? gunzipSync(readFileSync(path)) : readFileSync(path);
  const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
  if (view.getUint16(0) !== 0 || view.getUint8(2) !== 0x08) {
    throw new Error(`${path} is not an unsigned-byte IDX file`);
  }
  const rank = view.getUint8(3);
  const dims = Array.from({ length: rank }, (_, i) => view.getUint32(4 + 4 * i));
  const headerBytes = 4 + 4 * rank;
  const expected = dims.reduce((a, b) => a * b, 1);
  if (raw.byteLength - headerBytes !== expected) {
    throw new Error(`${path}: header says ${expected} bytes, file has ${raw.byteLength - headerBytes}`);
  }
  return { dims, data: new Uint8Array(raw.buffer, raw.byteOffset + headerBytes, expected) };
}

/** Finds `<base>` or `<base>.gz` in a folder. */
export function findIdx(dir: string, base: string): string | null {
  for (const candidate of [`${dir}/${base}`, `${dir}/${base}.gz`]) {
    if (existsSync(candidate)) return candidate;
  }
  return null;
}
