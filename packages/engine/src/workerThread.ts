import { Worker, type WorkerOptions } from "node:worker_threads";

/**
 * Starts a worker thread on one of the engine's modules. Under tsx the entry is TypeScript, and
 * a .ts entry URL is resolved before --import hooks run in the new thread: an eval'd bootstrap
 * registers tsx's loader in the worker first, then imports the entry. Compiled .js entries load
 * directly.
 */
export function startWorkerThread(entry: URL, options: Omit<WorkerOptions, "eval">): Worker {
  if (entry.pathname.endsWith(".js") || entry.pathname.endsWith(".mjs")) return new Worker(entry, options);
  const tsxApi = import.meta.resolve("tsx/esm/api");
  const bootstrap = `(async () => { const { register } = await import(${JSON.stringify(tsxApi)}); register(); await import(${JSON.stringify(entry.href)}); })().catch((e) => { require("node:worker_threads").parentPort.postMessage({ fatal: String(e && e.stack || e) }); });`;
  return new Worker(bootstrap, { ...options, eval: true });
}
