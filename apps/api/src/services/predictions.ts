import { readArtifact, type Artifact, type Db, type Job } from "@trainyard/db";
import { PredictionInputError, type Predictor, type StoredModel } from "@trainyard/inference";
import { badRequest, conflict, Problem, unavailable, type FieldError } from "../problems.ts";
import { decodeImage, probeImage, type ImageShape } from "./datasets/images.ts";
import type { CheckpointChoice } from "./modelArtifacts.ts";

/** Images or instances one request may send. */
export const MAX_PREDICT_INPUTS = 64;

const WEIGHTS_FILE = "weights.bin";

/** A stored model to predict with: its files, what it takes and what its outputs are called. */
export interface PredictionTarget {
  /** The stored artifacts (model.json and weights) it is loaded from: the LRU's key. */
  key: string;
  inputShape: ImageShape;
  labels: string[];
  load: () => Promise<StoredModel>;
}

/** An uploaded image: the form field and filename name it in errors. */
export interface ImageUpload {
  field: string;
  filename: string;
  data: Buffer;
}

export interface PredictionAnswer {
  predictions: { top: { label: string; probability: number }[] }[];
  timing: { decodeMs: number; loadMs: number | null; inferMs: number };
}

/**
 * A target from the model.json, weights and labels artifacts (a job's checkpoint or a registered
 * version's shared files). Labels missing or short: the class index as its label.
 */
export async function targetFromArtifacts(
  db: Db,
  files: Pick<Artifact, "id" | "name">[],
  labelsArtifactId: string | null,
  inputShape: ImageShape,
): Promise<PredictionTarget | null> {
  const modelJson = files.find((file) => file.name === "model.json");
  const weights = files.find((file) => file.name === WEIGHTS_FILE);
  if (!modelJson || !weights) return null;
  const labels = labelsArtifactId ? (JSON.parse((await readArtifact(db, labelsArtifactId)).toString("utf8")) as string[]) : [];
  return {
    key: `${modelJson.id}+${weights.id}`,
    inputShape,
    labels,
    load: async () => ({
      modelJson: JSON.parse((await readArtifact(db, modelJson.id)).toString("utf8")) as Record<string, unknown>,
      weights: new Uint8Array(await readArtifact(db, weights.id)),
    }),
  };
}

/** A job's best or last checkpoint as a target; 409 while it has none. */
export async function jobTarget(db: Db, job: Job, checkpoint: CheckpointChoice): Promise<PredictionTarget> {
  const files = await db.artifact.findMany({
    where: { jobId: job.id, kind: checkpoint, name: { in: ["model.json", WEIGHTS_FILE] } },
    select: { id: true, name: true },
  });
  const labels = await db.artifact.findFirst({ where: { jobId: job.id, kind: "meta", name: "labels.json" }, select: { id: true } });
  const spec = job.spec as { inputShape: ImageShape };
  const target = await targetFromArtifacts(db, files, labels?.id ?? null, spec.inputShape);
  if (!target) throw conflict(`the job has no ${checkpoint} checkpoint yet`);
  return target;
}

function tooMany(count: number, what: string): Problem {
  return new Problem(413, "Payload Too Large", `at most ${MAX_PREDICT_INPUTS} ${what} a request, not ${count}`);
}

/** Images decoded, resized and converted as training does, into one [count, h, w, c] batch. */
export async function pixelsFromImages(images: ImageUpload[], shape: ImageShape): Promise<Float32Array> {
  if (images.length > MAX_PREDICT_INPUTS) throw tooMany(images.length, "images");
  const size = shape[0] * shape[1] * shape[2];
  const batch = new Float32Array(images.length * size);
  const errors: FieldError[] = [];
  await Promise.all(
    images.map(async (image, index) => {
      const name = image.filename || `${image.field}[${index}]`;
      try {
        const info = await probeImage(image.data, name);
        batch.set(await decodeImage(image.data, name, shape, info), index * size);
      } catch (error) {
        errors.push({ path: `${image.field}[${index}]`, message: `${(error as Error).message}` });
      }
    }),
  );
  if (errors.length > 0) {
    errors.sort((a, b) => a.path.localeCompare(b.path, "en", { numeric: true }));
    throw badRequest(
      `${errors.length === 1 ? "an image is" : `${errors.length} images are`} not readable: ${errors.map((e) => e.message).join("; ")}`,
      errors,
    );
  }
  return batch;
}

/** Raw pixel instances ([h][w][c], 0–255) checked against the model's shape, into one batch. */
export function pixelsFromInstances(instances: unknown, shape: ImageShape): Float32Array {
  if (!Array.isArray(instances) || instances.length === 0) {
    throw badRequest("send one or more instances", [{ path: "instances", message: "a non-empty array of [h][w][c] pixel arrays" }]);
  }
  if (instances.length > MAX_PREDICT_INPUTS) throw tooMany(instances.length, "instances");
  const [height, width, channels] = shape;
  const size = height * width * channels;
  const batch = new Float32Array(instances.length * size);
  const wrong = (index: number, message: string) =>
    badRequest(`instances[${index}] ${message}`, [{ path: `instances[${index}]`, message }]);
  const expected = `must be [${height}][${width}][${channels}] numbers 0–255`;
  instances.forEach((instance, index) => {
    let at = index * size;
    if (!Array.isArray(instance) || instance.length !== height) throw wrong(index, expected);
    for (const row of instance) {
      if (!Array.isArray(row) || row.length !== width) throw wrong(index, expected);
      for (const pixel of row) {
        if (!Array.isArray(pixel) || pixel.length !== channels) throw wrong(index, expected);
        for (const value of pixel) {
          if (typeof value !== "number" || !(value >= 0 && value <= 255)) throw wrong(index, expected);
          batch[at++] = value;
        }
      }
    }
  });
  return batch;
}

/** Runs the batch in the predictor's threads and names the classes in labels.json order. */
export async function predictWith(
  predictor: Predictor,
  target: PredictionTarget,
  pixels: Float32Array,
  topK: number,
  decodeMs: number,
): Promise<PredictionAnswer> {
  const count = pixels.length / (target.inputShape[0] * target.inputShape[1] * target.inputShape[2]);
  let result;
  try {
    result = await predictor.predict(target, pixels, [count, ...target.inputShape], topK);
  } catch (error) {
    if (error instanceof PredictionInputError) throw badRequest(error.message);
    throw unavailable(`the prediction failed: ${(error as Error).message}`);
  }
  return {
    predictions: result.top.map((ranked) => ({
      top: ranked.map(({ index, probability }) => ({ label: target.labels[index] ?? String(index), probability })),
    })),
    timing: { decodeMs, loadMs: result.loadMs, inferMs: result.inferMs },
  };
}
