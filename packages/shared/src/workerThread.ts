import { Worker, type WorkerOptions } from "node:worker_threads";

/**
 * Starts a worker thread on a module of this repository. Under tsx the entry is TypeScript, and
 * a .ts entry URL is resolved before --import hooks run in the new thread: an eval'd bootstrap
 * registers tsx's loader in the worker first, then imports the entry; if that fails, the thread
 * posts `{ fatal }` before it ends, so the caller can say why. Compiled .js entries load directly.
 * Used by the engine (replicas, kernels, batch loading) and the API (summaries, inference, imports).
 */
export function startWorkerThread(entry: URL, options: Omit<WorkerOptions, "eval"> = {}): Worker {
  if (!entry.pathname.endsWith(".ts")) return new Worker(entry, options);
  const tsxApi = import.meta.resolve("tsx/esm/api");
  const bootstrap = `(async () => { const { register } = await import(${JSON.stringify(tsxApi)}); register(); await import(${JSON.stringify(entry.href)}); })().catch((e) => { require("node:worker_threads").parentPort.postMessage({ fatal: String(e && e.stack || e) }); });`;
  return new Worker(bootstrap, { ...options, eval: true });
}
