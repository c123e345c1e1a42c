import type * as tf from "@tensorflow/tfjs";
import { ModelOptionError, UnknownModelError } from "./errors.ts";
import { readOptions, type OptionSpec, type ParsedOptions } from "./options.ts";
import type { ArchitectureInfo, BuildOptions, ModelDefinition } from "./types.ts";

const definitions = new Map<string, ModelDefinition>();

export function registerModel(definition: ModelDefinition): void {
  if (definitions.has(definition.name)) {
    throw new Error(`model "${definition.name}" is already registered`);
  }
  definitions.set(definition.name, definition);
}

/** A family's definition in terms of its option spec: the options are validated by the spec and reach build parsed. */
export interface ModelWithOptions<S extends Record<string, OptionSpec>> extends Omit<ModelDefinition, "checkOptions" | "build"> {
  optionSpec: S;
  build(options: BuildOptions, config: ParsedOptions<S>): tf.LayersModel;
}

/** registerModel for a family with an option spec: checkOptions and build both read the options through it. */
export function registerModelWithOptions<S extends Record<string, OptionSpec>>({ optionSpec, build, ...info }: ModelWithOptions<S>): void {
  registerModel({
    ...info,
    checkOptions: (options) => void readOptions(options, optionSpec),
    build: (options) => build(options, readOptions(options.options, optionSpec)),
  });
}

export function hasModel(name: string): boolean {
  return definitions.has(name);
}

export function getModelDefinition(name: string): ModelDefinition {
  const definition = definitions.get(name);
  if (!definition) {
    throw new UnknownModelError(`unknown architecture "${name}"; known: ${[...definitions.keys()].join(", ")}`);
  }
  return definition;
}

export function listModels(): ArchitectureInfo[] {
  return [...definitions.values()].map(({ name, family, paper, year, defaultInputShape, description }) => ({
    name,
    family,
    paper,
    year,
    defaultInputShape,
    description,
  }));
}

/** Throws a ModelOptionError if the shape, class count or family options cannot be built; never builds. */
export function checkBuildOptions(name: string, options: Pick<BuildOptions, "inputShape" | "classes" | "options">): void {
  const definition = getModelDefinition(name);
  const [height, width, channels] = options.inputShape;
  if (!Number.isInteger(channels) || channels < 1) {
    throw new ModelOptionError(`inputShape channels must be a positive integer, got ${channels}`, "inputShape");
  }
  if (Math.min(height, width) < definition.minInputSize) {
    throw new ModelOptionError(
      `${name} needs an input of at least ${definition.minInputSize}×${definition.minInputSize} for its pooling; got ${height}×${width}`,
      "inputShape",
    );
  }
  if (!Number.isInteger(options.classes) || options.classes < 2) {
    throw new ModelOptionError(`classes must be an integer ≥ 2, got ${options.classes}`, "classes");
  }
  definition.checkOptions(options.options);
}

export function getModel(name: string, options: BuildOptions): tf.LayersModel {
  checkBuildOptions(name, options);
  return getModelDefinition(name).build(options);
}
