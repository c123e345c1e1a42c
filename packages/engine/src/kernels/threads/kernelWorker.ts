/** One kernel thread as the calling thread sees it: its control flags, its shared arena, its port. */
import { receiveMessageOnPort, type MessagePort, type Worker } from "node:worker_threads";
import { CLAIM, CLAIM_BASE, STATE, type Chunk, type ChunkInput, type Job } from "./protocol.ts";

type Attrs = Record<string, unknown>;

/** A batch-input slice or whole input handed to a worker's region. */
export interface RegionInput {
  name: string;
  /** The region's rows (batch inputs) or the whole tensor. */
  values: Float32Array;
  shape: number[];
  batch: boolean;
}

export class KernelWorker {
  readonly flags: Int32Array;
  private arena = new SharedArrayBuffer(4 << 20);
  private arenaSent = false;
  broken = false;

  constructor(
    readonly worker: Worker,
    private readonly port: MessagePort,
    control: SharedArrayBuffer,
  ) {
    this.flags = new Int32Array(control);
  }

  /**
   * Copies a region (consecutive chunks of the batch) into the arena and wakes the worker.
   * Returns where each chunk's result will be.
   */
  post(
    kernel: string,
    join: "concat" | "sum",
    inputs: RegionInput[],
    chunkRows: number[],
    chunkAttrs: Attrs[],
    chunkOut: number[],
  ): { offset: number; length: number }[] {
    const regionRows = chunkRows.reduce((a, b) => a + b, 0);
    let total = join === "sum" ? chunkOut[0] : chunkOut.reduce((a, b) => a + b, 0);
    for (const input of inputs) total += input.values.length;
    let arena: SharedArrayBuffer | undefined;
    if (total * 4 > this.arena.byteLength || !this.arenaSent) {
      if (total * 4 > this.arena.byteLength) this.arena = new SharedArrayBuffer(Math.ceil((total * 4 * 1.25) / 65536) * 65536);
      arena = this.arena;
      this.arenaSent = true;
    }
    const view = new Float32Array(this.arena);
    const placed: { input: RegionInput; offset: number; perRow: number }[] = [];
    let offset = 0;
    for (const input of inputs) {
      view.set(input.values, offset);
      placed.push({ input, offset, perRow: input.batch ? input.values.length / regionRows : 0 });
      offset += input.values.length;
    }
    const outputs: { offset: number; length: number }[] = [];
    const chunks: Chunk[] = [];
    let row = 0;
    for (let c = 0; c < chunkRows.length; c++) {
      const n = chunkRows[c];
      const chunkInputs: ChunkInput[] = placed.map(({ input, offset: at, perRow }) =>
        input.batch
          ? { name: input.name, shape: [n, ...input.shape.slice(1)], offset: at + row * perRow, length: n * perRow }
          : { name: input.name, shape: input.shape, offset: at, length: input.values.length, shared: true },
      );
      const output = { offset, length: chunkOut[c] };
      if (join === "concat") offset += chunkOut[c];
      outputs.push(output);
      chunks.push({ inputs: chunkInputs, attrs: chunkAttrs[c], output });
      row += n;
    }
    for (let c = 0; c < chunks.length; c++) Atomics.store(this.flags, CLAIM_BASE + c, CLAIM.free);
    const job: Job = { kernel, join, chunks, arena };
    this.port.postMessage(job);
    Atomics.store(this.flags, 0, STATE.posted);
    Atomics.notify(this.flags, 0);
    return outputs;
  }

  /** Takes chunk `r` of the posted region for the calling thread, unless the worker has it. */
  claim(r: number): boolean {
    return Atomics.compareExchange(this.flags, CLAIM_BASE + r, CLAIM.free, CLAIM.caller) === CLAIM.free;
  }

  /** Waits for the posted job; returns a view of the arena (valid until the next post). */
  wait(): Float32Array {
    while (Atomics.load(this.flags, 0) === STATE.posted) Atomics.wait(this.flags, 0, STATE.posted);
    const state = Atomics.load(this.flags, 0);
    Atomics.store(this.flags, 0, STATE.idle);
    if (state !== STATE.done) {
      const reply = receiveMessageOnPort(this.port)?.message as { error?: string } | undefined;
      this.broken = true;
      throw new Error(`kernel worker failed: ${reply?.error ?? `state ${state}`}`);
    }
    return new Float32Array(this.arena);
  }

  stop(): Promise<number> {
    Atomics.store(this.flags, 0, STATE.stop);
    Atomics.notify(this.flags, 0);
    return this.worker.terminate();
  }
}
