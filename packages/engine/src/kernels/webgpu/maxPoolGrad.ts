/**
 * `MaxPoolGrad` on webgpu with the gradient going to the first maximum of each window (row-major
 * order, padding skipped), as the stock cpu and wasm kernels and the engine's own (../pool.ts) do.
 *
 * TF.js's webgpu kernel (4.22) records the position of the *last* maximum (`value >= max`), so
 * where a window holds a value twice — common after a ReLU, whose zeros tie — the gradient lands
 * on another pixel than on every other backend (measured: relative error 0.6–1.0 against the cpu
 * kernel on ReLU-like inputs, test/webgpuKernels.test.ts).
 *
 * Two passes, as the stock kernel: each window's first maximum (its tap index, int32), then each
 * input pixel sums the dy of the windows (at most ⌈fh/sh⌉·⌈fw/sw⌉, 4 for 3×3/2) whose maximum it
 * is.
 */
import * as tf from "@tensorflow/tfjs";

/** The parts of TF.js's WebGPUBackend and WebGPUProgram this kernel uses. */
interface WebGpuBackendLike {
  runWebGPUProgram(
    program: WebGpuProgram,
    inputs: tf.TensorInfo[],
    outputDtype: tf.DataType,
    uniforms: { type: string; data: number[] }[],
  ): tf.TensorInfo;
}
interface WebGpuProgram {
  variableNames: string[];
  uniforms: string;
  outputShape: number[];
  shaderKey: string;
  size: boolean;
  dispatchLayout: { x: number[] };
  dispatch: [number, number, number];
  workgroupSize: [number, number, number];
  getUserCode(): string;
}

const WORKGROUP = 64;
const UNIFORMS = "strides : vec2<i32>, pads : vec2<i32>, filterDims : vec2<i32>, inDims : vec2<i32>, outDims : vec2<i32>,";

/** A program over every element of `shape`, one invocation each (the backend folds a dispatch over the limit). */
function flatProgram(shape: number[], variableNames: string[], shaderKey: string, body: string): WebGpuProgram {
  const size = shape.reduce((a, b) => a * b, 1);
  return {
    variableNames,
    uniforms: UNIFORMS,
    outputShape: shape,
    shaderKey,
    size: true,
    dispatchLayout: { x: shape.map((_, i) => i) },
    dispatch: [Math.ceil(size / WORKGROUP), 1, 1],
    workgroupSize: [WORKGROUP, 1, 1],
    getUserCode: () => `
      fn main(index : i32) {
        if (index < uniforms.size) {
          let coords = getCoordsFromIndex(index);
          ${body}
        }
      }
    `,
  };
}

/** Pass 1, per window: the tap (wR·fw + wC) of its first maximum, padding skipped. */
function firstMaxPositions(outShape: number[]): WebGpuProgram {
  return flatProgram(
    outShape,
    ["x"],
    "trainyardMaxPoolFirstMaxPositions",
    `
          let r0 = coords[1] * uniforms.strides.x - uniforms.pads.x;
          let c0 = coords[2] * uniforms.strides.y - uniforms.pads.y;
          var best = 0.0;
          var found = false;
          var position = 0;
          for (var wR = 0; wR < uniforms.filterDims.x; wR++) {
            let r = r0 + wR;
            if (r < 0 || r >= uniforms.inDims.x) {
              continue;
            }
            for (var wC = 0; wC < uniforms.filterDims.y; wC++) {
              let c = c0 + wC;
              if (c < 0 || c >= uniforms.inDims.y) {
                continue;
              }
              let v = getX(coords[0], r, c, coords[3]);
              if (!found || v > best) {
                best = v;
                found = true;
                position = wR * uniforms.filterDims.y + wC;
              }
            }
          }
          setOutputAtIndexI32(index, position);`,
  );
}

/** Pass 2, per input pixel: the dy of every window containing it whose first maximum it is. */
function scatterToFirstMax(inShape: number[]): WebGpuProgram {
  return flatProgram(
    inShape,
    ["dy", "positions"],
    "trainyardMaxPoolGradFromPositions",
    `
          let xR = coords[1];
          let xC = coords[2];
          // Windows y whose span [y·s − pad, y·s − pad + f − 1] holds this pixel.
          let nR = xR + uniforms.pads.x - uniforms.filterDims.x + 1;
          let nC = xC + uniforms.pads.y - uniforms.filterDims.y + 1;
          let yRMin = select(0, (nR + uniforms.strides.x - 1) / uniforms.strides.x, nR > 0);
          let yCMin = select(0, (nC + uniforms.strides.y - 1) / uniforms.strides.y, nC > 0);
          let yRMax = min(uniforms.outDims.x - 1, (xR + uniforms.pads.x) / uniforms.strides.x);
          let yCMax = min(uniforms.outDims.y - 1, (xC + uniforms.pads.y) / uniforms.strides.y);
          var dx = 0.0;
          for (var yR = yRMin; yR <= yRMax; yR++) {
            for (var yC = yCMin; yC <= yCMax; yC++) {
              let tap = (xR - (yR * uniforms.strides.x - uniforms.pads.x)) * uniforms.filterDims.y + xC - (yC * uniforms.strides.y - uniforms.pads.y);
              if (i32(getPositions(coords[0], yR, yC, coords[3])) == tap) {
                dx = dx + getDy(coords[0], yR, yC, coords[3]);
              }
            }
          }
          setOutputAtIndex(index, dx);`,
  );
}

export interface MaxPoolGradAttrs {
  filterSize: number | [number, number];
  strides: number | [number, number];
  pad: "valid" | "same" | number | tf.backend_util.ExplicitPadding;
  dimRoundingMode?: "floor" | "round" | "ceil";
}

export function webgpuMaxPoolGrad(
  backend: tf.KernelBackend,
  dy: tf.TensorInfo,
  input: tf.TensorInfo,
  attrs: MaxPoolGradAttrs,
): tf.TensorInfo {
  const info = tf.backend_util.computePool2DInfo(
    input.shape as [number, number, number, number],
    attrs.filterSize,
    attrs.strides,
    1,
    attrs.pad,
    attrs.dimRoundingMode,
  );
  const uniforms = [
    { type: "int32", data: [info.strideHeight, info.strideWidth] },
    { type: "int32", data: [info.padInfo.top, info.padInfo.left] },
    { type: "int32", data: [info.filterHeight, info.filterWidth] },
    { type: "int32", data: [info.inHeight, info.inWidth] },
    { type: "int32", data: [info.outHeight, info.outWidth] },
  ];
  const gpu = backend as unknown as WebGpuBackendLike;
  const positions = gpu.runWebGPUProgram(firstMaxPositions(info.outShape), [input], "int32", uniforms);
  try {
    return gpu.runWebGPUProgram(scatterToFirstMax(info.inShape), [dy, positions], "float32", uniforms);
  } finally {
    backend.disposeData(positions.dataId);
  }
}
