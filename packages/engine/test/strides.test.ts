import { describe, expect, it } from "vitest";
import { gather4, transposeInto, type Dims4 } from "../src/kernels/strides.ts";

const sequence = (n: number) => Float32Array.from({ length: n }, (_, i) => i + 1);

/** dst[i0,i1,i2,i3] = src[base + Σ i_k·s_k], written out plainly. */
function gatherReference(d: Dims4, src: Float32Array, s: Dims4, base = 0): Float32Array {
  const out = new Float32Array(d[0] * d[1] * d[2] * d[3]);
  let o = 0;
  for (let i0 = 0; i0 < d[0]; i0++)
    for (let i1 = 0; i1 < d[1]; i1++)
      for (let i2 = 0; i2 < d[2]; i2++)
        for (let i3 = 0; i3 < d[3]; i3++) out[o++] = src[base + i0 * s[0] + i1 * s[1] + i2 * s[2] + i3 * s[3]];
  return out;
}

describe("transposeInto", () => {
  // Sizes around the 4×4 tile: whole tiles, remainders in rows, columns or both, and one row.
  for (const [rows, cols] of [
    [4, 4],
    [8, 12],
    [5, 7],
    [7, 5],
    [3, 9],
    [1, 6],
    [33, 64],
  ]) {
    it(`${rows}×${cols}, strided and offset on both sides`, () => {
      const sStride = cols + 3;
      const dStride = rows + 2;
      const src = sequence(5 + rows * sStride);
      const dst = new Float32Array(7 + cols * dStride).fill(-1);
      transposeInto(dst, 7, dStride, src, 5, sStride, rows, cols);
      for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) expect(dst[7 + c * dStride + r]).toBe(src[5 + r * sStride + c]);
      // Nothing outside the target cells is written.
      const written = new Set<number>();
      for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) written.add(7 + c * dStride + r);
      for (let i = 0; i < dst.length; i++) if (!written.has(i)) expect(dst[i]).toBe(-1);
    });
  }
});

describe("gather4", () => {
  // NHWC [n, h, w, c] read in other orders: the filter gradient's x → [c, h, w, n], the NCHW
  // path's → [n, c, h, w], a crop, and a contiguous copy.
  const cases: [string, Dims4, (n: number, h: number, w: number, c: number) => Dims4, number][] = [
    ["NHWC → [C, H, W, N]", [6, 3, 5, 9], (n, h, w, c) => [c, h, w, n], 0],
    ["NHWC → [N, C, H, W]", [5, 4, 6, 6], (n, h, w, c) => [n, c, h, w], 0],
    ["NHWC → [C, H, W, N], batch below a tile", [3, 2, 2, 8], (n, h, w, c) => [c, h, w, n], 0],
  ];
  for (const [name, [n, h, w, c], dimsOf] of cases) {
    it(name, () => {
      const src = sequence(n * h * w * c);
      const strides: Record<string, number> = { n: h * w * c, h: w * c, w: c, c: 1 };
      const dims = dimsOf(n, h, w, c);
      const order = name.includes("[C, H, W, N]") ? ["c", "h", "w", "n"] : ["n", "c", "h", "w"];
      const s = order.map((axis) => strides[axis]) as Dims4;
      const dst = new Float32Array(n * h * w * c);
      gather4(dst, dims, src, s);
      expect(Array.from(dst)).toEqual(Array.from(gatherReference(dims, src, s)));
    });
  }

  it("a cropped window at an offset, contiguous innermost axis", () => {
    const [n, h, w, c] = [2, 6, 6, 70];
    const src = sequence(n * h * w * c);
    const s: Dims4 = [h * w * c, w * c, c, 1];
    const dims: Dims4 = [2, 3, 4, 70];
    const base = 1 * w * c + 2 * c;
    const dst = new Float32Array(dims.reduce((a, b) => a * b, 1));
    gather4(dst, dims, src, s, base);
    expect(Array.from(dst)).toEqual(Array.from(gatherReference(dims, src, s, base)));
  });
});
