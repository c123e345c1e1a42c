/**
 * Layout helpers on Float32Arrays: strided 4-D gathers (transposes, crops, NCHW/NHWC),
 * zero-inserting scatters, and the filter flips that turn a convolution's gradients into
 * forward convolutions. Also the convolution geometry the kernels read their attributes into.
 */
import * as tf from "@tensorflow/tfjs";

export type Dims4 = [number, number, number, number];

export type Pad = tf.backend_util.ExplicitPadding | "valid" | "same" | number;

/** The attributes of a convolution kernel (or of its gradients) that fix its geometry. */
export interface ConvGeometryAttrs {
  strides: number | [number, number];
  pad: Pad;
  dilations?: number | [number, number];
  dimRoundingMode?: "floor" | "round" | "ceil";
  dataFormat?: "NHWC" | "NCHW";
}

/** Geometry of the convolution of `xShape` by `filterShape` under a kernel's attributes (NHWC unless NCHW). */
export function conv2dInfo(
  xShape: readonly number[],
  filterShape: readonly number[],
  attrs: ConvGeometryAttrs,
  depthwise = false,
): tf.backend_util.Conv2DInfo {
  return tf.backend_util.computeConv2DInfo(
    xShape as Dims4,
    filterShape as Dims4,
    attrs.strides,
    attrs.dilations ?? 1,
    attrs.pad,
    attrs.dimRoundingMode,
    depthwise,
    attrs.dataFormat === "NCHW" ? "channelsFirst" : "channelsLast",
  );
}

/**
 * dst[i0,i1,i2,i3] = src[base + i0*s0 + i1*s1 + i2*s2 + i3*s3] for the dense dst of dims `d`.
 * With the strides of a permuted source this is a transpose; with a smaller `d` a crop.
 */
export function gather4(dst: Float32Array, d: Dims4, src: Float32Array, s: Dims4, base = 0): void {
  const [d0, d1, d2, d3] = d;
  const [s0, s1, s2, s3] = s;
  let o = 0;
  if (s3 === 1) {
    for (let i0 = 0; i0 < d0; i0++) {
      for (let i1 = 0; i1 < d1; i1++) {
        let p = base + i0 * s0 + i1 * s1;
        for (let i2 = 0; i2 < d2; i2++, p += s2) {
          if (d3 >= 64) {
            dst.set(src.subarray(p, p + d3), o);
            o += d3;
          } else {
            for (let i3 = 0; i3 < d3; i3++) dst[o++] = src[p + i3];
          }
        }
      }
    }
    return;
  }
  // An outer dst axis is the source's contiguous one (NHWC → [C, H, W, N], say): a 2-D transpose
  // of that axis with the innermost one for each position of the other two.
  const unit = [s0, s1, s2].indexOf(1);
  if (unit >= 0 && d3 >= 4 && d[unit] >= 4) {
    const dStrides = [d1 * d2 * d3, d2 * d3, d3];
    const [a, b] = [0, 1, 2].filter((axis) => axis !== unit);
    for (let ia = 0; ia < d[a]; ia++) {
      for (let ib = 0; ib < d[b]; ib++) {
        const dOff = ia * dStrides[a] + ib * dStrides[b];
        const sOff = base + ia * s[a] + ib * s[b];
        transposeInto(dst, dOff, dStrides[unit], src, sOff, s3, d3, d[unit]);
      }
    }
    return;
  }
  for (let i0 = 0; i0 < d0; i0++) {
    for (let i1 = 0; i1 < d1; i1++) {
      let p2 = base + i0 * s0 + i1 * s1;
      for (let i2 = 0; i2 < d2; i2++, p2 += s2) {
        let p = p2;
        for (let i3 = 0; i3 < d3; i3++, p += s3) dst[o++] = src[p];
      }
    }
  }
}

/**
 * A strided 2-D transpose: dst[dOff + c·dStride + r] = src[sOff + r·sStride + c] for r < rows,
 * c < cols. 4×4 tiles held in locals, so that each source row and destination row is touched in
 * runs of four (about 2.5× a plain blocked loop here).
 */
