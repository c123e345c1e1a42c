/**
 * The data sets Trainyard knows, without tensors: the built-in catalogue, the uploaded data set's
 * meta.json format, the readers that decode both into uint8 buffers, and the seeded PRNG their
 * order and hold-outs are drawn from. The API, the CLI and the engine import them from here.
 */
export { listBuiltinDatasets, builtinDatasetInfo, loadBuiltinDataset, type BuiltinDatasetInfo } from "./builtins.ts";
export { DatasetUnavailableError, MAX_CLASSES, type ImageSplit, type LoadedDataset } from "./types.ts";
export {
  encodeUploadedLabels,
  loadUploadedDataset,
  UPLOADED_DATASET_META,
  UPLOADED_DATASET_VERSION,
  type UploadedDatasetMeta,
  type UploadedSplitFiles,
} from "./uploaded.ts";
export { mixSeed, seededRandom } from "./random.ts";
