/** Test support: a safetensors file from named tensors (F32 from a Float32Array, else the given raw little-endian bytes). */
export function writeSafetensors(tensors: Record<string, { dtype?: string; shape: number[]; data: Float32Array | Uint8Array }>): Buffer {
  const header: Record<string, unknown> = {};
  const blobs: Buffer[] = [];
  let offset = 0;
  for (const [name, { dtype = "F32", shape, data }] of Object.entries(tensors)) {
    const bytes = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
    header[name] = { dtype, shape, data_offsets: [offset, offset + bytes.byteLength] };
    blobs.push(bytes);
    offset += bytes.byteLength;
  }
  const json = Buffer.from(JSON.stringify(header));
  const length = Buffer.alloc(8);
  length.writeBigUInt64LE(BigInt(json.byteLength));
  return Buffer.concat([length, json, ...blobs]);
}
