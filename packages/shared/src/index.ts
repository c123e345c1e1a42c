export * from "./config.ts";
export * from "./ids.ts";
export * from "./job.ts";
export * from "./jobSpec.ts";
export * from "./queue.ts";
export * from "./workerThread.ts";
