import { afterEach, describe, expect, it } from "vitest";
import { createWorkerMetrics } from "../src/metrics.ts";
import { startMetricsServer } from "../src/metricsServer.ts";

let close: (() => Promise<void>) | null = null;
afterEach(async () => {
  await close?.();
  close = null;
});

/** The value of one exposition line `name{labels} value` (labels as printed), or undefined. */
function value(text: string, series: string): number | undefined {
  const line = text.split("\n").find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

describe("the worker's /metrics server", () => {
  it("serves slots, the running job's pace and memory, epoch and checkpoint times, and forgets a job's series when it ends", async () => {
    let busy = 1;
    const metrics = createWorkerMetrics({ slots: 2, busySlots: () => busy });
    const server = await startMetricsServer(metrics, 0);
    close = server.close;
    const url = `http://127.0.0.1:${server.port}/metrics`;

    metrics.progress("cpu:0", null, { rssBytes: 300e6, deviceBytes: null });
    metrics.progress("cpu:0", { stepSeconds: 0.08, imagesPerSecond: 800 }, { rssBytes: 310e6, deviceBytes: null });
    metrics.progress("gpu:0", { stepSeconds: 0.02, imagesPerSecond: 3200 }, { rssBytes: 500e6, deviceBytes: 2e9 });
    metrics.checkpointWritten("cpu:0", 0.3);
    metrics.epoch("cpu:0", 12);

    const response = await fetch(url);
    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toMatch(/^text\/plain; version=0\.0\.4/);
    const during = await response.text();
    expect(value(during, "trainyard_worker_slots")).toBe(2);
    expect(value(during, "trainyard_worker_slots_busy")).toBe(1);
    expect(value(during, 'trainyard_worker_images_per_second{device="cpu:0"}')).toBe(800);
    expect(value(during, 'trainyard_worker_step_seconds_count{device="cpu:0"}')).toBe(1);
    expect(value(during, 'trainyard_worker_step_seconds_sum{device="cpu:0"}')).toBeCloseTo(0.08);
    expect(value(during, 'trainyard_worker_trainer_memory_bytes{device="cpu:0",kind="host"}')).toBe(310e6);
    expect(value(during, 'trainyard_worker_trainer_memory_bytes{device="cpu:0",kind="device"}')).toBeUndefined();
    expect(value(during, 'trainyard_worker_trainer_memory_bytes{device="gpu:0",kind="device"}')).toBe(2e9);
    expect(value(during, 'trainyard_worker_epoch_seconds_bucket{le="15",device="cpu:0"}')).toBe(1);
    expect(value(during, 'trainyard_worker_checkpoint_write_seconds_count{device="cpu:0"}')).toBe(1);
    expect(value(during, "process_resident_memory_bytes")).toBeGreaterThan(10e6);

    busy = 0;
    metrics.jobEnded("cpu:0");
    const after = await (await fetch(url)).text();
    expect(value(after, "trainyard_worker_slots_busy")).toBe(0);
    expect(value(after, 'trainyard_worker_images_per_second{device="cpu:0"}')).toBeUndefined();
    expect(value(after, 'trainyard_worker_trainer_memory_bytes{device="cpu:0",kind="host"}')).toBeUndefined();
    expect(value(after, 'trainyard_worker_images_per_second{device="gpu:0"}')).toBe(3200);
    // Histograms keep their history: an epoch's time stays counted after its job.
    expect(value(after, 'trainyard_worker_epoch_seconds_count{device="cpu:0"}')).toBe(1);

    expect((await fetch(`http://127.0.0.1:${server.port}/other`)).status).toBe(404);
  });
});
