import { afterEach, describe, expect, it } from "vitest";
import { freePort, waitFor } from "../helpers/processes.ts";
import { startStack, type Stack } from "../helpers/stack.ts";

/**
 * API and worker /metrics scraped during and after a short real job: the named series are there
 * and their values follow the job (slots busy 1 then 0, images/s above 0 while it trains, one
 * epoch and one checkpoint write per epoch).
 */
const EPOCHS = 2;
const JOB = {
  architecture: "lenet",
  dataset: { name: "fashion-mnist" },
  training: { epochs: EPOCHS, batchSize: 64, maxTrainSamples: 3000, seed: 3, optimizer: { type: "adam", learningRate: 0.005 } },
};

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** Prometheus text format → samples (comments skipped). */
function parseExposition(text: string): Sample[] {
  const samples: Sample[] = [];
  for (const line of text.split("\n")) {
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!match) continue;
    const labels = Object.fromEntries([...(match[2] ?? "").matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map((pair) => [pair[1], pair[2]]));
    samples.push({ name: match[1], labels, value: Number(match[3]) });
  }
  return samples;
}

async function scrape(url: string): Promise<Sample[]> {
  const response = await fetch(url);
  expect(response.status).toBe(200);
  expect(response.headers.get("content-type")).toContain("text/plain");
  return parseExposition(await response.text());
}

/** The one sample of `name` whose labels include `labels`, or undefined. */
function sample(samples: Sample[], name: string, labels: Record<string, string> = {}): number | undefined {
  return samples.find((s) => s.name === name && Object.entries(labels).every(([key, value]) => s.labels[key] === value))?.value;
}

let stack: Stack | null = null;
afterEach(async () => {
  await stack?.stop();
  stack = null;
});

describe("/metrics on the API and the worker", () => {
  it("names the series of a running job with sane values, and the worker's return to idle after it", async () => {
    const metricsPort = await freePort();
    const workerMetrics = `http://127.0.0.1:${metricsPort}/metrics`;
    const current = await startStack({ workers: 0 });
    stack = current;
    current.startWorker({ TRAINYARD_METRICS_PORT: String(metricsPort) });
    await current.waitForActiveWorker("the worker to start", 180_000);

    const idle = await scrape(workerMetrics);
    expect(sample(idle, "trainyard_worker_slots")).toBe(1);
    expect(sample(idle, "trainyard_worker_slots_busy")).toBe(0);
    expect(sample(idle, "process_resident_memory_bytes")).toBeGreaterThan(10e6);

    const id = await current.submit(JOB);
    // An open event stream counts on the API.
    const events = new AbortController();
    const stream = await fetch(`${current.baseUrl}/v1/jobs/${id}/events`, {
      headers: { authorization: `Bearer ${current.apiKey}` },
      signal: events.signal,
    });
    expect(stream.status).toBe(200);
    try {
      const training = await waitFor(
        "the worker to report images/s of the running job",
        async () => {
          const samples = await scrape(workerMetrics);
          return (sample(samples, "trainyard_worker_images_per_second", { device: "cpu:0" }) ?? 0) > 0 ? samples : null;
        },
        120_000,
        250,
      );
      expect(sample(training, "trainyard_worker_slots_busy")).toBe(1);
      expect(sample(training, "trainyard_worker_step_seconds_count", { device: "cpu:0" })).toBeGreaterThan(0);
      const stepSum = sample(training, "trainyard_worker_step_seconds_sum", { device: "cpu:0" })!;
      expect(stepSum / sample(training, "trainyard_worker_step_seconds_count", { device: "cpu:0" })!).toBeGreaterThan(0);
      expect(sample(training, "trainyard_worker_trainer_memory_bytes", { device: "cpu:0", kind: "host" })).toBeGreaterThan(50e6);
      // wasm keeps tensors in host memory: there is no device series to report.
      expect(sample(training, "trainyard_worker_trainer_memory_bytes", { device: "cpu:0", kind: "device" })).toBeUndefined();

      const api = await waitFor(
        "the API to count the running job",
        async () => {
          const samples = await scrape(`${current.baseUrl}/metrics`);
          return sample(samples, "trainyard_jobs", { status: "running" }) === 1 ? samples : null;
        },
        30_000,
        500,
      );
      expect(sample(api, "trainyard_queue_jobs", { state: "active" })).toBe(1);
      expect(sample(api, "trainyard_queue_jobs", { state: "waiting" })).toBe(0);
      expect(sample(api, "trainyard_event_streams")).toBe(1);
      const submitted = { method: "POST", route: "/v1/jobs", status_class: "2xx" };
      expect(sample(api, "trainyard_http_request_duration_seconds_count", submitted)).toBe(1);
      // Routes are labelled by pattern: the job's id never becomes a label value.
      expect(sample(api, "trainyard_http_request_duration_seconds_count", { route: "/v1/jobs/:id/events" })).toBeUndefined();
      expect(api.some((s) => Object.values(s.labels).some((value) => value.includes(id)))).toBe(false);
    } finally {
      events.abort();
    }

    await current.waitForJob(id, (job) => job.status === "succeeded", 180_000, "the job to succeed");
    const after = await waitFor(
      "the worker to report its slot free",
      async () => {
        const samples = await scrape(workerMetrics);
        return sample(samples, "trainyard_worker_slots_busy") === 0 ? samples : null;
      },
      10_000,
      250,
    );
    expect(sample(after, "trainyard_worker_images_per_second", { device: "cpu:0" })).toBeUndefined();
    expect(sample(after, "trainyard_worker_epoch_seconds_count", { device: "cpu:0" })).toBe(EPOCHS);
    expect(sample(after, "trainyard_worker_epoch_seconds_sum", { device: "cpu:0" })).toBeGreaterThan(0);
    expect(sample(after, "trainyard_worker_checkpoint_write_seconds_count", { device: "cpu:0" })).toBe(EPOCHS);
    expect(sample(after, "trainyard_worker_checkpoint_write_seconds_sum", { device: "cpu:0" })).toBeGreaterThan(0);

    const api = await waitFor(
      "the API to count the job as succeeded",
      async () => {
        const samples = await scrape(`${current.baseUrl}/metrics`);
        return sample(samples, "trainyard_jobs", { status: "succeeded" }) === 1 ? samples : null;
      },
      30_000,
      500,
    );
    expect(sample(api, "trainyard_jobs", { status: "running" })).toBe(0);
    expect(sample(api, "trainyard_event_streams")).toBe(0);
    // The stream's whole life is one observation of its route, once it ended.
    expect(sample(api, "trainyard_http_request_duration_seconds_count", { route: "/v1/jobs/:id/events" })).toBe(1);
    const notFound = await fetch(`${current.baseUrl}/no/such/${id}`);
    expect(notFound.status).toBe(404);
    const unmatched = await scrape(`${current.baseUrl}/metrics`);
    expect(sample(unmatched, "trainyard_http_request_duration_seconds_count", { route: "unmatched", status_class: "4xx" })).toBe(1);
    expect(unmatched.some((s) => Object.values(s.labels).some((value) => value.includes(id)))).toBe(false);
  }, 300_000);
});
