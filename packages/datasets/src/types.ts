/** Most classes a data set, an imported model or a prediction may have: labels are stored as uint16. */
export const MAX_CLASSES = 10_000;

/** Images decoded once into one uint8 buffer, [count, height, width, channels], row-major. */
export interface ImageSplit {
  images: Uint8Array;
  /** Class indices, one per image: uint8 for the built-ins and version 1 uploads, uint16 from version 2 on. */
  labels: Uint8Array | Uint16Array;
  count: number;
}

export interface LoadedDataset {
  name: string;
  classes: string[];
  imageShape: [number, number, number];
  train: ImageSplit;
  /** A separate validation split when the data set has one; otherwise it is cut from train. */
  val: ImageSplit | null;
  test: ImageSplit;
}

export class DatasetUnavailableError extends Error {
  override name = "DatasetUnavailableError";
}
