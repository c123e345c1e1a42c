/**
 * The all-reduce of a data-parallel step, done by all replicas at once (a reduce-scatter, then
 * an all-gather through the shared buffer). Every replica:
 *  1. publishes its gradients and batch norm statistics for the shards the others reduce (into
 *     its own region);
 *  2. reduces its own shard: Σ (part size ÷ batch) × each replica's numbers, in replica order,
 *     its own taken straight from its tensors, and writes the result into the reduced region;
 *  3. once every shard is reduced, reads the other shards from the reduced region and applies
 *     the whole update.
 * Each shard is summed once, by one replica, and every replica applies those same floats, so
 * the replicas' weights stay bitwise equal. Splitting the sums means each replica copies and adds
 * about 1/k of the parameters instead of one replica doing all of it while the others wait.
 */
import * as tf from "@tensorflow/tfjs";
import type { TrainingReplica } from "../training/replica.ts";
import { ownRegion, reducedRegion, tensorFromRegion, tensorSlots, writeValues } from "./sharedBuffer.ts";
import type { ReplicaLayout } from "./protocol.ts";

export class ShardedReduction {
  private readonly slots: ReturnType<typeof tensorSlots>;
  private readonly first: number;
  private readonly end: number;

  constructor(
    private readonly layout: ReplicaLayout,
    /** This replica's index; it reduces shard `index`. */
    private readonly index: number,
    private readonly replica: TrainingReplica,
  ) {
    this.slots = tensorSlots(layout);
    this.first = layout.shardBounds[index];
    this.end = layout.shardBounds[index + 1];
  }

  /** A step's gradients and the current batch norm statistics, in region order (the statistics stay the model's). */
  ownTensors(grads: tf.NamedTensorMap): tf.Tensor[] {
    return [...this.replica.variables.map((v) => grads[v.name]), ...this.replica.statistics.map((s) => s.read())];
  }

  /** Step 1: this replica's numbers for every shard but its own, into its region. */
  async publish(own: tf.Tensor[]): Promise<void> {
    const others = this.slots.flatMap((slot, t) => (t < this.first || t >= this.end ? [t] : []));
    await writeValues(
      ownRegion(this.layout, this.index),
      others.map((t) => own[t]),
      others.map((t) => this.slots[t]),
    );
  }

  /**
   * Step 2, once every replica has published: the reduced tensors of this replica's shard (the
   * caller keeps them for `reduced`), also written into the reduced region. `counts` are the
   * parts' sizes by replica; a replica with no part (own = null) sums the others'.
   */
  async reduceShard(own: tf.Tensor[] | null, counts: number[]): Promise<tf.Tensor[]> {
    const batch = counts.reduce((a, b) => a + b, 0);
    const parts = counts.flatMap((count, replica) => (count > 0 ? [{ replica, weight: count / batch }] : []));
    const equalWeights = parts.every((p) => p.weight === parts[0].weight);
    const summed: tf.Tensor[] = [];
    for (let t = this.first; t < this.end; t++) {
      const slot = this.slots[t];
      summed.push(
        tf.tidy(() => {
          const inputs = parts.map((p) => (p.replica === this.index ? own![t] : tensorFromRegion(ownRegion(this.layout, p.replica), slot)));
          if (inputs.length === 1) return inputs[0].mul(parts[0].weight);
          if (equalWeights) return tf.addN(inputs).mul(parts[0].weight);
          return inputs.slice(1).reduce((acc, input, i) => acc.add(input.mul(parts[i + 1].weight)), inputs[0].mul(parts[0].weight));
        }),
      );
    }
    try {
      await writeValues(reducedRegion(this.layout), summed, this.slots.slice(this.first, this.end));
    } catch (error) {
      tf.dispose(summed);
      throw error;
    }
    return summed;
  }

  /** Step 3, once every shard is reduced: the whole update, this replica's shard from `mine` (taken over). */
  reduced(mine: tf.Tensor[]): { grads: tf.NamedTensorMap; statistics: tf.Tensor[] } {
    const region = reducedRegion(this.layout);
    const all = this.slots.map((slot, t) => (t >= this.first && t < this.end ? mine[t - this.first] : tensorFromRegion(region, slot)));
    const variables = this.replica.variables;
    const grads: tf.NamedTensorMap = {};
    variables.forEach((v, i) => (grads[v.name] = all[i]));
    return { grads, statistics: all.slice(variables.length) };
  }
}
