import type * as tf from "@tensorflow/tfjs";

const BYTES_PER_FLOAT = 4;
/** Weights, gradients and up to two optimizer slots per parameter. */
const COPIES_PER_PARAMETER = { sgd: 2, adam: 4, adamw: 4, rmsprop: 3 } as const;
/** Each layer's output is kept for the backward pass, and its gradient is as large. */
const COPIES_PER_ACTIVATION = 2;

export type OptimizerName = keyof typeof COPIES_PER_PARAMETER;

export interface MemoryEstimate {
  parameters: number;
  /** Weights, their gradients and the optimizer's slots. */
  parameterBytes: number;
  /** Layer outputs kept for the backward pass and their gradients, per sample. */
  activationBytesPerSample: number;
  /** `activationBytesPerSample` × batch size. */
  activationBytes: number;
  /** parameterBytes + activationBytes: a lower bound for one device's training memory. */
  totalBytes: number;
}

/** Floats of each layer's output (each output of a multi-output layer) for one sample. */
export function layerOutputFloats(model: tf.LayersModel): number[] {
  return model.layers.flatMap((layer) => {
    const shapes = (Array.isArray(layer.outputShape[0]) ? layer.outputShape : [layer.outputShape]) as (number | null)[][];
    return shapes.map((shape) => shape.slice(1).reduce<number>((a, b) => a * (b ?? 1), 1));
  });
}

/** Floats of all layer outputs for one sample: what training keeps for the backward pass. */
export function activationFloatsPerSample(model: tf.LayersModel): number {
  return layerOutputFloats(model).reduce((a, b) => a + b, 0);
}

/** The counts the memory model needs: a ModelSummary (describeModel) has them, and so does a built model. */
export interface ModelCounts {
  totalParams: number;
  activationFloatsPerSample: number;
}

/**
 * Training memory of one device for a built model and batch size: what an out-of-memory failure
 * quotes so that a user can pick a batch size.
 */
export function memoryEstimate(model: tf.LayersModel, batchSize: number, optimizer: OptimizerName): MemoryEstimate {
  return memoryEstimateOf(
    { totalParams: model.countParams(), activationFloatsPerSample: activationFloatsPerSample(model) },
    batchSize,
    optimizer,
  );
}

/** memoryEstimate from the counts alone (a described model's summary, never built): what a dry run reports. */
export function memoryEstimateOf(
  { totalParams: parameters, activationFloatsPerSample }: ModelCounts,
  batchSize: number,
  optimizer: OptimizerName,
): MemoryEstimate {
  const parameterBytes = parameters * BYTES_PER_FLOAT * COPIES_PER_PARAMETER[optimizer];
  const activationBytesPerSample = activationFloatsPerSample * BYTES_PER_FLOAT * COPIES_PER_ACTIVATION;
  const activationBytes = activationBytesPerSample * batchSize;
  return { parameters, parameterBytes, activationBytesPerSample, activationBytes, totalBytes: parameterBytes + activationBytes };
}

/** "1.2 GB", "340 MB": memory for messages. */
export function formatBytes(bytes: number): string {
  if (bytes >= 1e9) return `${(bytes / 1e9).toFixed(1)} GB`;
  if (bytes >= 1e6) return `${Math.round(bytes / 1e6)} MB`;
  return `${Math.max(1, Math.round(bytes / 1e3))} kB`;
}
