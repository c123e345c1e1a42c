import { describe, expect, it } from "vitest";
import { cpuParallelismOf, loadWorkerConfig } from "../src/config.ts";

const base = { DATABASE_URL: "postgresql://127.0.0.1:5432/test" };

describe("the worker's CPU settings", () => {
  it("are read once by the worker's config and handed to the training child as values", () => {
    expect(cpuParallelismOf(loadWorkerConfig(base))).toEqual({ cpuSlots: 1, replicas: "auto", kernelThreads: undefined });
    const set = loadWorkerConfig({ ...base, TRAINYARD_CPU_SLOTS: "2", TRAINYARD_REPLICAS: "3", TRAINYARD_KERNEL_THREADS: "auto" });
    expect(cpuParallelismOf(set)).toEqual({ cpuSlots: 2, replicas: 3, kernelThreads: "auto" });
    expect(cpuParallelismOf(loadWorkerConfig({ ...base, TRAINYARD_KERNEL_THREADS: "4" })).kernelThreads).toBe(4);
  });

  it("refuses values the engine could not use, naming the variable", () => {
    expect(() => loadWorkerConfig({ ...base, TRAINYARD_REPLICAS: "17" })).toThrow(/TRAINYARD_REPLICAS/);
    expect(() => loadWorkerConfig({ ...base, TRAINYARD_KERNEL_THREADS: "many" })).toThrow(/TRAINYARD_KERNEL_THREADS/);
    expect(() => loadWorkerConfig({ ...base, TRAINYARD_KERNEL_THREADS: "0" })).toThrow(/TRAINYARD_KERNEL_THREADS/);
  });
});
