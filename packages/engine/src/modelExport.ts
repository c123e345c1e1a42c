import * as tf from "@tensorflow/tfjs";

export const WEIGHTS_FILE = "weights.bin";

/** A model in the TF.js layers format: what `tf.loadLayersModel` reads. */
export interface ExportedModel {
  modelJson: Record<string, unknown>;
  weights: Uint8Array;
}

function joinWeightData(data: ArrayBuffer | ArrayBuffer[] | undefined): Uint8Array {
  if (!data) return new Uint8Array(0);
  const parts = Array.isArray(data) ? data : [data];
  return new Uint8Array(Buffer.concat(parts.map((part) => Buffer.from(part))));
}

export async function exportModel(model: tf.LayersModel): Promise<ExportedModel> {
  let exported: ExportedModel | null = null;
  await model.save(
    tf.io.withSaveHandler(async (artifacts) => {
      exported = {
        modelJson: {
          format: "layers-model",
          generatedBy: `TensorFlow.js tfjs-layers v${tf.version_layers}`,
          convertedBy: null,
          modelTopology: artifacts.modelTopology,
          weightsManifest: [{ paths: [WEIGHTS_FILE], weights: artifacts.weightSpecs }],
        },
        weights: joinWeightData(artifacts.weightData as ArrayBuffer | ArrayBuffer[] | undefined),
      };
      return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: "JSON" } };
    }),
  );
  if (!exported) throw new Error("model.save did not hand over its artifacts");
  return exported;
}

/** The bytes as an ArrayBuffer of their own (decodeWeights reads a whole ArrayBuffer, not a view). */
function ownBuffer(bytes: Uint8Array): ArrayBuffer {
  return bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer;
}

function weightSpecsOf(modelJson: Record<string, unknown>): tf.io.WeightsManifestEntry[] {
  const manifest = modelJson.weightsManifest as tf.io.WeightsManifestConfig;
  return manifest.flatMap((group) => group.weights);
}

/** The weights of an exported model as named tensors; the caller disposes them. */
export function decodeExportedWeights(exported: ExportedModel): tf.NamedTensorMap {
  return tf.io.decodeWeights(ownBuffer(exported.weights), weightSpecsOf(exported.modelJson));
}

/** Loads exported weights into a model of the same architecture (resume, best-epoch restore). */
export function loadExportedWeights(model: tf.LayersModel, exported: ExportedModel): void {
  const named = decodeExportedWeights(exported);
  const byName = new Map(model.weights.map((weight) => [weight.originalName, weight]));
  for (const [name, tensor] of Object.entries(named)) {
    const target = byName.get(name);
    if (!target) throw new Error(`checkpoint has weight ${name} that the model lacks`);
    target.write(tensor);
    tensor.dispose();
  }
}

/** Optimizer state (moments, step counters) as one binary blob plus its manifest. */
export interface OptimizerState {
  specs: tf.io.WeightsManifestEntry[];
  data: Uint8Array;
}

export async function exportOptimizerState(optimizer: tf.Optimizer): Promise<OptimizerState> {
  const weights = await optimizer.getWeights();
  const { data, specs } = await tf.io.encodeWeights(weights);
  return { specs, data: joinWeightData(data as ArrayBuffer) };
}

export async function importOptimizerState(optimizer: tf.Optimizer, state: OptimizerState): Promise<void> {
  if (state.specs.length === 0) return;
  const buffer = ownBuffer(state.data);
  const named = tf.io.decodeWeights(buffer, state.specs);
  await optimizer.setWeights(state.specs.map((spec) => ({ name: spec.name, tensor: named[spec.name] })));
}
