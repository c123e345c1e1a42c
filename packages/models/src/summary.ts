import * as tf from "@tensorflow/tfjs";
import { activationFloatsPerSample } from "./memory.ts";
import { checkBuildOptions, getModelDefinition } from "./registry.ts";
import type { BuildOptions, InputShape } from "./types.ts";

export interface LayerSummary {
  name: string;
  className: string;
  /** Without the batch dimension; a multi-output layer's first output. */
  outputShape: (number | null)[];
  params: number;
}

export interface ModelSummary {
  name: string;
  inputShape: InputShape;
  classes: number;
  trainableParams: number;
  totalParams: number;
  layers: LayerSummary[];
  /** Floats of every layer's output for one sample (what training keeps for the backward pass). */
  activationFloatsPerSample: number;
}

/**
 * Stands in for a layer's weight while a model is only described: it has the weight's shape and
 * name and holds no values. TF.js's layers read only `shape` while building; the one stock layer
 * given initial weights (the preprocessing) writes them, which is ignored here.
 */
class ShapeOnlyVariable {
  readonly id = -1;
  readonly originalName: string;

  constructor(
    readonly name: string,
    readonly shape: number[],
    readonly dtype: string,
    public trainable: boolean,
  ) {
    this.originalName = name;
  }

  read() {
    return { shape: this.shape, dtype: this.dtype, dispose: () => undefined };
  }

  write() {
    return this;
  }

  dispose() {}
}

type AddWeight = tf.layers.Layer["addWeight"];
const layerPrototype = tf.layers.Layer.prototype as unknown as { addWeight: AddWeight };

/**
 * The model's layers, output shapes and parameter counts without allocating or initializing a
 * single weight: memory and time do not grow with the parameter count (AlexNet with 100 000
 * classes is 466 M parameters), so a caller can check a budget from the answer before anything
 * is built for real. Throws ModelOptionError as getModel does.
 */
export function describeModel(name: string, options: BuildOptions): ModelSummary {
  checkBuildOptions(name, options);
  const original = layerPrototype.addWeight;
  layerPrototype.addWeight = function (this: tf.layers.Layer, weightName, shape, dtype, _initializer, _regularizer, trainable) {
    const weight = new ShapeOnlyVariable(weightName, shape as number[], dtype ?? "float32", trainable ?? true);
    const self = this as unknown as { _trainableWeights: unknown[]; _nonTrainableWeights: unknown[] };
    (weight.trainable ? self._trainableWeights : self._nonTrainableWeights).push(weight);
    return weight as unknown as ReturnType<AddWeight>;
  } as AddWeight;
  try {
    let summary: ModelSummary | undefined;
    // The scope frees the few real tensors a build makes (the preprocessing's constants).
    tf.tidy(() => {
      const model = getModelDefinition(name).build(options);
      const countOf = (weights: { shape: (number | null)[] }[]) =>
        weights.reduce((sum, weight) => sum + weight.shape.reduce<number>((a, b) => a * (b ?? 1), 1), 0);
      const layers = model.layers.map((layer) => {
        const shape = (Array.isArray(layer.outputShape[0]) ? layer.outputShape[0] : layer.outputShape) as (number | null)[];
        return { name: layer.name, className: layer.getClassName(), outputShape: shape.slice(1), params: countOf(layer.weights) };
      });
      summary = {
        name,
        inputShape: options.inputShape,
        classes: options.classes,
        trainableParams: countOf(model.trainableWeights),
        totalParams: countOf(model.weights),
        layers,
        activationFloatsPerSample: activationFloatsPerSample(model),
      };
    });
    return summary!;
  } finally {
    layerPrototype.addWeight = original;
  }
}
