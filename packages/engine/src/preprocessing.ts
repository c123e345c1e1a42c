import type { InputScaling } from "@trainyard/models";

/**
 * The job's normalization as an affine map on raw 0–255 pixels, baked into the model:
 * (x / 255 - mean) / std = x * (1 / (255 std)) - mean / std.
 */
export function inputScalingFor(normalize: { mean: number[]; std: number[] }, channels: number): InputScaling {
  const perChannel = (values: number[]) => (values.length === 1 ? Array<number>(channels).fill(values[0]) : values);
  const mean = perChannel(normalize.mean);
  const std = perChannel(normalize.std);
  if (mean.length !== channels) {
    throw new Error(`normalize has ${mean.length} channels but the input has ${channels}`);
  }
  return { scale: std.map((s) => 1 / (255 * s)), offset: mean.map((m, i) => -m / std[i]) };
}
