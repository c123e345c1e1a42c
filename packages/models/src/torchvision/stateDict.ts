import type * as tf from "@tensorflow/tfjs";
import { PREPROCESS_LAYER } from "../input.ts";
import { HEAD_PREFIX } from "../types.ts";
import { toFloat32, type SafetensorsFile } from "./safetensors.ts";

/** A weight file that does not fit the built network: every missing, extra and wrong-shaped tensor, by name. */
export class WeightsMismatchError extends Error {
  override name = "WeightsMismatchError";
  constructor(readonly problems: string[]) {
    super(
      `the weights do not fit the network: ${problems.slice(0, 3).join("; ")}${problems.length > 3 ? `; and ${problems.length - 3} more` : ""}`,
    );
  }
}

/** torchvision's module path of each architecture's last linear layer (the zoo's `head_fc`). */
const headModules: Record<string, string> = {
  resnet18: "fc",
  resnet34: "fc",
  resnet50: "fc",
  alexnet: "classifier.6",
  vgg11: "classifier.6",
  vgg16: "classifier.6",
  "mobilenet-v2": "classifier.1",
  "efficientnet-b0": "classifier.1",
};

export function headModuleOf(architecture: string): string {
  const head = headModules[architecture];
  if (!head) throw new Error(`${architecture} has no torchvision variant`);
  return head;
}

/** The class count a torchvision state_dict's classifier has (the rows of its last linear layer), or null. */
export function stateDictClasses(architecture: string, file: SafetensorsFile): number | null {
  const weight = file.get(`${headModuleOf(architecture)}.weight`);
  return weight && weight.shape.length === 2 ? weight.shape[0] : null;
}

/** A TF.js weight (`<layer>/<kind>`) as torchvision stores it: the tensor's name and shape, and how to reorder it. */
interface TorchTensor {
  name: string;
  shape: number[];
  convert: (values: Float32Array) => Float32Array;
}

const same = (values: Float32Array) => values;

/** Moves the axes of a row-major array: `order[k]` is the source axis of target axis k. */
function transpose(values: Float32Array, shape: number[], order: number[]): Float32Array {
  const target = order.map((axis) => shape[axis]);
  const sourceStrides = shape.map((_, axis) => shape.slice(axis + 1).reduce((product, size) => product * size, 1));
  const strides = order.map((axis) => sourceStrides[axis]);
  const result = new Float32Array(values.length);
  const index = new Array<number>(target.length).fill(0);
  for (let position = 0; position < result.length; position++) {
    let source = 0;
    for (let axis = 0; axis < index.length; axis++) source += index[axis] * strides[axis];
    result[position] = values[source];
    for (let axis = index.length - 1; axis >= 0; axis--) {
      if (++index[axis] < target[axis]) break;
      index[axis] = 0;
    }
  }
  return result;
}

const batchNormNames: Record<string, string> = {
  gamma: "weight",
  beta: "bias",
  moving_mean: "running_mean",
  moving_variance: "running_var",
};

function torchTensorOf(layer: tf.layers.Layer, kind: string, shape: number[], modulePath: string): TorchTensor | null {
  const className = layer.getClassName();
  if (kind === "bias") return { name: `${modulePath}.bias`, shape, convert: same };
  if (className === "BatchNormalization" && kind in batchNormNames)
    return { name: `${modulePath}.${batchNormNames[kind]}`, shape, convert: same };
  if (className === "Conv2D" && kind === "kernel") {
    const [height, width, inputs, outputs] = shape;
    const torchShape = [outputs, inputs, height, width];
    return { name: `${modulePath}.weight`, shape: torchShape, convert: (values) => transpose(values, torchShape, [2, 3, 1, 0]) };
  }
  if (className === "DepthwiseConv2D" && kind === "depthwise_kernel") {
    const [height, width, channels] = shape;
    const torchShape = [channels, 1, height, width];
    return { name: `${modulePath}.weight`, shape: torchShape, convert: (values) => transpose(values, torchShape, [2, 3, 0, 1]) };
  }
  if (className === "Dense" && kind === "kernel") {
    const [inputs, outputs] = shape;
    return { name: `${modulePath}.weight`, shape: [outputs, inputs], convert: (values) => transpose(values, [outputs, inputs], [1, 0]) };
  }
  return null;
}

const shapeText = (shape: number[]) => `[${shape.join(", ")}]`;

/** A 1×1 conv's weight [out, in, 1, 1] (squeeze-excite) feeds a dense layer as [out, in]. */
function fits(actual: number[], expected: number[]): boolean {
  const squeezed = actual.length === 4 && expected.length === 2 && actual[2] === 1 && actual[3] === 1 ? actual.slice(0, 2) : actual;
  return squeezed.length === expected.length && squeezed.every((size, axis) => size === expected[axis]);
}

/**
 * The model's weights (in `model.weights` order) from a torchvision state_dict: conv OIHW → HWIO, depthwise
 * [C, 1, kh, kw] → [kh, kw, C, 1], linear [out, in] → [in, out], batch norm's weight, bias and running
 * statistics; `num_batches_tracked` is ignored and the preprocessing layer keeps its ImageNet normalization.
 * Throws a WeightsMismatchError naming every missing, extra or wrong-shaped tensor.
 */
export function weightsFromStateDict(model: tf.LayersModel, architecture: string, file: SafetensorsFile): Float32Array[] {
  const headModule = headModuleOf(architecture);
  const problems: string[] = [];
  const used = new Set<string>();
  const values = model.weights.map((weight) => {
    const [layerName, kind] = weight.originalName.split("/");
    const layer = model.getLayer(layerName);
    if (layerName === PREPROCESS_LAYER) return weight.read().dataSync() as Float32Array;
    const modulePath = layerName === `${HEAD_PREFIX}_fc` ? headModule : layerName.replaceAll("_", ".");
    const torch = torchTensorOf(layer, kind, weight.shape as number[], modulePath);
    if (!torch) throw new Error(`no torchvision counterpart for weight ${weight.originalName} (${layer.getClassName()})`);
    const entry = file.get(torch.name);
    used.add(torch.name);
    if (!entry) {
      problems.push(`missing tensor ${torch.name} ${shapeText(torch.shape)}`);
      return new Float32Array(0);
    }
    if (!fits(entry.shape, torch.shape)) {
      problems.push(`tensor ${torch.name} has shape ${shapeText(entry.shape)}, the network needs ${shapeText(torch.shape)}`);
      return new Float32Array(0);
    }
    try {
      return torch.convert(toFloat32(torch.name, entry));
    } catch (error) {
      problems.push((error as Error).message);
      return new Float32Array(0);
    }
  });
  for (const name of file.keys()) {
    if (!used.has(name) && !name.endsWith(".num_batches_tracked")) problems.push(`unexpected tensor ${name}`);
  }
  if (problems.length > 0) throw new WeightsMismatchError(problems);
  return values;
}
