import "./lenet.ts";

export { ModelOptionError, UnknownModelError } from "./errors.ts";
export { ChannelRescaling } from "./input.ts";
export { checkBuildOptions, getModel, getModelDefinition, hasModel, listModels, registerModel } from "./registry.ts";
export { HEAD_PREFIX } from "./types.ts";
export type { ArchitectureInfo, BuildOptions, InputScaling, InputShape, Initializer, ModelDefinition } from "./types.ts";
