/**
 * A reader of the safetensors format (an 8-byte little-endian header length, a JSON header
 * `{ name: { dtype, shape, data_offsets: [begin, end] } }`, then the tensors' raw little-endian
 * bytes). Files come from users: every length and offset is checked before anything is read.
 */

/** The file is not a well-formed safetensors file; the message says where. */
export class SafetensorsError extends Error {
  override name = "SafetensorsError";
}

const bytesPerElement: Record<string, number> = { F64: 8, F32: 4, F16: 2, BF16: 2, I64: 8, I32: 4, I16: 2, I8: 1, U8: 1, BOOL: 1 };
const floatTypes = new Set(["F64", "F32", "F16", "BF16"]);

/** The format's own bound on the header, so a forged length cannot make us parse a gigabyte of JSON. */
const MAX_HEADER_BYTES = 100 * 1024 * 1024;

export interface SafetensorsEntry {
  dtype: string;
  shape: number[];
  /** The tensor's bytes within the file (a view, not a copy). */
  bytes: Uint8Array;
}

export type SafetensorsFile = Map<string, SafetensorsEntry>;

function isShape(value: unknown): value is number[] {
  return Array.isArray(value) && value.length <= 8 && value.every((size) => Number.isSafeInteger(size) && size >= 0);
}

function readEntry(name: string, raw: unknown, dataBytes: number): { dtype: string; shape: number[]; begin: number; end: number } {
  if (typeof raw !== "object" || raw === null || Array.isArray(raw))
    throw new SafetensorsError(`tensor ${name}: its header entry is not an object`);
  const { dtype, shape, data_offsets: offsets } = raw as Record<string, unknown>;
  if (typeof dtype !== "string" || !(dtype in bytesPerElement)) {
    throw new SafetensorsError(`tensor ${name}: dtype ${JSON.stringify(dtype)} is not one of ${Object.keys(bytesPerElement).join(", ")}`);
  }
  if (!isShape(shape)) throw new SafetensorsError(`tensor ${name}: shape must be an array of at most 8 non-negative integers`);
  if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every((offset) => Number.isSafeInteger(offset) && offset >= 0)) {
    throw new SafetensorsError(`tensor ${name}: data_offsets must be two non-negative integers`);
  }
  const [begin, end] = offsets as [number, number];
  if (begin > end || end > dataBytes) {
    throw new SafetensorsError(`tensor ${name}: data_offsets [${begin}, ${end}] lie outside the ${dataBytes} bytes of tensor data`);
  }
  const elements = shape.reduce((product, size) => product * size, 1);
  if (elements * bytesPerElement[dtype] !== end - begin) {
    throw new SafetensorsError(
      `tensor ${name}: ${dtype} of shape [${shape.join(", ")}] needs ${elements * bytesPerElement[dtype]} bytes, its offsets span ${end - begin}`,
    );
  }
  return { dtype, shape, begin, end };
}

/** Parses the header and checks that the tensors tile the data exactly (no overlaps, no gaps), as the format requires. */
export function readSafetensors(file: Uint8Array): SafetensorsFile {
  if (file.byteLength < 8) throw new SafetensorsError(`the file has ${file.byteLength} bytes, fewer than the 8 of its header length`);
  const view = new DataView(file.buffer, file.byteOffset, file.byteLength);
  const headerLength = view.getBigUint64(0, true);
  if (headerLength > BigInt(Math.min(MAX_HEADER_BYTES, file.byteLength - 8))) {
    throw new SafetensorsError(`the header length ${headerLength} exceeds the file (${file.byteLength} bytes) or the format's 100 MB`);
  }
  const dataStart = 8 + Number(headerLength);
  let header: unknown;
  try {
    header = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(file.subarray(8, dataStart)));
  } catch (error) {
    throw new SafetensorsError(`the header is not UTF-8 JSON: ${(error as Error).message}`);
  }
  if (typeof header !== "object" || header === null || Array.isArray(header)) throw new SafetensorsError("the header is not a JSON object");
  const dataBytes = file.byteLength - dataStart;
  const entries = Object.entries(header as Record<string, unknown>)
    .filter(([name]) => name !== "__metadata__")
    .map(([name, raw]) => ({ name, ...readEntry(name, raw, dataBytes) }))
    .sort((a, b) => a.begin - b.begin || a.end - b.end);
  let covered = 0;
  for (const entry of entries) {
    if (entry.begin !== covered) {
      const problem = entry.begin < covered ? "overlaps the tensor before it" : `leaves bytes ${covered}–${entry.begin} unused`;
      throw new SafetensorsError(`tensor ${entry.name}: its data ${problem}`);
    }
    covered = entry.end;
  }
  if (covered !== dataBytes) throw new SafetensorsError(`the tensors cover ${covered} of the ${dataBytes} data bytes`);
  return new Map(
    entries.map(({ name, dtype, shape, begin, end }) => [name, { dtype, shape, bytes: file.subarray(dataStart + begin, dataStart + end) }]),
  );
}

function halfToFloat(bits: number): number {
  const sign = bits & 0x8000 ? -1 : 1;
  const exponent = (bits >> 10) & 0x1f;
  const fraction = bits & 0x3ff;
  if (exponent === 0) return sign * 2 ** -14 * (fraction / 1024);
  if (exponent === 0x1f) return fraction ? Number.NaN : sign * Number.POSITIVE_INFINITY;
  return sign * 2 ** (exponent - 15) * (1 + fraction / 1024);
}

/** A floating-point tensor's values as float32 (F16, BF16 and F64 converted); integer tensors are not weights. */
export function toFloat32(name: string, entry: SafetensorsEntry): Float32Array {
  if (!floatTypes.has(entry.dtype)) throw new SafetensorsError(`tensor ${name}: dtype ${entry.dtype} is not a floating-point type`);
  // Little-endian like every machine this runs on: F32 is a copy (aligned, owned by the caller; a Buffer's slice would be a view).
  if (entry.dtype === "F32") return new Float32Array(new Uint8Array(entry.bytes).buffer);
  const view = new DataView(entry.bytes.buffer, entry.bytes.byteOffset, entry.bytes.byteLength);
  const size = bytesPerElement[entry.dtype];
  const values = new Float32Array(entry.bytes.byteLength / size);
  const bits = new Uint32Array(values.buffer);
  for (let index = 0; index < values.length; index++) {
    const offset = index * size;
    if (entry.dtype === "F64") values[index] = view.getFloat64(offset, true);
    else if (entry.dtype === "BF16") bits[index] = view.getUint16(offset, true) << 16;
    else values[index] = halfToFloat(view.getUint16(offset, true));
  }
  return values;
}
