import { setImmediate as nextTurn } from "node:timers/promises";
import { readArtifact, type Artifact, type Db, type SqlPool } from "@trainyard/db";
import { PredictionInputError, type Predictor, type StoredModel } from "@trainyard/inference";
import { badRequest, conflict, notFound, Problem, unavailable, type FieldError } from "../problems.ts";
import { decodeImage, probeImage, type ImageShape } from "./datasets/images.ts";
import { decodePlainPng } from "./datasets/plainPng.ts";

export type { ImageShape };
import type { CheckpointChoice } from "./modelArtifacts.ts";

/** Images or instances one request may send. */
export const MAX_PREDICT_INPUTS = 64;

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

/** The weight files model.json names, in its manifest order (TF.js concatenates its shards so). */
function weightPaths(modelJson: Record<string, unknown>): string[] {
  const manifest = (modelJson.weightsManifest ?? []) as { paths: string[] }[];
  return manifest.flatMap((group) => group.paths);
}

/**
 * A target from stored files (a job's checkpoint, or a registered version's shared ones):
 * model.json and the weight files its manifest names. Labels missing or short: the class index
 * as its label. Null without a model.json.
 */
export function targetFromArtifacts(
  db: Db,
  files: Pick<Artifact, "id" | "name">[],
  labels: string[],
  inputShape: ImageShape,
): PredictionTarget | null {
  const modelJson = files.find((file) => file.name === "model.json");
  if (!modelJson) return null;
  const others = files.filter((file) => file !== modelJson).map((file) => file.id);
  return {
    key: [modelJson.id, ...others.sort()].join("+"),
    inputShape,
    labels,
    load: async () => {
      const json = JSON.parse((await readArtifact(db, modelJson.id)).toString("utf8")) as Record<string, unknown>;
      const shards = await Promise.all(
        weightPaths(json).map(async (path) => {
          const file = files.find((candidate) => candidate.name === path);
          if (!file) throw new Error(`the stored model has no weight file ${path}`);
          return readArtifact(db, file.id);
        }),
      );
      return { modelJson: json, weights: new Uint8Array(Buffer.concat(shards)) };
    },
  };
}

/** labels.json by artifact id: an artifact is never rewritten in place (a new one replaces it), so this never goes stale. */
const labelsCache = new Map<string, string[]>();
const LABELS_CACHE_SIZE = 256;

async function labelsOf(db: Db, artifactId: string | undefined): Promise<string[]> {
  if (!artifactId) return [];
  const cached = labelsCache.get(artifactId);
  if (cached) return cached;
  const labels = JSON.parse((await readArtifact(db, artifactId)).toString("utf8")) as string[];
  if (labelsCache.size >= LABELS_CACHE_SIZE) labelsCache.delete(labelsCache.keys().next().value!);
  labelsCache.set(artifactId, labels);
  return labels;
}

/** The job (the tenant's only) with its checkpoint's files and labels.json, in one statement. */
const SELECT_JOB_FILES = `SELECT j."spec"->'inputShape' AS "inputShape", a."id", a."name", a."kind"
  FROM "Job" j LEFT JOIN "Artifact" a
    ON a."jobId" = j."id" AND (a."kind" = $3 OR (a."kind" = 'meta' AND a."name" = 'labels.json'))
  WHERE j."id" = $1 AND j."tenantId" = $2`;

/**
 * A job's best or last checkpoint as a target, in one round trip (node-postgres, as the job
 * service's hot path). Another tenant's or an unknown job: 404; no checkpoint yet: 409.
 */
export async function jobTarget(
  db: Db,
  sql: SqlPool,
  tenantId: string,
  jobId: string,
  checkpoint: CheckpointChoice,
): Promise<PredictionTarget> {
  const { rows } = await sql.query<{ inputShape: ImageShape; id: string | null; name: string | null; kind: string | null }>({
    name: "trainyard_predict_job_files",
    text: SELECT_JOB_FILES,
    values: [jobId, tenantId, checkpoint],
  });
  if (rows.length === 0) throw notFound(`job ${jobId}`);
  const files = rows.flatMap((row) => (row.id && row.name ? [{ id: row.id, name: row.name, kind: row.kind }] : []));
  const labels = await labelsOf(db, files.find((file) => file.kind === "meta")?.id);
  const target = targetFromArtifacts(
    db,
    files.filter((file) => file.kind === checkpoint),
    labels,
    rows[0]!.inputShape,
  );
  if (!target) throw conflict(`the job has no ${checkpoint} checkpoint yet`);
  return target;
}

function tooMany(count: number, what: string): Problem {
  return new Problem(413, "Payload Too Large", `at most ${MAX_PREDICT_INPUTS} ${what} a request, not ${count}`);
}

/**
 * Images decoded, resized and converted as training does, into one [count, h, w, c] batch. A plain
 * PNG already of the model's size is decoded by the small decoder that yields sharp's bytes without
 * sharp's per-image cost (plainPng.ts), on the event loop but one image per turn of it, so health
 * checks and other requests never wait behind a whole batch; anything else goes to sharp (libuv's threads).
 */
export async function pixelsFromImages(images: ImageUpload[], shape: ImageShape): Promise<Float32Array> {
  if (images.length > MAX_PREDICT_INPUTS) throw tooMany(images.length, "images");
  const size = shape[0] * shape[1] * shape[2];
  const batch = new Float32Array(images.length * size);
  const errors: FieldError[] = [];
  const forSharp: number[] = [];
  for (const [index, image] of images.entries()) {
    const plain = decodePlainPng(image.data, shape);
    if (plain) batch.set(plain, index * size);
    else forSharp.push(index);
    if (plain && index < images.length - 1) await nextTurn();
  }
  await Promise.all(
    forSharp.map(async (index) => {
      const image = images[index]!;
      const name = image.filename || `${image.field}[${index}]`;
      try {
        batch.set(await decodeImage(image.data, name, shape, await probeImage(image.data, name)), index * size);
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
