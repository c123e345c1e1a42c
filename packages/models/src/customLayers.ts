import * as tf from "@tensorflow/tfjs";

/**
 * Layers TF.js lacks, each registered for serialization so that model.save / tf.loadLayersModel round-trip.
 * All act on channels-last tensors; shape-preserving ones rely on the base Layer's identity computeOutputShape.
 */

type Shape = tf.Shape | tf.Shape[];

function single(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
  return Array.isArray(inputs) ? inputs[0] : inputs;
}

function singleShape(shape: Shape): tf.Shape {
  return Array.isArray(shape[0]) ? (shape[0] as tf.Shape) : (shape as tf.Shape);
}

/** ShuffleNet's channel shuffle: channel g·k + i goes to i·groups + g, so information crosses groups. */
export class ChannelShuffle extends tf.layers.Layer {
  static readonly className = "TrainyardChannelShuffle";
  readonly groups: number;

  constructor(config: { groups: number; name?: string }) {
    super({ name: config.name });
    this.groups = config.groups;
  }

  override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
    return tf.tidy(() => {
      const x = single(inputs);
      const [batch, height, width, channels] = x.shape;
      return x
        .reshape([batch, height, width, this.groups, channels / this.groups])
        .transpose([0, 1, 2, 4, 3])
        .reshape([batch, height, width, channels]);
    });
  }

  override getConfig(): tf.serialization.ConfigDict {
    return { ...super.getConfig(), groups: this.groups };
  }
}

/** Channels [start, start + size): ShuffleNet v2's channel split. */
export class ChannelSlice extends tf.layers.Layer {
  static readonly className = "TrainyardChannelSlice";
  readonly start: number;
  readonly size: number;

  constructor(config: { start: number; size: number; name?: string }) {
    super({ name: config.name });
    this.start = config.start;
    this.size = config.size;
  }

  override computeOutputShape(inputShape: Shape): Shape {
    const shape = singleShape(inputShape);
    return [...shape.slice(0, -1), this.size];
  }

  override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
    return tf.tidy(() => {
      const x = single(inputs);
      const begin = x.shape.map((_, axis) => (axis === x.rank - 1 ? this.start : 0));
      const size = x.shape.map((_, axis) => (axis === x.rank - 1 ? this.size : -1));
      return x.slice(begin, size);
    });
  }

  override getConfig(): tf.serialization.ConfigDict {
    return { ...super.getConfig(), start: this.start, size: this.size };
  }
}

/** CBAM's spatial descriptor: the mean and the max over channels, stacked as two channels. */
export class ChannelPool extends tf.layers.Layer {
  static readonly className = "TrainyardChannelPool";

  constructor(config: { name?: string } = {}) {
    super({ name: config.name });
  }

  override computeOutputShape(inputShape: Shape): Shape {
    const shape = singleShape(inputShape);
    return [...shape.slice(0, -1), 2];
  }

  override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
    return tf.tidy(() => {
      const x = single(inputs);
      return tf.concat([x.mean(-1, true), x.max(-1, true)], -1);
    });
  }
}

/**
 * Stochastic depth (EfficientNet's "drop connect"): while training, drops a sample's residual branch with
 * probability `rate` and scales the kept ones by 1 / (1 − rate); the identity at inference.
 */
export class StochasticDepth extends tf.layers.Layer {
  static readonly className = "TrainyardStochasticDepth";
  readonly rate: number;

  constructor(config: { rate: number; name?: string }) {
    super({ name: config.name });
    this.rate = config.rate;
  }

  override call(inputs: tf.Tensor | tf.Tensor[], kwargs: { training?: boolean }): tf.Tensor {
    return tf.tidy(() => {
      const x = single(inputs);
      if (!kwargs.training || this.rate === 0) return x.clone();
      const perSample = [x.shape[0], ...x.shape.slice(1).map(() => 1)];
      const kept = tf
        .randomUniform(perSample)
        .greaterEqual(this.rate)
        .toFloat()
        .div(1 - this.rate);
      return x.mul(kept);
    });
  }

  override getConfig(): tf.serialization.ConfigDict {
    return { ...super.getConfig(), rate: this.rate };
  }
}

for (const layerClass of [ChannelShuffle, ChannelSlice, ChannelPool, StochasticDepth]) {
  tf.serialization.registerClass(layerClass);
}
