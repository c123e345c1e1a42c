/** Shared between the calling thread (index.ts, kernelWorker.ts) and each kernel thread (thread.ts). */
export const STATE = { idle: 0, posted: 1, done: 2, failed: 3, stop: 4 } as const;

/** Control words: [0] state, then one claim flag per chunk of the worker's region. */
export const CLAIM_BASE = 1;
export const MAX_CHUNKS = 64;
export const CLAIM = { free: 0, caller: 1, worker: 2 } as const;

export interface ChunkInput {
  name: string;
  shape: number[];
  /** In float32 elements from the arena's start. */
  offset: number;
  length: number;
  /** The same data for every chunk of the job (not split along the batch). */
  shared?: boolean;
}

export interface Chunk {
  inputs: ChunkInput[];
  attrs: Record<string, unknown>;
  /** Where this chunk's result goes (concat), or the shared sum buffer (sum). */
  output: { offset: number; length: number };
}

export interface Job {
  kernel: string;
  join: "concat" | "sum";
  /** The worker's region, claimed from the last chunk down; the caller claims upwards. */
  chunks: Chunk[];
  /** A new, larger arena when the previous one was too small. */
  arena?: SharedArrayBuffer;
}
