import type { Worker } from "node:worker_threads";
import { startWorkerThread } from "@trainyard/shared";
import type { PredictMessage, PredictReply, StoredModel, ThreadOptions } from "./protocol.ts";
import type { Ranked } from "./topK.ts";

export { createModelCache } from "./cache.ts";
export { topK, type Ranked } from "./topK.ts";
export type { StoredModel } from "./protocol.ts";

export interface PredictorOptions {
  /** Worker threads; a model lives in one of them (chosen by its key), so each has its own cache. */
  threads: number;
  /** Bytes of weights the loaded models of all threads may hold (split evenly between threads). */
  cacheBytes: number;
  /** A request's longest wait for its thread (load and inference). */
  timeoutMs?: number;
}

/** A stored model: `key` names the artifact (the cache's key), `load` reads its files. */
export interface ModelSource {
  key: string;
  load: () => Promise<StoredModel>;
}

export interface Prediction {
  top: Ranked[][];
  /** Inference and top-k in the thread. */
  inferMs: number;
  /** Reading the stored files and loading the model, when this request did (a cache miss). */
  loadMs: number | null;
}

/** A request the model cannot take (inputs of another shape). */
export class PredictionInputError extends Error {}

/** The thread failed (died, timed out, a model that does not load). */
export class PredictionError extends Error {}

function hash(text: string): number {
  let value = 2166136261;
  for (let index = 0; index < text.length; index += 1) value = Math.imul(value ^ text.charCodeAt(index), 16777619);
  return value >>> 0;
}

type Waiter = { resolve: (reply: PredictReply) => void; reject: (error: Error) => void };

/**
 * Predictions on CPU (TF.js wasm) in worker threads, off the caller's event loop, each thread
 * keeping the models it loaded in an LRU held to its share of `cacheBytes`.
 */
export function createPredictor(options: PredictorOptions) {
  const threadCount = Math.max(1, Math.floor(options.threads));
  const threadOptions: ThreadOptions = { cacheBytes: Math.floor(options.cacheBytes / threadCount) };
  const timeoutMs = options.timeoutMs ?? 120_000;
  const threads: (Worker | null)[] = Array.from({ length: threadCount }, () => null);
  const waiting = new Map<number, Waiter>();
  const owner = new Map<number, Worker>();
  let nextId = 1;
  let closed = false;

  function threadAt(slot: number): Worker {
    const existing = threads[slot];
    if (existing) return existing;
    const started = startWorkerThread(new URL("./thread.ts", import.meta.url), { workerData: threadOptions });
    started.unref();
    started.on("message", (reply: PredictReply) => {
      waiting.get(reply.id)?.resolve(reply);
      waiting.delete(reply.id);
      owner.delete(reply.id);
    });
    const lost = (error: Error) => {
      if (threads[slot] === started) threads[slot] = null;
      for (const [id, thread] of owner) {
        if (thread !== started) continue;
        waiting.get(id)?.reject(error);
        waiting.delete(id);
        owner.delete(id);
      }
    };
    started.on("error", (error) => lost(new PredictionError(`the inference thread failed: ${error.message}`)));
    started.on("exit", () => lost(new PredictionError("the inference thread stopped")));
    threads[slot] = started;
    return started;
  }

  function send(thread: Worker, message: Omit<PredictMessage, "id">): Promise<PredictReply> {
    const id = nextId++;
    return new Promise<PredictReply>((resolve, reject) => {
      const timer = setTimeout(() => {
        waiting.delete(id);
        owner.delete(id);
        reject(new PredictionError(`the prediction took longer than ${timeoutMs} ms`));
        // A hung thread is replaced; what else it had fails through its exit.
        void thread.terminate();
      }, timeoutMs);
      waiting.set(id, {
        resolve: (reply) => {
          clearTimeout(timer);
          resolve(reply);
        },
        reject: (error) => {
          clearTimeout(timer);
          reject(error);
        },
      });
      owner.set(id, thread);
      thread.postMessage({ ...message, id });
    });
  }

  return {
    /** Starts the threads now (TF.js and wasm load in each), so the first request pays only its model's load. */
    start(): void {
      if (closed) return;
      for (let slot = 0; slot < threadCount; slot += 1) threadAt(slot);
    },

    /** Top-k classes of each of `shape[0]` inputs (raw 0–255 pixels, [count, ...inputShape]). */
    async predict(source: ModelSource, pixels: Float32Array, shape: number[], k: number): Promise<Prediction> {
      if (closed) throw new PredictionError("the predictor is closed");
      const thread = threadAt(hash(source.key) % threadCount);
      const message = { key: source.key, pixels, shape, topK: k };
      let reply = await send(thread, message);
      let readMs = 0;
      if ("missing" in reply) {
        const started = performance.now();
        const model = await source.load();
        readMs = performance.now() - started;
        reply = await send(threadAt(hash(source.key) % threadCount), { ...message, model });
      }
      if ("missing" in reply) throw new PredictionError("the inference thread did not keep the model it was sent");
      if ("error" in reply) throw reply.badInput ? new PredictionInputError(reply.error) : new PredictionError(reply.error);
      return { top: reply.top, inferMs: reply.inferMs, loadMs: reply.loadMs === null ? null : reply.loadMs + readMs };
    },

    async close(): Promise<void> {
      closed = true;
      await Promise.all(threads.map((thread) => thread?.terminate()));
    },
  };
}

export type Predictor = ReturnType<typeof createPredictor>;
