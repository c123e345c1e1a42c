export { initBackend, replicasFor, type BackendInfo, type BackendPreference } from "./backend/index.ts";
export { augmentBatch, hasAugmentation, type AugmentationSpec } from "./data/augment.ts";
export { TrainingError } from "./errors.ts";
export { deviceMemoryBytes } from "./gpuMemory.ts";
export { exportModel, loadExportedWeights, WEIGHTS_FILE, type ExportedModel, type OptimizerState } from "./modelExport.ts";
export { inputScalingFor } from "./preprocessing.ts";
export {
  train,
  type TrainingCompute,
  type EpochReport,
  type TrainerHooks,
  type TrainingCheckpoint,
  type TrainingOutcome,
} from "./training/trainer.ts";
