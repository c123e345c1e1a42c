import * as tf from "@tensorflow/tfjs";
import { getModel } from "@trainyard/models";
import type { StoredModel } from "../src/index.ts";

/** A zoo LeNet with random weights, and its model.json + weights.bin as a job stores them. */
export function randomLenet(inputShape: [number, number, number] = [28, 28, 1], classes = 10) {
  return randomZooModel("lenet", inputShape, classes);
}

/** A zoo network with random weights (raw 0–255 pixels in, probabilities out), and its stored files. */
export async function randomZooModel(
  architecture: string,
  inputShape: [number, number, number],
  classes: number,
): Promise<{ model: tf.LayersModel; stored: StoredModel }> {
  const model = getModel(architecture, {
    inputShape,
    classes,
    inputScaling: { scale: Array(inputShape[2]).fill(1 / 255), offset: Array(inputShape[2]).fill(0) },
  });
  let stored: StoredModel | null = null;
  await model.save(
    tf.io.withSaveHandler(async (artifacts) => {
      const data = artifacts.weightData as ArrayBuffer;
      stored = {
        modelJson: {
          format: "layers-model",
          modelTopology: artifacts.modelTopology,
          weightsManifest: [{ paths: ["weights.bin"], weights: artifacts.weightSpecs }],
        },
        weights: new Uint8Array(data.slice(0)),
      };
      return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: "JSON" } };
    }),
  );
  return { model, stored: stored! };
}

/** What the model gives on the same pixels, run directly (tfjs's default backend, this thread). */
export function predictDirectly(model: tf.LayersModel, pixels: Float32Array, shape: number[]): number[][] {
  return tf.tidy(() => (model.predict(tf.tensor(pixels, shape)) as tf.Tensor).arraySync() as number[][]);
}
