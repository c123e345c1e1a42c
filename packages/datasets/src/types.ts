/** Images decoded once into one uint8 buffer, [count, height, width, channels], row-major. */
export interface ImageSplit {
  images: Uint8Array;
  labels: Uint8Array;
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
