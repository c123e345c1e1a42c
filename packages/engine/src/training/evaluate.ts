import * as tf from "@tensorflow/tfjs";
import { assembleBatch, batchRanges, type BatchShape } from "../data/batches.ts";
import { identityIndices } from "../data/random.ts";
import type { IndexedSplit } from "../data/splits.ts";

export interface Evaluation {
  loss: number;
  accuracy: number;
  count: number;
}

/** Mean cross-entropy and accuracy over a whole split, in inference mode. */
export async function evaluate(model: tf.LayersModel, split: IndexedSplit, shape: BatchShape, batchSize: number): Promise<Evaluation> {
  const order = identityIndices(split.indices.length);
  let lossSum = 0;
  let correct = 0;
  for (const positions of batchRanges(order, batchSize)) {
    const { x, y } = assembleBatch(split, positions, shape);
    const [batchLoss, batchCorrect] = tf.tidy(() => {
      const probabilities = model.predict(x) as tf.Tensor2D;
      const loss = tf.metrics.categoricalCrossentropy(y, probabilities).sum();
      const hits = probabilities.argMax(-1).equal(y.argMax(-1)).sum();
      return [loss, hits];
    });
    const [lossValue, hitValue] = await Promise.all([batchLoss.data(), batchCorrect.data()]);
    lossSum += lossValue[0];
    correct += hitValue[0];
    tf.dispose([x, y, batchLoss, batchCorrect]);
  }
  const count = split.indices.length;
  return { loss: lossSum / count, accuracy: correct / count, count };
}
