export { initBackend, replicasFor, type BackendInfo, type BackendPreference } from "./backend/index.ts";
export { augmentBatch, hasAugmentation, type AugmentationSpec } from "./data/augment.ts";
export { listBuiltinDatasets, builtinDatasetInfo, loadBuiltinDataset, type BuiltinDatasetInfo } from "./data/builtins.ts";
export { DatasetUnavailableError, type LoadedDataset } from "./data/types.ts";
export { loadUploadedDataset, UPLOADED_DATASET_META, type UploadedDatasetMeta, type UploadedSplitFiles } from "./data/uploaded.ts";
export { TrainingError } from "./errors.ts";
export { exportModel, loadExportedWeights, WEIGHTS_FILE, type ExportedModel, type OptimizerState } from "./modelExport.ts";
export { inputScalingFor } from "./preprocessing.ts";
export {
  train,
  type TrainingCompute,
  type EpochReport,
  type TrainerHooks,
  type TrainingCheckpoint,
  type TrainingOutcome,
} from "./trainer.ts";
export { seededRandom } from "./data/random.ts";
