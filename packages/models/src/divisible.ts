/**
 * Scales a channel count and rounds it to a multiple of 8 without losing more than 10 %, the rounding
 * of the MobileNet v2 and EfficientNet reference code, so that width multipliers give the papers' widths.
 */
export function roundChannels(channels: number, multiplier: number, divisor = 8): number {
  const scaled = channels * multiplier;
  const rounded = Math.max(divisor, Math.floor((scaled + divisor / 2) / divisor) * divisor);
  return rounded < 0.9 * scaled ? rounded + divisor : rounded;
}
