import { describe, expect, it } from "vitest";
import { readSafetensors, SafetensorsError, toFloat32 } from "../../src/index.ts";
import { writeSafetensors } from "./writeSafetensors.ts";

/** A file with the given header text and data bytes, for headers no writer would produce. */
function rawFile(header: string, data: Buffer = Buffer.alloc(0), declaredLength?: bigint): Buffer {
  const length = Buffer.alloc(8);
  length.writeBigUInt64LE(declaredLength ?? BigInt(Buffer.byteLength(header)));
  return Buffer.concat([length, Buffer.from(header), data]);
}

describe("safetensors reader", () => {
  it("reads F32 tensors and converts F16, BF16 and F64 to float32", () => {
    const half = Buffer.alloc(6);
    [0x3c00, 0xc000, 0x3555].forEach((bits, index) => half.writeUInt16LE(bits, 2 * index)); // 1, -2, ≈0.333
    const brain = Buffer.alloc(4);
    [0x3f80, 0x4049].forEach((bits, index) => brain.writeUInt16LE(bits, 2 * index)); // 1, ≈3.14
    const double = Buffer.alloc(8);
    double.writeDoubleLE(0.1);
    const file = readSafetensors(
      writeSafetensors({
        weight: { shape: [2, 2], data: new Float32Array([1, 2, 3, 4]) },
        half: { dtype: "F16", shape: [3], data: half },
        brain: { dtype: "BF16", shape: [2], data: brain },
        double: { dtype: "F64", shape: [1], data: double },
        steps: { dtype: "I64", shape: [], data: Buffer.alloc(8) },
      }),
    );
    expect(file.get("weight")?.shape).toEqual([2, 2]);
    expect([...toFloat32("weight", file.get("weight")!)]).toEqual([1, 2, 3, 4]);
    expect([...toFloat32("half", file.get("half")!)].map((value) => Number(value.toFixed(3)))).toEqual([1, -2, 0.333]);
    expect([...toFloat32("brain", file.get("brain")!)].map((value) => Number(value.toFixed(2)))).toEqual([1, 3.14]);
    expect(toFloat32("double", file.get("double")!)[0]).toBeCloseTo(0.1, 7);
    expect(() => toFloat32("steps", file.get("steps")!)).toThrow(/not a floating-point type/);
  });

  it("rejects malformed files with an error saying what is wrong", () => {
    const cases: Array<[Buffer, RegExp]> = [
      [Buffer.alloc(5), /fewer than the 8/],
      [rawFile("{}", Buffer.alloc(0), 1n << 40n), /exceeds the file/],
      [rawFile("{not json"), /not UTF-8 JSON/],
      [rawFile("[1, 2]"), /not a JSON object/],
      [rawFile('{"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}}', Buffer.alloc(4)), /outside the 4 bytes/],
      [rawFile('{"a": {"dtype": "F32", "shape": [3], "data_offsets": [0, 8]}}', Buffer.alloc(8)), /needs 12 bytes/],
      [rawFile('{"a": {"dtype": "Q4", "shape": [2], "data_offsets": [0, 8]}}', Buffer.alloc(8)), /dtype "Q4"/],
      [rawFile('{"a": {"dtype": "F32", "shape": [-1], "data_offsets": [0, 8]}}', Buffer.alloc(8)), /shape must be/],
      [rawFile('{"a": {"dtype": "F32", "shape": [2], "data_offsets": [8, 0]}}', Buffer.alloc(8)), /outside/],
      [
        rawFile(
          '{"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}, "b": {"dtype": "F32", "shape": [1], "data_offsets": [4, 8]}}',
          Buffer.alloc(8),
        ),
        /overlaps/,
      ],
      [rawFile('{"a": {"dtype": "F32", "shape": [1], "data_offsets": [4, 8]}}', Buffer.alloc(8)), /leaves bytes 0–4 unused/],
      [rawFile('{"a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}}', Buffer.alloc(8)), /cover 4 of the 8/],
    ];
    for (const [file, message] of cases) {
      expect(() => readSafetensors(file), String(message)).toThrow(SafetensorsError);
      expect(() => readSafetensors(file)).toThrow(message);
    }
  });
});
