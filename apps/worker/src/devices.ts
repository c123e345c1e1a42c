import { execFileSync } from "node:child_process";

export interface Slot {
  /** "gpu:0" or "cpu:0": what the job records as its device. */
  device: string;
  /** The GPU index for CUDA_VISIBLE_DEVICES, or null for a CPU slot. */
  gpu: string | null;
}

/** GPU indices from TRAINYARD_GPUS, else from nvidia-smi, else none. */
export function detectGpus(configured: string | undefined): string[] {
  if (configured) return configured.split(",");
  try {
    const output = execFileSync("nvidia-smi", ["--query-gpu=index", "--format=csv,noheader"], { encoding: "utf8", timeout: 5000 });
    return output
      .split("\n")
      .map((line) => line.trim())
      .filter((line) => /^\d+$/.test(line));
  } catch {
    return [];
  }
}

/** One slot per GPU; without GPUs, the configured number of CPU slots. */
export function planSlots(gpus: string[], cpuSlots: number): Slot[] {
  if (gpus.length > 0) return gpus.map((gpu) => ({ device: `gpu:${gpu}`, gpu }));
  return Array.from({ length: cpuSlots }, (_, index) => ({ device: `cpu:${index}`, gpu: null }));
}
