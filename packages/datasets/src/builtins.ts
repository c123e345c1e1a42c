import { FASHION_MNIST_CLASSES, fashionMnistAvailable, loadFashionMnist } from "./fashionMnist.ts";
import { SYNTHETIC_SHAPES_CLASSES, loadSyntheticShapes } from "./syntheticShapes.ts";
import { DatasetUnavailableError, type LoadedDataset } from "./types.ts";

export interface BuiltinDatasetInfo {
  name: string;
  classes: string[];
  counts: { train: number; val: number; test: number };
  imageShape: [number, number, number];
  available: boolean;
}

interface BuiltinDataset {
  info(): BuiltinDatasetInfo;
  load(): LoadedDataset;
}

const builtins = new Map<string, BuiltinDataset>([
  [
    "fashion-mnist",
    {
      info: () => ({
        name: "fashion-mnist",
        classes: FASHION_MNIST_CLASSES,
        counts: { train: 60000, val: 0, test: 10000 },
        imageShape: [28, 28, 1],
        available: fashionMnistAvailable(),
      }),
      load: () => loadFashionMnist(),
    },
  ],
  [
    "synthetic-shapes",
    {
      info: () => ({
        name: "synthetic-shapes",
        classes: SYNTHETIC_SHAPES_CLASSES,
        counts: { train: 4000, val: 0, test: 1000 },
        imageShape: [28, 28, 1],
        available: true,
      }),
      load: () => loadSyntheticShapes(),
    },
  ],
]);

export function listBuiltinDatasets(): BuiltinDatasetInfo[] {
  return [...builtins.values()].map((dataset) => dataset.info());
}

export function builtinDatasetInfo(name: string): BuiltinDatasetInfo | null {
  return builtins.get(name)?.info() ?? null;
}

/** Decoded once per process: a worker's trainer child trains one job, but tests load several. */
const loaded = new Map<string, LoadedDataset>();

export function loadBuiltinDataset(name: string): LoadedDataset {
  const builtin = builtins.get(name);
  if (!builtin) throw new DatasetUnavailableError(`unknown built-in data set "${name}"`);
  let dataset = loaded.get(name);
  if (!dataset) {
    dataset = builtin.load();
    loaded.set(name, dataset);
  }
  return dataset;
}
