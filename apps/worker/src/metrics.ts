import { collectDefaultMetrics, Gauge, Histogram, Registry } from "prom-client";
import type { TrainerMemory, TrainingPace } from "./protocol.ts";

/** Seconds per training step: a tiny CPU LeNet step (~10 ms) to a large network on a slow device. */
const STEP_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
/** Seconds per epoch: a few thousand images on a CPU to ImageNet-sized epochs. */
const EPOCH_BUCKETS = [1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600, 7200];
/** Seconds to write an epoch's metrics, checkpoint and models: kilobytes to gigabytes. */
const CHECKPOINT_BUCKETS = [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120];

/**
 * A worker's Prometheus metrics. Series are labelled by device (`cpu:0`, `gpu:1`): bounded by the
 * slots, never by job. A slot's per-job series disappear when its job ends.
 */
export function createWorkerMetrics(options: { slots: number; busySlots: () => number }) {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });

  new Gauge({
    name: "trainyard_worker_slots",
    help: "The worker's training slots.",
    registers: [registry],
    collect() {
      this.set(options.slots);
    },
  });
  new Gauge({
    name: "trainyard_worker_slots_busy",
    help: "Slots with a job (a data-parallel job's extra slots included).",
    registers: [registry],
    collect() {
      this.set(options.busySlots());
    },
  });
  const imagesPerSecond = new Gauge({
    name: "trainyard_worker_images_per_second",
    help: "Training images per second of the job on the slot, over the last progress interval (~1 s).",
    labelNames: ["device"] as const,
    registers: [registry],
  });
  const trainerMemory = new Gauge({
    name: "trainyard_worker_trainer_memory_bytes",
    help: "Memory of the slot's training child: kind=host is its resident set, kind=device what the backend holds on the GPU (webgpu only).",
    labelNames: ["device", "kind"] as const,
    registers: [registry],
  });
  const stepSeconds = new Histogram({
    name: "trainyard_worker_step_seconds",
    help: "Wall-clock seconds per training step (the mean of each progress interval).",
    labelNames: ["device"] as const,
    buckets: STEP_BUCKETS,
    registers: [registry],
  });
  const epochSeconds = new Histogram({
    name: "trainyard_worker_epoch_seconds",
    help: "Seconds per training epoch, validation included, as the trainer reports it.",
    labelNames: ["device"] as const,
    buckets: EPOCH_BUCKETS,
    registers: [registry],
  });
  const checkpointWriteSeconds = new Histogram({
    name: "trainyard_worker_checkpoint_write_seconds",
    help: "Seconds to store an epoch's metrics row, checkpoint and models (one transaction, retries included).",
    labelNames: ["device"] as const,
    buckets: CHECKPOINT_BUCKETS,
    registers: [registry],
  });

  return {
    progress(device: string, pace: TrainingPace | null, memory: TrainerMemory) {
      if (pace) {
        imagesPerSecond.set({ device }, pace.imagesPerSecond);
        stepSeconds.observe({ device }, pace.stepSeconds);
      }
      trainerMemory.set({ device, kind: "host" }, memory.rssBytes);
      if (memory.deviceBytes !== null) trainerMemory.set({ device, kind: "device" }, memory.deviceBytes);
    },
    epoch(device: string, seconds: number) {
      epochSeconds.observe({ device }, seconds);
    },
    checkpointWritten(device: string, seconds: number) {
      checkpointWriteSeconds.observe({ device }, seconds);
    },
    /** The slot's job ended: its speed and its child's memory no longer describe anything. */
    jobEnded(device: string) {
      imagesPerSecond.remove({ device });
      trainerMemory.remove({ device, kind: "host" });
      trainerMemory.remove({ device, kind: "device" });
    },
    async render(): Promise<{ contentType: string; body: string }> {
      return { contentType: registry.contentType, body: await registry.metrics() };
    },
  };
}

export type WorkerMetrics = ReturnType<typeof createWorkerMetrics>;
