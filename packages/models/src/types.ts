import type * as tf from "@tensorflow/tfjs";

/** [height, width, channels], channels-last as TF.js wants it. */
export type InputShape = [number, number, number];

/** Affine map applied to raw 0–255 pixels inside the model: x * scale + offset, per channel. */
export interface InputScaling {
  scale: number[];
  offset: number[];
}

export type Initializer = "glorot" | "he" | "default";

export interface BuildOptions {
  inputShape: InputShape;
  classes: number;
  /** Preprocessing baked into the model, so exported models take raw pixels. */
  inputScaling?: InputScaling;
  /** Weight initialization; "default" lets each family pick what its activation wants. */
  initializer?: Initializer;
  /** Family-specific options (activation, widths, ...), validated by the family. */
  options?: Record<string, unknown>;
}

export interface ArchitectureInfo {
  name: string;
  family: string;
  paper: string;
  year: number;
  /** Default input shape for single-channel 28×28 data sets such as Fashion-MNIST. */
  defaultInputShape: InputShape;
  description: string;
}

export interface ModelDefinition extends ArchitectureInfo {
  /** Smallest height/width the network's pooling can take. */
  minInputSize: number;
  /** Throws a ModelOptionError for unknown or invalid family options (and, given the input shape, sizes they cannot take), without building. */
  checkOptions(options: Record<string, unknown> | undefined, inputShape?: InputShape): void;
  build(options: BuildOptions): tf.LayersModel;
}

/** Name prefix of the layers that form the classifier head (everything before is the backbone). */
export const HEAD_PREFIX = "head";
