import * as tf from "@tensorflow/tfjs";
import type { JobSpec } from "@trainyard/shared";
import { exportOptimizerState, importOptimizerState, type OptimizerState } from "../modelExport.ts";
import { createOptimizer, setLearningRate } from "./optimizer.ts";

/** Variables trained at `multiplier` × the job's learning rate, each group with its own optimizer. */
export interface ParameterGroup {
  name: string;
  variables: tf.Variable[];
  multiplier: number;
}

/**
 * One or more optimizers stepping from one gradient computation: fine-tuning trains the new
 * head at a higher rate than the backbone (headLearningRateMultiplier), as torch's parameter
 * groups do. A plain job is one group.
 */
export class OptimizerGroups {
  private readonly groups: { group: ParameterGroup; optimizer: tf.Optimizer }[];

  constructor(spec: JobSpec["training"]["optimizer"], groups: ParameterGroup[], learningRate: number) {
    this.groups = groups
      .filter((group) => group.variables.length > 0)
      .map((group) => ({ group, optimizer: createOptimizer(spec, learningRate * group.multiplier) }));
  }

  get variables(): tf.Variable[] {
    return this.groups.flatMap(({ group }) => group.variables);
  }

  setLearningRate(learningRate: number): void {
    for (const { group, optimizer } of this.groups) setLearningRate(optimizer, learningRate * group.multiplier);
  }

  /** Applies each group's step with its share of `grads` (by variable name); disposes the gradients. */
  apply(grads: tf.NamedTensorMap): void {
    for (const { group, optimizer } of this.groups) {
      const groupGrads: tf.NamedTensorMap = {};
      for (const variable of group.variables) groupGrads[variable.name] = grads[variable.name];
      optimizer.applyGradients(groupGrads);
    }
    tf.dispose(grads);
  }

  /** All groups' optimizer state in one blob; weight names carry the group name. */
  async exportState(): Promise<OptimizerState> {
    const parts = await Promise.all(
      this.groups.map(async ({ group, optimizer }) => ({ group, state: await exportOptimizerState(optimizer) })),
    );
    return {
      specs: parts.flatMap(({ group, state }) => state.specs.map((spec) => ({ ...spec, name: `${group.name}/${spec.name}` }))),
      data: new Uint8Array(Buffer.concat(parts.map(({ state }) => Buffer.from(state.data)))),
    };
  }

  async importState(state: OptimizerState): Promise<void> {
    // Every optimizer weight is float32 or int32: 4 bytes an element, stored in spec order.
    const offsets: number[] = [];
    let end = 0;
    for (const spec of state.specs) {
      offsets.push(end);
      end += spec.shape.reduce((a, b) => a * b, 1) * 4;
    }
    for (const { group, optimizer } of this.groups) {
      const prefix = `${group.name}/`;
      const mine = state.specs.map((spec, index) => ({ spec, index })).filter(({ spec }) => spec.name.startsWith(prefix));
      await importOptimizerState(optimizer, {
        specs: mine.map(({ spec }) => ({ ...spec, name: spec.name.slice(prefix.length) })),
        data: new Uint8Array(
          Buffer.concat(
            mine.map(({ spec, index }) => state.data.subarray(offsets[index], offsets[index] + spec.shape.reduce((a, b) => a * b, 1) * 4)),
          ),
        ),
      });
    }
  }

  dispose(): void {
    for (const { optimizer } of this.groups) optimizer.dispose();
  }
}
