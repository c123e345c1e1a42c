export interface Ranked {
  index: number;
  probability: number;
}

/**
 * The k largest of each row of `probabilities` ([rows][classes], row-major), largest first, ties
 * by class index. One pass over each row keeping a sorted k-long list: fast for 10,000 classes
 * and a small k.
 */
export function topK(probabilities: Float32Array, rows: number, classes: number, k: number): Ranked[][] {
  const keep = Math.min(k, classes);
  const result: Ranked[][] = [];
  for (let row = 0; row < rows; row += 1) {
    const offset = row * classes;
    const best: Ranked[] = [];
    for (let index = 0; index < classes; index += 1) {
      const probability = probabilities[offset + index]!;
      if (best.length === keep) {
        if (!(probability > best[keep - 1]!.probability)) continue;
        best.pop();
      }
      let at = best.length;
      while (at > 0 && best[at - 1]!.probability < probability) at -= 1;
      best.splice(at, 0, { index, probability });
    }
    result.push(best);
  }
  return result;
}
