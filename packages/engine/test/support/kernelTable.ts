/**
 * Shared by the kernel check tables (kernels.test.ts: the engine's kernels on wasm and cpu;
 * webgpuKernels.test.ts: the kernels the zoo uses on webgpu): a case is a kernel, its inputs'
 * shapes and its attributes; inputs are filled from a deterministic generator, the kernel runs on
 * the backend under test and on the stock `cpu` kernel, and the results are compared.
 *
 * Tolerance: max |actual − reference| ≤ 1e-4 · max(1, max |reference|) (float32 sums of up to
 * a few thousand products, accumulated in different orders).
 */
import * as tf from "@tensorflow/tfjs";
import { stockKernel } from "../../src/kernels/context.ts";

export const TOLERANCE = 1e-4;

export type Attrs = Record<string, unknown>;

export interface Input {
  shape: number[];
  /** Fixed values (boxes, indices) instead of random ones. */
  values?: number[];
  dtype?: "float32" | "int32" | "bool";
  /** "relu" inputs have many exact zeros (ties for max pooling); "positive" ones lie in [0.1, 1.1). */
  kind?: "normal" | "relu" | "positive";
}

export interface Case {
  kernel: string;
  name: string;
  inputs: Record<string, Input | null>;
  attrs: Attrs;
  /** Reference when the stock cpu kernel does not handle the case. */
  reference?: (values: Record<string, Float32Array>) => { shape: number[]; values: Float32Array };
  /** A looser relative tolerance for this case (the reason goes next to the case). */
  tolerance?: number;
}

export interface KernelInput {
  shape: number[];
  values: Float32Array;
  dtype?: "float32" | "int32" | "bool";
}

let seed = 12345;

/** Restarts the deterministic generator (a test that wants the same values on every backend). */
export function reseed(value: number): void {
  seed = value;
}

function random(): number {
  // xorshift: deterministic across runs.
  seed ^= seed << 13;
  seed ^= seed >>> 17;
  seed ^= seed << 5;
  return ((seed >>> 0) / 4294967296) * 2 - 1;
}

export function makeValues({ shape, kind, values }: Input): Float32Array {
  if (values) return Float32Array.from(values);
  const v = new Float32Array(tf.util.sizeFromShape(shape));
  for (let i = 0; i < v.length; i++) {
    const r = random();
    v[i] = kind === "relu" ? Math.max(0, Math.round(r * 4) / 4) : kind === "positive" ? 0.6 + r / 2 : r;
  }
  return v;
}

function concat(parts: ArrayLike<number>[]): Float32Array {
  const values = new Float32Array(parts.reduce((n, p) => n + p.length, 0));
  parts.reduce((offset, p) => (values.set(p, offset), offset + p.length), 0);
  return values;
}

/** One output's shape; several outputs (SplitV, Unpack) as [count, ...first shape], their values concatenated. */
function shapeOf(outs: tf.TensorInfo[]): number[] {
  return outs.length === 1 ? outs[0].shape : [outs.length, ...outs[0].shape];
}

/** Runs a kernel on a backend: the registered one, or the backend's stock kernel. */
export async function runKernel(
  backendName: string,
  kernelName: string,
  inputs: Record<string, KernelInput | null>,
  attrs: Attrs,
  stock: boolean,
): Promise<{ shape: number[]; values: Float32Array }> {
  await tf.setBackend(backendName);
  const named: Record<string, tf.Tensor> = {};
  for (const [name, input] of Object.entries(inputs))
    if (input) named[name] = tf.tensor(input.values, input.shape, input.dtype ?? "float32");
  // Inputs named "0", "1", … are a list (Concat's).
  const names = Object.keys(named);
  const tensors = names.length > 0 && names.every((n) => /^\d+$/.test(n)) ? Object.values(named) : named;
  try {
    if (stock) {
      const config = stockKernel(kernelName, backendName) ?? tf.getKernel(kernelName, backendName);
      if (!config) throw new Error(`no stock ${kernelName} on ${backendName}`);
      const backend = tf.backend();
      const out = config.kernelFunc({ inputs: tensors as tf.NamedTensorInfoMap, attrs: attrs as tf.NamedAttrMap, backend }) as
        tf.TensorInfo | tf.TensorInfo[];
      const outs = Array.isArray(out) ? out : [out];
      const values = concat(outs.map((o) => backend.readSync(o.dataId) as Float32Array));
      outs.forEach((o) => backend.disposeData(o.dataId));
      return { shape: shapeOf(outs), values };
    }
    const result = tf.engine().runKernel(kernelName, tensors as unknown as tf.NamedTensorMap, attrs as tf.NamedAttrMap) as
      tf.Tensor | tf.Tensor[];
    const outs = Array.isArray(result) ? result : [result];
    const values = concat(await Promise.all(outs.map((t) => t.data() as Promise<ArrayLike<number>>)));
    tf.dispose(outs);
    return { shape: shapeOf(outs), values };
  } finally {
    tf.dispose(Object.values(named));
  }
}

export function relError(actual: Float32Array, expected: Float32Array): number {
  let scale = 1;
  for (const v of expected) scale = Math.max(scale, Math.abs(v));
  let err = 0;
  for (let i = 0; i < expected.length; i++) {
    const d = Math.abs(actual[i] - expected[i]);
    err = Math.max(err, Number.isNaN(d) ? Infinity : d);
  }
  return err / scale;
}

/** Fills a case's inputs from the generator, in the order the case names them. */
export function caseInputs(c: Case): { values: Record<string, Float32Array>; inputs: Record<string, KernelInput | null> } {
  const values: Record<string, Float32Array> = {};
  const inputs: Record<string, KernelInput | null> = {};
  for (const [name, input] of Object.entries(c.inputs)) {
    if (!input) continue;
    values[name] = makeValues(input);
    inputs[name] = { shape: input.shape, values: values[name], dtype: input.dtype };
  }
  return { values, inputs };
}

/** A case on `backendName` (its registered kernel) against the stock cpu kernel or the case's reference. */
export async function checkCase(c: Case, backendName: string): Promise<{ shape: number[]; expectedShape: number[]; error: number }> {
  const { values, inputs } = caseInputs(c);
  const expected = c.reference ? c.reference(values) : await runKernel("cpu", c.kernel, inputs, c.attrs, true);
  const actual = await runKernel(backendName, c.kernel, inputs, c.attrs, false);
  return { shape: actual.shape, expectedShape: expected.shape, error: relError(actual.values, expected.values) };
}

export type Dims4 = [number, number, number, number];

/** computeConv2DInfo for the tables' number[] shapes. */
export function convInfo(
  x: number[],
  f: number[],
  strides: number | [number, number],
  dilations: number | [number, number],
  pad: unknown,
  dimRoundingMode?: "floor" | "round" | "ceil",
  depthwise?: boolean,
): tf.backend_util.Conv2DInfo {
  return tf.backend_util.computeConv2DInfo(x as Dims4, f as Dims4, strides, dilations, pad as "valid", dimRoundingMode, depthwise);
}
