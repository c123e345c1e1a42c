import { seededRandom } from "@trainyard/datasets";

/** 0, 1, …, count − 1. */
export function identityIndices(count: number): Uint32Array {
  const indices = new Uint32Array(count);
  for (let i = 0; i < count; i += 1) indices[i] = i;
  return indices;
}

export function shuffledIndices(count: number, seed: number): Uint32Array {
  const indices = identityIndices(count);
  const random = seededRandom(seed);
  for (let i = count - 1; i > 0; i -= 1) {
    const j = Math.floor(random() * (i + 1));
    const swap = indices[i];
    indices[i] = indices[j];
    indices[j] = swap;
  }
  return indices;
}

/**
 * Runs `build` with Math.random drawn from `seed`. TF.js seeds every unseeded random op (the
 * layers' weight initializers among them) from Math.random, so a network built inside this has
 * the same initial weights in every process for the same seed.
 */
export function withSeededMathRandom<T>(seed: number, build: () => T): T {
  const original = Math.random;
  Math.random = seededRandom(seed);
  try {
    return build();
  } finally {
    Math.random = original;
  }
}
