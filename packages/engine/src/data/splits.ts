import { mixSeed, type ImageSplit, type LoadedDataset } from "@trainyard/datasets";
import { identityIndices, shuffledIndices } from "./random.ts";

/** Indices into the data set's own arrays; copying images is left to batch assembly. */
export interface IndexedSplit {
  source: ImageSplit;
  indices: Uint32Array;
}

export interface TrainingSplits {
  train: IndexedSplit;
  val: IndexedSplit | null;
  test: IndexedSplit;
}

const SPLIT_SALT = 0x5eed;

/**
 * Cuts the validation set from the training set (never from the test set) with a seeded
 * shuffle, then keeps `maxTrainSamples` of the rest. Same seed → same split, so a resumed
 * job validates on the same images.
 */
export function makeSplits(
  dataset: LoadedDataset,
  options: { validationSplit: number; maxTrainSamples: number | null; seed: number },
): TrainingSplits {
  const all = (split: ImageSplit): IndexedSplit => ({ source: split, indices: identityIndices(split.count) });
  const test = all(dataset.test);
  if (dataset.val) {
    const train = all(dataset.train);
    const limit = options.maxTrainSamples ?? train.indices.length;
    return { train: { source: train.source, indices: train.indices.subarray(0, limit) }, val: all(dataset.val), test };
  }
  const order = shuffledIndices(dataset.train.count, mixSeed(options.seed, SPLIT_SALT));
  const trainLimit = options.maxTrainSamples ?? Math.round(dataset.train.count * (1 - options.validationSplit));
  const valCount = Math.round(Math.min(dataset.train.count, trainLimit / (1 - options.validationSplit)) * options.validationSplit);
  const val = valCount > 0 ? { source: dataset.train, indices: order.subarray(0, valCount) } : null;
  const trainIndices = order.subarray(valCount, Math.min(order.length, valCount + trainLimit));
  return { train: { source: dataset.train, indices: trainIndices }, val, test };
}
