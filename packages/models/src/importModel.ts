import { ModelOptionError } from "./errors.ts";
import { inputScalingOf, layersModelFiles, weightsFromLayersModel, type LayersModelFiles } from "./modelFiles.ts";
import { getModel } from "./registry.ts";
import { TORCHVISION } from "./torchvision/common.ts";
import { readSafetensors } from "./torchvision/safetensors.ts";
import { stateDictClasses, weightsFromStateDict } from "./torchvision/stateDict.ts";
import { HEAD_PREFIX, type InputShape } from "./types.ts";

export type ImportFormat = "tfjs" | "torchvision";

export interface ImportRequest {
  architecture: string;
  options: Record<string, unknown>;
  inputShape: InputShape;
  /** From the labels when given; else the file's classifier says. */
  classes: number | null;
}

export type ImportSource = { format: "torchvision"; safetensors: Uint8Array } | { format: "tfjs"; files: LayersModelFiles };

/** The rows of a layers model's `head_fc/bias`, or null. */
function layersModelClasses(files: LayersModelFiles): number | null {
  const manifest = files.modelJson.weightsManifest as Array<{ weights?: Array<{ name: string; shape: number[] }> }> | undefined;
  const bias = Array.isArray(manifest)
    ? manifest.flatMap((group) => group.weights ?? []).find((spec) => spec.name === `${HEAD_PREFIX}_fc/bias`)
    : undefined;
  return bias && bias.shape.length === 1 ? bias.shape[0] : null;
}

/**
 * Builds the architecture and fills it with the file's weights: a torchvision state_dict (safetensors) or a TF.js
 * layers model. Answers the built model's files in the TF.js layers format and its class count. Bad input throws
 * a SafetensorsError, WeightsMismatchError or ModelOptionError; CPU-heavy, so callers run it off their event loop.
 */
export function importModelFiles(request: ImportRequest, source: ImportSource): { files: LayersModelFiles; classes: number } {
  if (source.format === "torchvision" && request.options.variant !== TORCHVISION) {
    throw new ModelOptionError(`torchvision weights need architectureOptions.variant "${TORCHVISION}"`, "architectureOptions.variant");
  }
  const stateDict = source.format === "torchvision" ? readSafetensors(source.safetensors) : null;
  const found = stateDict
    ? stateDictClasses(request.architecture, stateDict)
    : layersModelClasses((source as { files: LayersModelFiles }).files);
  const classes = request.classes ?? found;
  if (classes === null)
    throw new ModelOptionError("the file's classifier was not found, so labels are needed to know the class count", "labels");
  // A layers model from one of our jobs carries the job's normalization as a frozen preprocessing
  // layer: built with it, so the imported network takes raw pixels exactly as it did there.
  const inputScaling = source.format === "tfjs" ? inputScalingOf(source.files) : undefined;
  // Every weight is replaced: the quickest initializer will do.
  const model = getModel(request.architecture, {
    inputShape: request.inputShape,
    classes,
    options: request.options,
    initializer: "glorot",
    ...(inputScaling ? { inputScaling } : {}),
  });
  try {
    const values = stateDict
      ? weightsFromStateDict(model, request.architecture, stateDict)
      : weightsFromLayersModel(model, (source as { files: LayersModelFiles }).files);
    return { files: layersModelFiles(model, values), classes };
  } finally {
    model.dispose();
  }
}
