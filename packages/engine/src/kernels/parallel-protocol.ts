/** Shared between parallel.ts and parallel-worker.ts. */
export const STATE = { idle: 0, posted: 1, done: 2, failed: 3, stop: 4 } as const;

export interface JobInput {
  name: string;
  shape: number[];
  /** In float32 elements from the arena's start. */
  offset: number;
  length: number;
}

export interface Job {
  kernel: string;
  attrs: Record<string, unknown>;
  inputs: JobInput[];
  output: { offset: number; length: number };
  /** A new, larger arena when the previous one was too small. */
  arena?: SharedArrayBuffer;
}
