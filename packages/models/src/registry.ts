import type * as tf from "@tensorflow/tfjs";
import { ModelOptionError, UnknownModelError } from "./errors.ts";
import { readOptions, type OptionSpec, type ParsedOptions } from "./options.ts";
import type { ArchitectureInfo, BuildOptions, InputShape, ModelDefinition } from "./types.ts";

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

/**
 * Another network under an architecture's name, chosen by `architectureOptions.variant` (e.g. "torchvision"):
 * its own option spec, and an input check for what its spec cannot say (a pooling that needs certain sizes).
 */
export interface ModelVariant<S extends Record<string, OptionSpec> = Record<string, OptionSpec>> {
  optionSpec: S;
  checkInput?(inputShape: InputShape, config: ParsedOptions<S>): void;
  build(options: BuildOptions, config: ParsedOptions<S>): tf.LayersModel;
}

/** The variant every family is without `variant`: the notes' network. */
export const DEFAULT_VARIANT = "notes";

const variants = new Map<string, Map<string, ModelVariant>>();

export function registerVariant<S extends Record<string, OptionSpec>>(
  architecture: string,
  variant: string,
  definition: ModelVariant<S>,
): void {
  const known = variants.get(architecture) ?? new Map<string, ModelVariant>();
  if (variant === DEFAULT_VARIANT || known.has(variant)) throw new Error(`variant "${variant}" of "${architecture}" is already registered`);
  known.set(variant, definition as unknown as ModelVariant);
  variants.set(architecture, known);
}

/** The variants an architecture has besides the notes' network. */
export function variantsOf(architecture: string): string[] {
  return [...(variants.get(architecture)?.keys() ?? [])];
}

/** Splits `variant` off the options; a variant the architecture does not have is a ModelOptionError. */
function pickVariant(architecture: string, raw: Record<string, unknown> | undefined) {
  if (raw?.variant === undefined) return { variant: null, options: raw };
  const { variant, ...options } = raw;
  if (variant === DEFAULT_VARIANT) return { variant: null, options };
  const definition = typeof variant === "string" ? variants.get(architecture)?.get(variant) : undefined;
  if (!definition) {
    const choices = [DEFAULT_VARIANT, ...variantsOf(architecture)].join(", ");
    throw new ModelOptionError(
      `variant must be one of ${choices} for ${architecture}, got ${JSON.stringify(variant)}`,
      "architectureOptions.variant",
    );
  }
  return { variant: definition, options };
}

/** registerModel for a family with an option spec: checkOptions and build both read the options through it. */
export function registerModelWithOptions<S extends Record<string, OptionSpec>>({ optionSpec, build, ...info }: ModelWithOptions<S>): void {
  registerModel({
    ...info,
    checkOptions: (raw, inputShape) => {
      const { variant, options } = pickVariant(info.name, raw);
      if (!variant) return void readOptions(options, optionSpec);
      const config = readOptions(options, variant.optionSpec);
      if (inputShape) variant.checkInput?.(inputShape, config);
    },
    build: (buildOptions) => {
      const { variant, options } = pickVariant(info.name, buildOptions.options);
      if (!variant) return build(buildOptions, readOptions(options, optionSpec));
      const config = readOptions(options, variant.optionSpec);
      variant.checkInput?.(buildOptions.inputShape, config);
      return variant.build(buildOptions, config);
    },
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
  definition.checkOptions(options.options, options.inputShape);
}

export function getModel(name: string, options: BuildOptions): tf.LayersModel {
  checkBuildOptions(name, options);
  return getModelDefinition(name).build(options);
}
