import { parentPort, workerData } from "node:worker_threads";
import * as tf from "@tensorflow/tfjs";
import "@tensorflow/tfjs-backend-wasm";
// The zoo's custom layers (channel shuffle, stochastic depth, …) must be registered to deserialize its models.
import "@trainyard/models";
import { createModelCache } from "./cache.ts";
import type { PredictMessage, PredictReply, StoredModel, ThreadOptions } from "./protocol.ts";
import { topK } from "./topK.ts";

const port = parentPort!;
const options = workerData as ThreadOptions;

/** The bytes as an ArrayBuffer of their own (fromMemory reads a whole ArrayBuffer, not a view). */
function ownBuffer(bytes: Uint8Array): ArrayBuffer {
  return bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer;
}

async function load(stored: StoredModel): Promise<tf.LayersModel> {
  const manifest = stored.modelJson.weightsManifest as tf.io.WeightsManifestConfig;
  const model = await tf.loadLayersModel(
    tf.io.fromMemory({
      modelTopology: stored.modelJson.modelTopology as tf.io.ModelJSON["modelTopology"],
      weightSpecs: manifest.flatMap((group) => group.weights),
      weightData: ownBuffer(stored.weights),
    }),
  );
  // The first call compiles the wasm kernels' plans and allocates; a warm request should not pay for it.
  const shape = model.inputs[0]!.shape.map((size) => size ?? 1);
  tf.tidy(() => (model.predict(tf.zeros(shape)) as tf.Tensor).dataSync());
  return model;
}

const cache = createModelCache<tf.LayersModel>(options.cacheBytes, (model) => model.dispose());
const ready = tf.setBackend("wasm").then(async (ok) => {
  if (!ok) throw new Error("the wasm backend did not start");
  await tf.ready();
});

async function predict(message: PredictMessage): Promise<PredictReply> {
  await ready;
  let model = cache.get(message.key);
  let loadMs: number | null = null;
  const evicted: string[] = [];
  if (!model) {
    if (!message.model) return { id: message.id, missing: true };
    const started = performance.now();
    model = await load(message.model);
    loadMs = performance.now() - started;
    evicted.push(...cache.set(message.key, model, message.model.weights.byteLength));
  }
  const expected = model.inputs[0]!.shape.slice(1);
  const given = message.shape.slice(1);
  if (expected.length !== given.length || expected.some((size, axis) => size !== null && size !== given[axis])) {
    return { id: message.id, error: `the model takes [${expected.join(", ")}] inputs, not [${given.join(", ")}]`, badInput: true };
  }
  const started = performance.now();
  const output = tf.tidy(() => model.predict(tf.tensor(message.pixels, message.shape, "float32")) as tf.Tensor);
  const probabilities = (await output.data()) as Float32Array;
  const [rows, classes] = output.shape as [number, number];
  output.dispose();
  const top = topK(probabilities, rows, classes, message.topK);
  return { id: message.id, top, inferMs: performance.now() - started, loadMs, evicted };
}

port.on("message", (message: PredictMessage) => {
  predict(message).then(
    (reply) => port.postMessage(reply),
    (error: unknown) => port.postMessage({ id: message.id, error: error instanceof Error ? error.message : String(error) }),
  );
});
