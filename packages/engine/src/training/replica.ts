import * as tf from "@tensorflow/tfjs";
import { getModel } from "@trainyard/models";
import type { JobSpec } from "@trainyard/shared";
import { mixSeed } from "@trainyard/datasets";
import { withSeededMathRandom } from "../data/random.ts";
import { freezeLayers } from "./fineTune.ts";
import { weightDecayMode } from "./optimizer.ts";
import { OptimizerGroups } from "./optimizerGroups.ts";
import { inputScalingFor } from "../preprocessing.ts";
import { logitsOf, parameterGroups } from "./model.ts";

/** Salt of the seed the initial weights are drawn from (the data order uses the epoch numbers). */
const INITIAL_WEIGHTS_SALT = 0x1417;

/** What one replica computed for its part of a batch; the caller disposes the tensors. */
export interface ShardGradients {
  /** Mean loss over the shard (with the coupled L2 term when the job has one). */
  loss: tf.Scalar;
  /** Correct predictions in the shard. */
  hits: tf.Scalar;
  /** d loss / d variable, by variable name, for every trained variable. */
  grads: tf.NamedTensorMap;
}

/**
 * One copy of a job's network with its optimizer: what a training step runs. The trainer owns
 * one; data-parallel training (./replicas) runs one more in each replica thread, built from the
 * same spec, so every replica computes and applies updates the same way.
 */
export class TrainingReplica {
  readonly logitsModel: tf.LayersModel;
  readonly optimizer: OptimizerGroups;
  /** Weights that training changes outside the optimizer: batch norm's moving statistics. */
  readonly statistics: tf.LayerVariable[];
  private readonly training: JobSpec["training"];
  private readonly decay: ReturnType<typeof weightDecayMode>;
  private readonly trained: tf.Variable[];
  private learningRate: number;

  constructor(
    readonly model: tf.LayersModel,
    spec: JobSpec,
    learningRate: number,
  ) {
    this.training = spec.training;
    this.learningRate = learningRate;
    this.logitsModel = logitsOf(model);
    this.optimizer = new OptimizerGroups(spec.training.optimizer, parameterGroups(model, spec), learningRate);
    this.decay = weightDecayMode(spec.training.optimizer);
    this.trained = this.optimizer.variables;
    this.statistics = model.layers
      .filter((layer) => layer.getClassName() === "BatchNormalization")
      .flatMap((layer) => layer.nonTrainableWeights);
  }

  /** Builds the job's network (fine-tuning: with its frozen layers) and optimizer; weights freshly initialized. */
  static build(spec: JobSpec, classes: number, learningRate: number): TrainingReplica {
    // The initial weights are a function of the job's seed: the same spec and seed start from the same network anywhere.
    const model = withSeededMathRandom(mixSeed(spec.training.seed, INITIAL_WEIGHTS_SALT), () =>
      getModel(spec.architecture, {
        inputShape: spec.inputShape,
        classes,
        inputScaling: inputScalingFor(spec.augmentation.normalize, spec.inputShape[2]),
        options: spec.architectureOptions,
      }),
    );
    if (spec.fineTune) freezeLayers(model, spec.fineTune.freeze);
    return new TrainingReplica(model, spec, learningRate);
  }

  /** The trained variables, in the order gradients and the replicas' shared buffer use. */
  get variables(): tf.Variable[] {
    return this.trained;
  }

  /** One training step on this thread alone: the batch's mean loss and correct predictions (as ReplicaGroup.step). */
  async step(x: tf.Tensor, y: tf.Tensor, learningRate: number): Promise<{ loss: number; hits: number }> {
    const shard = this.gradients(x, y);
    this.apply(shard.grads, learningRate);
    const [loss, hits] = await Promise.all([shard.loss.data(), shard.hits.data()]);
    tf.dispose([shard.loss, shard.hits]);
    return { loss: loss[0], hits: hits[0] };
  }

  /** Forward and backward pass on a batch (or a replica's part of one), in training mode. */
  gradients(x: tf.Tensor, y: tf.Tensor): ShardGradients {
    let hits: tf.Scalar | null = null;
    const { value, grads } = tf.variableGrads(() => {
      const logits = this.logitsModel.apply(x, { training: true }) as tf.Tensor2D;
      hits = tf.keep(logits.argMax(-1).equal(y.argMax(-1)).sum() as tf.Scalar);
      const crossEntropy = tf.losses.softmaxCrossEntropy(y, logits) as tf.Scalar;
      if (this.decay !== "coupled") return crossEntropy;
      const l2 = tf.addN(this.variables.map((v) => tf.sum(tf.square(v))));
      return crossEntropy.add(l2.mul(this.training.optimizer.weightDecay / 2)) as tf.Scalar;
    }, this.variables);
    return { loss: value, hits: hits!, grads };
  }

  /** The optimizer step with these gradients (disposed here), then AdamW's decoupled decay. */
  apply(grads: tf.NamedTensorMap, learningRate: number): void {
    if (learningRate !== this.learningRate) {
      this.optimizer.setLearningRate(learningRate);
      this.learningRate = learningRate;
    }
    this.optimizer.apply(grads);
    if (this.decay === "decoupled") {
      const factor = 1 - learningRate * this.training.optimizer.weightDecay;
      tf.tidy(() => this.variables.forEach((v) => v.assign(v.mul(factor))));
    }
  }

  /**
   * A data-parallel step's update: the reduced gradients (disposed here), then the reduced batch
   * norm statistics (in `statistics` order; the tensors are taken over).
   */
  applyReduced(grads: tf.NamedTensorMap, statistics: tf.Tensor[], learningRate: number): void {
    this.apply(grads, learningRate);
    this.statistics.forEach((s, i) => s.write(statistics[i]));
    tf.dispose(statistics);
  }

  /** Every weight, trainable or not, one after another in `model.weights` order (to compare replicas). */
  async flatWeights(): Promise<Float32Array> {
    const values = await Promise.all(this.model.weights.map((w) => w.read().data() as Promise<Float32Array>));
    const flat = new Float32Array(values.reduce((n, v) => n + v.length, 0));
    values.reduce((offset, v) => (flat.set(v, offset), offset + v.length), 0);
    return flat;
  }

  dispose(): void {
    this.model.dispose();
    this.optimizer.dispose();
  }
}
