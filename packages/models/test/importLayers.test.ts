import * as tf from "@tensorflow/tfjs";
import { beforeAll, describe, expect, it } from "vitest";
import { getModel, importModelFiles, layersModelFiles, PREPROCESS_LAYER, type LayersModelFiles } from "../src/index.ts";

/**
 * Importing TF.js layers files (format "tfjs") as a job exports them: with the job's normalization baked
 * into the frozen preprocessing layer. The import keeps that layer and its values, so the imported network
 * takes raw pixels and answers exactly what the job's model answered.
 */
const SCALING = { scale: [1 / (255 * 0.3)], offset: [-0.5 / 0.3] };

function exported(withScaling: boolean): { model: tf.LayersModel; files: LayersModelFiles } {
  const model = getModel("lenet", {
    inputShape: [28, 28, 1],
    classes: 10,
    initializer: "glorot",
    ...(withScaling ? { inputScaling: SCALING } : {}),
  });
  return { model, files: layersModelFiles(model, model.getWeights().map((weight) => weight.dataSync() as Float32Array)) };
}

async function outputsOf(files: LayersModelFiles, input: tf.Tensor): Promise<Float32Array> {
  const model = await tf.loadLayersModel(
    tf.io.fromMemory({
      modelTopology: files.modelJson.modelTopology as tf.io.ModelJSON["modelTopology"],
      weightSpecs: (files.modelJson.weightsManifest as tf.io.WeightsManifestConfig)[0]!.weights,
      weightData: new Uint8Array(files.weights).buffer,
    }),
  );
  const output = (model.predict(input) as tf.Tensor).dataSync() as Float32Array;
  model.dispose();
  return output;
}

beforeAll(async () => {
  await tf.setBackend("cpu");
});

describe("importing TF.js layers files", () => {
  it("keeps a job export's preprocessing layer, so the imported model answers as the job's did on raw pixels", async () => {
    const { model, files } = exported(true);
    const { files: imported, classes } = importModelFiles(
      { architecture: "lenet", options: {}, inputShape: [28, 28, 1], classes: null },
      { format: "tfjs", files },
    );
    expect(classes).toBe(10);
    const names = (imported.modelJson.weightsManifest as tf.io.WeightsManifestConfig)[0]!.weights.map((spec) => spec.name);
    expect(names).toContain(`${PREPROCESS_LAYER}/depthwise_kernel`);
    const input = tf.randomUniform([2, 28, 28, 1], 0, 255, "float32", 7);
    const theirs = model.predict(input) as tf.Tensor;
    const ours = await outputsOf(imported, input);
    expect(Math.max(...Array.from(theirs.dataSync(), (value, index) => Math.abs(value - ours[index]!)))).toBeLessThan(1e-6);
    [input, theirs].forEach((tensor) => tensor.dispose());
    model.dispose();
  });

  it("imports files without a preprocessing layer as a network without one", () => {
    const { model, files } = exported(false);
    model.dispose();
    const { files: imported } = importModelFiles(
      { architecture: "lenet", options: {}, inputShape: [28, 28, 1], classes: null },
      { format: "tfjs", files },
    );
    const names = (imported.modelJson.weightsManifest as tf.io.WeightsManifestConfig)[0]!.weights.map((spec) => spec.name);
    expect(names.some((name) => name.startsWith(PREPROCESS_LAYER))).toBe(false);
    expect(Buffer.from(imported.weights).equals(Buffer.from(files.weights))).toBe(true);
  });
});
