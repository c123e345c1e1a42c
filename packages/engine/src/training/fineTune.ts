import type * as tf from "@tensorflow/tfjs";
import { HEAD_PREFIX, PREPROCESS_LAYER } from "@trainyard/models";
import type { JobSpec } from "@trainyard/shared";
import { TrainingError } from "../errors.ts";
import { decodeExportedWeights, type ExportedModel } from "../modelExport.ts";

export type FreezeSpec = NonNullable<JobSpec["fineTune"]>["freeze"];

export const isHeadLayer = (layer: tf.layers.Layer) => layer.name.startsWith(HEAD_PREFIX);

/**
 * Copies the source model's weights into a freshly built one, by weight name. Weights whose
 * shape differs (the classifier head when the class count changed) keep their fresh
 * initialization: that is "replace the head for N classes". Returns what was transferred.
 */
export function transferWeights(model: tf.LayersModel, source: ExportedModel): { transferred: number; reinitialized: string[] } {
  const named = decodeExportedWeights(source);
  const reinitialized: string[] = [];
  let transferred = 0;
  try {
    for (const weight of model.weights) {
      const tensor = named[weight.originalName];
      const sameShape = tensor && tensor.shape.length === weight.shape.length && tensor.shape.every((size, i) => size === weight.shape[i]);
      if (!sameShape) {
        reinitialized.push(weight.originalName);
        continue;
      }
      weight.write(tensor);
      transferred += 1;
    }
  } finally {
    Object.values(named).forEach((tensor) => tensor.dispose());
  }
  // A source without the preprocessing layer (an import that had none) leaves the job's own
  // normalization in place; only the network's weights must all come from the source.
  const backboneMissed = reinitialized.filter((name) => !name.startsWith(HEAD_PREFIX) && !name.startsWith(`${PREPROCESS_LAYER}/`));
  if (transferred === 0 || backboneMissed.length > 0) {
    throw new TrainingError(
      "INVALID_FINE_TUNE_SOURCE",
      `the source model does not fit this architecture: ${backboneMissed.length ? `no matching weights for ${backboneMissed.slice(0, 5).join(", ")}` : "nothing matched"}`,
    );
  }
  return { transferred, reinitialized };
}

/**
 * Marks layers untrainable: "backbone" freezes everything before the head, a number freezes that
 * many layers from the input (the preprocessing layer never counts: it is frozen anyway).
 */
export function freezeLayers(model: tf.LayersModel, freeze: FreezeSpec): number {
  const layers = model.layers.filter((layer) => layer.name !== PREPROCESS_LAYER && layer.getClassName() !== "InputLayer");
  let frozen = 0;
  layers.forEach((layer, index) => {
    const freezeIt = freeze === "backbone" ? !isHeadLayer(layer) : freeze === "none" ? false : index < freeze;
    if (freezeIt && layer.trainable) {
      layer.trainable = false;
      frozen += 1;
    }
  });
  return frozen;
}
