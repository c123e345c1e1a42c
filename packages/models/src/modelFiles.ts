import * as tf from "@tensorflow/tfjs";
import { PREPROCESS_LAYER } from "./input.ts";
import { WeightsMismatchError } from "./torchvision/stateDict.ts";
import type { InputScaling } from "./types.ts";

/** The one weight file of a stored model, as the engine's exports name it. */
export const WEIGHTS_FILE = "weights.bin";

/** A model in the TF.js layers format: model.json (topology and weights manifest) and its one weight file. */
export interface LayersModelFiles {
  modelJson: Record<string, unknown>;
  weights: Uint8Array;
}

/** The built model's topology with the given weight values (in `model.weights` order) as one weight file. */
export function layersModelFiles(model: tf.LayersModel, values: Float32Array[]): LayersModelFiles {
  const weightSpecs = model.weights.map((weight) => ({
    name: weight.originalName,
    shape: weight.shape as number[],
    dtype: "float32" as const,
  }));
  const weights = new Uint8Array(values.reduce((sum, value) => sum + value.byteLength, 0));
  let offset = 0;
  for (const value of values) {
    weights.set(new Uint8Array(value.buffer, value.byteOffset, value.byteLength), offset);
    offset += value.byteLength;
  }
  return {
    modelJson: {
      format: "layers-model",
      generatedBy: `TensorFlow.js tfjs-layers v${tf.version_layers}`,
      convertedBy: "Trainyard import",
      modelTopology: model.toJSON(null, false),
      weightsManifest: [{ paths: [WEIGHTS_FILE], weights: weightSpecs }],
    },
    weights,
  };
}

/** A layers model.json's weight specs, in file order; a manifest that is not one is a mismatch, not a crash. */
function weightSpecsOf(modelJson: Record<string, unknown>): tf.io.WeightsManifestEntry[] {
  const manifest = modelJson.weightsManifest;
  if (!Array.isArray(manifest) || !manifest.every((group) => Array.isArray((group as { weights?: unknown }).weights))) {
    throw new WeightsMismatchError(["model.json has no weightsManifest with weights"]);
  }
  return (manifest as tf.io.WeightsManifestConfig).flatMap((group) => group.weights);
}

/**
 * The input scaling a layers model carries in its frozen preprocessing layer (our exports bake the
 * job's normalization in), or undefined when it has none or the layer is not the 1×1 per-channel map.
 */
export function inputScalingOf(files: LayersModelFiles): InputScaling | undefined {
  const specs = weightSpecsOf(files.modelJson);
  const found = new Map<string, { shape: number[]; values: Float32Array }>();
  let offset = 0;
  for (const spec of specs) {
    const length = spec.shape.reduce((product, size) => product * size, 1);
    if (spec.name.startsWith(`${PREPROCESS_LAYER}/`) && offset + 4 * length <= files.weights.byteLength) {
      const values = new Float32Array(new Uint8Array(files.weights.subarray(offset, offset + 4 * length)).buffer);
      found.set(spec.name.slice(PREPROCESS_LAYER.length + 1), { shape: spec.shape, values });
    }
    offset += 4 * length;
  }
  const kernel = found.get("depthwise_kernel");
  const bias = found.get("bias");
  if (!kernel || !bias || kernel.shape.length !== 4 || kernel.shape[3] !== 1 || kernel.values.length !== bias.values.length) return undefined;
  return { scale: [...kernel.values], offset: [...bias.values] };
}

const sameShape = (a: readonly number[], b: readonly number[]) => a.length === b.length && a.every((size, axis) => size === b[axis]);

/**
 * The model's weights from another TF.js layers model's files (its weight files concatenated in manifest order):
 * by weight name when every one of ours is there (our own exports), else by position when the lists
 * have the same length and shapes (a model of the same layers under other names).
 */
export function weightsFromLayersModel(
  model: tf.LayersModel,
  files: { modelJson: Record<string, unknown>; weights: Uint8Array },
): Float32Array[] {
  const specs = weightSpecsOf(files.modelJson);
  const problems: string[] = [];
  const expectedBytes = specs.reduce((sum, spec) => sum + 4 * spec.shape.reduce((product, size) => product * size, 1), 0);
  for (const spec of specs)
    if (spec.dtype !== undefined && spec.dtype !== "float32") problems.push(`weight ${spec.name} is ${spec.dtype}, not float32`);
  if (specs.some((spec) => spec.quantization !== undefined)) problems.push("quantized weights are not supported");
  if (files.weights.byteLength !== expectedBytes)
    problems.push(`the weight files hold ${files.weights.byteLength} bytes, model.json describes ${expectedBytes}`);
  if (problems.length > 0) throw new WeightsMismatchError(problems);
  const buffer = new Uint8Array(files.weights).buffer;
  const byName = new Map<string, { name: string; shape: number[]; values: Float32Array }>();
  const inOrder: Array<{ name: string; shape: number[]; values: Float32Array }> = [];
  let offset = 0;
  for (const spec of specs) {
    const length = spec.shape.reduce((product, size) => product * size, 1);
    const entry = { name: spec.name, shape: spec.shape, values: new Float32Array(buffer, offset, length) };
    offset += 4 * length;
    byName.set(spec.name, entry);
    inOrder.push(entry);
  }
  const byNames = model.weights.every((weight) => byName.has(weight.originalName));
  const values = model.weights.map((weight, index) => {
    const source = byNames ? byName.get(weight.originalName) : inOrder[index];
    if (!source) {
      problems.push(`missing weight ${weight.originalName} [${weight.shape.join(", ")}]`);
      return new Float32Array(0);
    }
    if (!sameShape(source.shape, weight.shape as number[])) {
      problems.push(
        `weight ${source.name} has shape [${source.shape.join(", ")}], the network's ${weight.originalName} needs [${weight.shape.join(", ")}]`,
      );
    }
    return source.values;
  });
  if (!byNames && specs.length !== model.weights.length) {
    problems.push(`the file has ${specs.length} weights, the network ${model.weights.length}, and their names differ`);
  }
  if (byNames) {
    const ours = new Set(model.weights.map((weight) => weight.originalName));
    for (const spec of specs) if (!ours.has(spec.name)) problems.push(`unexpected weight ${spec.name}`);
  }
  if (problems.length > 0) throw new WeightsMismatchError(problems);
  return values;
}
