import * as tf from "@tensorflow/tfjs";
import type { InputScaling, InputShape } from "./types.ts";

/** Per-channel affine rescaling of raw pixels; serializable, so exported models keep it. */
export class ChannelRescaling extends tf.layers.Layer {
  static readonly className = "TrainyardChannelRescaling";
  private readonly scale: number[];
  private readonly offset: number[];

  constructor(config: InputScaling & { name?: string }) {
    super({ name: config.name });
    this.scale = config.scale;
    this.offset = config.offset;
  }

  override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
    return tf.tidy(() => {
      const x = Array.isArray(inputs) ? inputs[0] : inputs;
      return x.mul(tf.tensor1d(this.scale)).add(tf.tensor1d(this.offset));
    });
  }

  override getConfig(): tf.serialization.ConfigDict {
    return { ...super.getConfig(), scale: this.scale, offset: this.offset };
  }
}
tf.serialization.registerClass(ChannelRescaling);

/** The model's input, followed by the preprocessing layer when one is asked for. */
export function modelInput(
  inputShape: InputShape,
  scaling: InputScaling | undefined,
): { input: tf.SymbolicTensor; features: tf.SymbolicTensor } {
  const input = tf.input({ shape: inputShape, name: "input" });
  if (!scaling) return { input, features: input };
  const channels = inputShape[2];
  const expand = (values: number[]) => (values.length === 1 ? Array(channels).fill(values[0]) : values);
  const features = new ChannelRescaling({
    name: "preprocess_rescale",
    scale: expand(scaling.scale),
    offset: expand(scaling.offset),
  }).apply(input) as tf.SymbolicTensor;
  return { input, features };
}
