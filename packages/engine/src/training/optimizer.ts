import * as tf from "@tensorflow/tfjs";
import type { JobSpec } from "@trainyard/shared";

type TrainingSpec = JobSpec["training"];

export function createOptimizer(spec: TrainingSpec["optimizer"], learningRate: number): tf.Optimizer {
  switch (spec.type) {
    case "sgd":
      return spec.momentum > 0 ? tf.train.momentum(learningRate, spec.momentum, spec.nesterov) : tf.train.sgd(learningRate);
    case "adam":
    case "adamw":
      return tf.train.adam(learningRate, 0.9, 0.999, 1e-8);
    case "rmsprop":
      return tf.train.rmsprop(learningRate, 0.9, spec.momentum, 1e-8);
  }
}

/** Sets the rate an optimizer applies from the next step on (TF.js optimizers cache it differently). */
export function setLearningRate(optimizer: tf.Optimizer, learningRate: number): void {
  const withSetter = optimizer as tf.Optimizer & { setLearningRate?: (rate: number) => void; learningRate?: number };
  if (typeof withSetter.setLearningRate === "function") withSetter.setLearningRate(learningRate);
  else withSetter.learningRate = learningRate;
}

/** The learning rate for a (1-based) epoch under the job's schedule. */
export function learningRateAt(training: TrainingSpec, epoch: number): number {
  const base = training.optimizer.learningRate;
  const schedule = training.lrSchedule;
  switch (schedule.type) {
    case "constant":
      return base;
    case "step":
      return base * schedule.gamma ** Math.floor((epoch - 1) / schedule.stepEpochs);
    case "cosine": {
      if (epoch <= schedule.warmupEpochs) return (base * epoch) / schedule.warmupEpochs;
      const span = Math.max(1, training.epochs - schedule.warmupEpochs);
      const progress = (epoch - 1 - schedule.warmupEpochs) / span;
      return schedule.minLearningRate + 0.5 * (base - schedule.minLearningRate) * (1 + Math.cos(Math.PI * progress));
    }
  }
}

/**
 * Weight decay as PyTorch applies it: for SGD, Adam and RMSprop an L2 term in the gradient
 * (coupled); for AdamW a decay of the weights themselves after the step (decoupled).
 */
export function weightDecayMode(spec: TrainingSpec["optimizer"]): "none" | "coupled" | "decoupled" {
  if (spec.weightDecay === 0) return "none";
  return spec.type === "adamw" ? "decoupled" : "coupled";
}