export function transposeInto(
  dst: Float32Array,
  dOff: number,
  dStride: number,
  src: Float32Array,
  sOff: number,
  sStride: number,
  rows: number,
  cols: number,
): void {
  const rows4 = rows & ~3;
  const cols4 = cols & ~3;
  for (let r = 0; r < rows4; r += 4) {
    const s0 = sOff + r * sStride;
    const s1 = s0 + sStride;
    const s2 = s1 + sStride;
    const s3 = s2 + sStride;
    for (let c = 0; c < cols4; c += 4) {
      const d0 = dOff + c * dStride + r;
      const d1 = d0 + dStride;
      const d2 = d1 + dStride;
      const d3 = d2 + dStride;
      dst[d0] = src[s0 + c];
      dst[d0 + 1] = src[s1 + c];
      dst[d0 + 2] = src[s2 + c];
      dst[d0 + 3] = src[s3 + c];
      dst[d1] = src[s0 + c + 1];
      dst[d1 + 1] = src[s1 + c + 1];
      dst[d1 + 2] = src[s2 + c + 1];
      dst[d1 + 3] = src[s3 + c + 1];
      dst[d2] = src[s0 + c + 2];
      dst[d2 + 1] = src[s1 + c + 2];
      dst[d2 + 2] = src[s2 + c + 2];
      dst[d2 + 3] = src[s3 + c + 2];
      dst[d3] = src[s0 + c + 3];
      dst[d3 + 1] = src[s1 + c + 3];
      dst[d3 + 2] = src[s2 + c + 3];
      dst[d3 + 3] = src[s3 + c + 3];
    }
    for (let c = cols4; c < cols; c++) {
      const d = dOff + c * dStride + r;
      dst[d] = src[s0 + c];
      dst[d + 1] = src[s1 + c];
      dst[d + 2] = src[s2 + c];
      dst[d + 3] = src[s3 + c];
    }
  }
  for (let r = rows4; r < rows; r++) {
    const s = sOff + r * sStride;
    for (let c = 0; c < cols; c++) dst[dOff + c * dStride + r] = src[s + c];
  }
}

/** Row-major strides of a 4-D shape. */
export function strides4(shape: readonly number[]): Dims4 {
  return [shape[1] * shape[2] * shape[3], shape[2] * shape[3], shape[3], 1];
}

/**
 * Strides, in [N, H, W, C] order, of a 4-D activation stored as NHWC or NCHW, so kernels can
 * read either format through one code path.
 */
export function activationStrides(shape: readonly number[], channelsLast: boolean): Dims4 {
  if (channelsLast) return strides4(shape);
  // stored [N, C, H, W]
  const [, c, h, w] = shape;
  return [c * h * w, w, 1, h * w];
}

/**
 * Writes src ([N, H, W, C] logical, any strides) into a zeroed dst [N, Hd, Wd, C] at rows
 * top + y*sh and columns left + x*sw (zero insertion for strides, padding, cropping: positions
 * falling outside dst are dropped). dst must be zero-filled by the caller.
 */
export function scatterDilated(
  dst: Float32Array,
  dstShape: Dims4,
  src: Float32Array,
  srcDims: Dims4,
  srcStrides: Dims4,
  top: number,
  left: number,
  sh: number,
  sw: number,
): void {
  const [n, h, w, c] = srcDims;
  const [, hd, wd] = dstShape;
  const [s0, s1, s2, s3] = srcStrides;
  for (let b = 0; b < n; b++) {
    for (let y = 0; y < h; y++) {
      const yy = top + y * sh;
      if (yy < 0 || yy >= hd) continue;
      for (let x = 0; x < w; x++) {
        const xx = left + x * sw;
        if (xx < 0 || xx >= wd) continue;
        let o = ((b * hd + yy) * wd + xx) * c;
        let p = b * s0 + y * s1 + x * s2;
        if (s3 === 1 && c >= 64) {
          dst.set(src.subarray(p, p + c), o);
        } else {
          for (let k = 0; k < c; k++, p += s3) dst[o++] = src[p];
        }
      }
    }
  }
}

/**
 * The filter of the forward convolution that computes a convolution's input gradient:
 * rotated 180° in space, input and output channels swapped. [fh, fw, ci, co] → [fh, fw, co, ci].
 */
export function flipFilter(dst: Float32Array, src: Float32Array, fh: number, fw: number, ci: number, co: number): void {
  for (let i = 0; i < fh; i++) {
    for (let j = 0; j < fw; j++) {
      const s = ((fh - 1 - i) * fw + (fw - 1 - j)) * ci * co;
      const d = (i * fw + j) * co * ci;
      for (let a = 0; a < ci; a++) {
        for (let b = 0; b < co; b++) dst[d + b * ci + a] = src[s + a * co + b];
      }
    }
  }
}
