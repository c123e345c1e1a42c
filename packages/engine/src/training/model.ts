import * as tf from "@tensorflow/tfjs";
import { HEAD_PREFIX } from "@trainyard/models";
import type { JobSpec } from "@trainyard/shared";
import { isHeadLayer } from "./fineTune.ts";
import type { ParameterGroup } from "./optimizerGroups.ts";

/** Backbone at the job's rate; when fine-tuning, the new head at `headLearningRateMultiplier` × that. */
export function parameterGroups(model: tf.LayersModel, spec: JobSpec): ParameterGroup[] {
  const variablesOf = (layers: tf.layers.Layer[]) =>
    layers.flatMap((layer) => layer.trainableWeights.map((weight) => weight.read() as tf.Variable));
  if (!spec.fineTune) return [{ name: "all", variables: variablesOf(model.layers), multiplier: 1 }];
  return [
    { name: "backbone", variables: variablesOf(model.layers.filter((layer) => !isHeadLayer(layer))), multiplier: 1 },
    { name: "head", variables: variablesOf(model.layers.filter(isHeadLayer)), multiplier: spec.fineTune.headLearningRateMultiplier },
  ];
}

/**
 * The same network up to its logits (sharing every weight): training takes the cross-entropy from
 * logits, as PyTorch's CrossEntropyLoss does, which is exact and lets a diverging run show as a
 * non-finite loss; cross-entropy on clipped probabilities would stay finite and hide it.
 */
export function logitsOf(model: tf.LayersModel): tf.LayersModel {
  const softmax = model.getLayer(`${HEAD_PREFIX}_softmax`);
  return tf.model({ inputs: model.inputs, outputs: softmax.input as tf.SymbolicTensor, name: `${model.name}_logits` });
}
