export { loadWorkerConfig, type WorkerConfig } from "./config.ts";
export { startWorker } from "./worker.ts";
export { parseDawnAdapterList } from "./devices.ts";
