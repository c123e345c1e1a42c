import "./lenet.ts";
import "./alexnet.ts";
import "./vgg.ts";
import "./nin.ts";
import "./googlenet.ts";
import "./resnet.ts";
import "./densenet.ts";
import "./mobilenet.ts";
import "./mobilenetv2.ts";
import "./shufflenet.ts";
import "./efficientnet.ts";
import "./torchvision/index.ts";

export { ModelOptionError, UnknownModelError } from "./errors.ts";
export {
  activationFloatsPerSample,
  formatBytes,
  layerOutputFloats,
  memoryEstimate,
  memoryEstimateOf,
  type MemoryEstimate,
  type ModelCounts,
  type OptimizerName,
} from "./memory.ts";
export { ChannelPool, ChannelShuffle, ChannelSlice, StochasticDepth } from "./customLayers.ts";
export { PREPROCESS_LAYER } from "./input.ts";
export { describeModel, type LayerSummary, type ModelSummary } from "./summary.ts";
export { checkBuildOptions, getModel, getModelDefinition, hasModel, listModels, registerModel, variantsOf } from "./registry.ts";
export { importModelFiles, type ImportFormat, type ImportRequest, type ImportSource } from "./importModel.ts";
export { layersModelFiles, WEIGHTS_FILE, type LayersModelFiles } from "./modelFiles.ts";
export { IMAGENET_SCALING, TORCHVISION } from "./torchvision/common.ts";
export { readSafetensors, SafetensorsError, toFloat32, type SafetensorsEntry, type SafetensorsFile } from "./torchvision/safetensors.ts";
export { WeightsMismatchError } from "./torchvision/stateDict.ts";
export { HEAD_PREFIX } from "./types.ts";
export type { ArchitectureInfo, BuildOptions, InputScaling, InputShape, Initializer, ModelDefinition } from "./types.ts";
