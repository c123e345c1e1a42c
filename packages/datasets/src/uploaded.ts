import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { DatasetUnavailableError, MAX_CLASSES, type ImageSplit, type LoadedDataset } from "./types.ts";

/** The file an uploaded data set's directory is described by; written last, so its presence means complete. */
export const UPLOADED_DATASET_META = "meta.json";
/**
 * The version the API writes. 1: labels are one uint8 per image (at most 256 classes);
 * 2: labels are one uint16 little-endian per image (up to MAX_CLASSES). Both are read.
 */
export const UPLOADED_DATASET_VERSION = 2;

export interface UploadedSplitFiles {
  /** uint8, [count, height, width, channels], row-major. */
  images: string;
  /** Class indices into `classes`, one per image: uint8 in version 1, uint16 little-endian in version 2. */
  labels: string;
  count: number;
}

/** meta.json of a processed upload; the API writes it, workers read it. */
export interface UploadedDatasetMeta {
  format: "trainyard-uploaded-dataset";
  version: 1 | 2;
  name: string;
  classes: string[];
  imageShape: [number, number, number];
  splits: { train: UploadedSplitFiles; val: UploadedSplitFiles | null; test: UploadedSplitFiles };
  /** Set when the upload had no test split and one was held out of train, per class. */
  heldOutTest: { fraction: number; seed: number } | null;
  layout: "imagefolder" | "csv";
  /** Images not already of imageShape were resized (stretched) and converted; alpha is flattened onto black. */
  resizedImages: number;
  createdAt: string;
}

/** Class indices as the current version stores them: one uint16 little-endian per image. */
export function encodeUploadedLabels(labels: readonly number[]): Buffer {
  const encoded = Buffer.alloc(labels.length * 2);
  labels.forEach((label, i) => encoded.writeUInt16LE(label, i * 2));
  return encoded;
}

function bytes(path: string): Uint8Array {
  const buffer = readFileSync(path);
  return new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength);
}

/** A labels file of `count` images in `version`'s encoding, or null when its size does not match. */
function decodeLabels(raw: Uint8Array, version: 1 | 2, count: number): Uint8Array | Uint16Array | null {
  if (version === 1) return raw.length === count ? raw : null;
  if (raw.length !== count * 2) return null;
  const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
  const labels = new Uint16Array(count);
  for (let i = 0; i < count; i += 1) labels[i] = view.getUint16(i * 2, true);
  return labels;
}

function readSplit(dir: string, name: string, files: UploadedSplitFiles, meta: UploadedDatasetMeta): ImageSplit {
  const [height, width, channels] = meta.imageShape;
  const images = bytes(join(dir, files.images));
  const labels = decodeLabels(bytes(join(dir, files.labels)), meta.version, files.count);
  if (images.length !== files.count * height * width * channels || !labels) {
    throw new DatasetUnavailableError(`${dir}: the ${name} split does not hold ${files.count} images of ${meta.imageShape.join("×")}`);
  }
  const badLabel = labels.findIndex((label) => label >= meta.classes.length);
  if (badLabel >= 0) throw new DatasetUnavailableError(`${dir}: ${name} label ${badLabel} names no class`);
  return { images, labels, count: files.count };
}

/** Reads a data set the API processed from an upload (see UploadedDatasetMeta), of either version. */
export function loadUploadedDataset(dir: string): LoadedDataset {
  const metaPath = join(dir, UPLOADED_DATASET_META);
  if (!existsSync(metaPath)) throw new DatasetUnavailableError(`${dir} holds no processed data set (${UPLOADED_DATASET_META} is missing)`);
  let meta: UploadedDatasetMeta;
  try {
    meta = JSON.parse(readFileSync(metaPath, "utf8")) as UploadedDatasetMeta;
  } catch (error) {
    throw new DatasetUnavailableError(`${metaPath} is not valid JSON: ${(error as Error).message}`);
  }
  if (meta.format !== "trainyard-uploaded-dataset" || (meta.version !== 1 && meta.version !== 2)) {
    throw new DatasetUnavailableError(`${metaPath} is not a version 1 or 2 Trainyard data set`);
  }
  const classLimit = meta.version === 1 ? 256 : MAX_CLASSES;
  if (!Array.isArray(meta.classes) || meta.classes.length > classLimit) {
    throw new DatasetUnavailableError(`${metaPath}: a version ${meta.version} data set has at most ${classLimit} classes`);
  }
  try {
    return {
      name: meta.name,
      classes: meta.classes,
      imageShape: meta.imageShape,
      train: readSplit(dir, "train", meta.splits.train, meta),
      val: meta.splits.val && meta.splits.val.count > 0 ? readSplit(dir, "val", meta.splits.val, meta) : null,
      test: readSplit(dir, "test", meta.splits.test, meta),
    };
  } catch (error) {
    if (error instanceof DatasetUnavailableError) throw error;
    throw new DatasetUnavailableError(`${dir}: ${(error as Error).message}`);
  }
}
