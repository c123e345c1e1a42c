import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { DatasetUnavailableError, type ImageSplit, type LoadedDataset } from "./types.ts";

/** The file an uploaded data set's directory is described by; written last, so its presence means complete. */
export const UPLOADED_DATASET_META = "meta.json";

export interface UploadedSplitFiles {
  /** uint8, [count, height, width, channels], row-major. */
  images: string;
  /** uint8 class indices into `classes`, one per image. */
  labels: string;
  count: number;
}

/** meta.json of a processed upload; the API writes it, workers read it. */
export interface UploadedDatasetMeta {
  format: "trainyard-uploaded-dataset";
  version: 1;
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

function bytes(path: string): Uint8Array {
  const buffer = readFileSync(path);
  return new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength);
}

function readSplit(dir: string, name: string, files: UploadedSplitFiles, meta: UploadedDatasetMeta): ImageSplit {
  const [height, width, channels] = meta.imageShape;
  const images = bytes(join(dir, files.images));
  const labels = bytes(join(dir, files.labels));
  if (images.length !== files.count * height * width * channels || labels.length !== files.count) {
    throw new DatasetUnavailableError(`${dir}: the ${name} split does not hold ${files.count} images of ${meta.imageShape.join("×")}`);
  }
  const badLabel = labels.findIndex((label) => label >= meta.classes.length);
  if (badLabel >= 0) throw new DatasetUnavailableError(`${dir}: ${name} label ${badLabel} names no class`);
  return { images, labels, count: files.count };
}

/** Reads a data set the API processed from an upload (see UploadedDatasetMeta). */
export function loadUploadedDataset(dir: string): LoadedDataset {
  const metaPath = join(dir, UPLOADED_DATASET_META);
  if (!existsSync(metaPath)) throw new DatasetUnavailableError(`${dir} holds no processed data set (${UPLOADED_DATASET_META} is missing)`);
  let meta: UploadedDatasetMeta;
  try {
    meta = JSON.parse(readFileSync(metaPath, "utf8")) as UploadedDatasetMeta;
  } catch (error) {
    throw new DatasetUnavailableError(`${metaPath} is not valid JSON: ${(error as Error).message}`);
  }
  if (meta.format !== "trainyard-uploaded-dataset" || meta.version !== 1) {
    throw new DatasetUnavailableError(`${metaPath} is not a version 1 Trainyard data set`);
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
