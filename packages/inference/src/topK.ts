export interface Ranked {
  index: number;
  probability: number;
}

/** a is weaker than b: smaller, or equal with the larger class index (ties go to the smaller index). */
function weaker(values: Float64Array, indices: Int32Array, a: number, b: number): boolean {
  return values[a]! < values[b]! || (values[a] === values[b] && indices[a]! > indices[b]!);
}

function swap(values: Float64Array, indices: Int32Array, a: number, b: number): void {
  const value = values[a]!;
  values[a] = values[b]!;
  values[b] = value;
  const index = indices[a]!;
  indices[a] = indices[b]!;
  indices[b] = index;
}

function siftUp(values: Float64Array, indices: Int32Array, at: number): void {
  while (at > 0) {
    const parent = (at - 1) >> 1;
    if (!weaker(values, indices, at, parent)) return;
    swap(values, indices, at, parent);
    at = parent;
  }
}

function siftDown(values: Float64Array, indices: Int32Array, size: number): void {
  let at = 0;
  for (;;) {
    const left = 2 * at + 1;
    if (left >= size) return;
    const right = left + 1;
    const child = right < size && weaker(values, indices, right, left) ? right : left;
    if (!weaker(values, indices, child, at)) return;
    swap(values, indices, child, at);
    at = child;
  }
}

const rank = (probability: number) => (Number.isNaN(probability) ? -Infinity : probability);

/**
 * The k largest of each row of `probabilities` ([rows][classes], row-major), largest first, ties
 * by class index; NaN ranks below every number. One pass over each row with a k-long min-heap
 * in typed arrays (its root the weakest entry kept): a value that does not beat the root costs
 * one comparison, one that does log k steps, so a row costs O(classes · log k) even when every
 * value beats the last (an ascending row), without an allocation per value.
 */
export function topK(probabilities: Float32Array, rows: number, classes: number, k: number): Ranked[][] {
  const keep = Math.min(k, classes);
  const values = new Float64Array(keep);
  const indices = new Int32Array(keep);
  const result: Ranked[][] = [];
  for (let row = 0; row < rows; row += 1) {
    const offset = row * classes;
    let size = 0;
    for (; size < keep; size += 1) {
      values[size] = rank(probabilities[offset + size]!);
      indices[size] = size;
      siftUp(values, indices, size);
    }
    for (let index = keep; index < classes; index += 1) {
      const value = probabilities[offset + index]!;
      // Strictly larger only (NaN never is): an equal value has a larger index than the root's, so it loses the tie.
      if (!(value > values[0]!)) continue;
      values[0] = value;
      indices[0] = index;
      siftDown(values, indices, size);
    }
    const best: Ranked[] = [];
    for (let i = 0; i < size; i += 1) best.push({ index: indices[i]!, probability: probabilities[offset + indices[i]!]! });
    best.sort((a, b) => rank(b.probability) - rank(a.probability) || a.index - b.index);
    result.push(best);
  }
  return result;
}
